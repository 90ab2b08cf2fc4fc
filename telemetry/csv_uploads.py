"""Uploaded CSV files waiting for (or going through) an import, and the import itself.

An upload is two files under DATA_DIR/uploads: ``<id>.csv`` (the bytes as sent) and ``<id>.json`` (its state:
owner organization, mapping, progress, result). The id is random, so it is not guessable; the state names its
organization, so another organization's request answers 404. Files rather than a model: the worker writes
progress many times during an import and the page only reads it back.

Public API
    save_upload(organization, user, uploaded_file, max_bytes) -> state      raises TooLarge
    load(upload_id, organization) -> state                                   raises LookupError (unknown or foreign)
    csv_path(upload_id), save_state(state)
    mapping_from_state(state) / mapping_to_dict(mapping)
    run_import(upload_id, organization_id, *, chunksize) -> state            reads, ingests chunk by chunk
    remove_expired(now, days) -> count                                       retention of finished uploads
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import asdict

from django.conf import settings
from django.utils import timezone

from .collectors.csv_import import Mapping, MetricColumn, read
from .ingest import IngestResult, ingest
from .models import CollectorRun, Organization, Source
from .sources import record_failure, record_success

CSV_SOURCE_NAME = "CSV import"
ERRORS_KEPT = 50  # the page shows the first ones; the counts cover all
_ID = re.compile(r"^[A-Za-z0-9_-]{20,40}$")
IN_PROGRESS = ("queued", "running")  # kept whatever their age; "uploaded" but never confirmed is abandoned


class TooLarge(ValueError):
    pass


def upload_dir():
    folder = settings.DATA_DIR / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def csv_path(upload_id):
    return upload_dir() / f"{upload_id}.csv"


def _state_path(upload_id):
    return upload_dir() / f"{upload_id}.json"


def save_state(state):
    # Write then rename: the polling page never reads a half-written file.
    path = _state_path(state["id"])
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, default=str))
    os.replace(tmp, path)


def load(upload_id, organization):
    if not _ID.match(upload_id or ""):
        raise LookupError(upload_id)
    try:
        state = json.loads(_state_path(upload_id).read_text())
    except FileNotFoundError:
        raise LookupError(upload_id) from None
    if state["organization_id"] != organization.pk:
        raise LookupError(upload_id)
    return state


def save_upload(organization, user, uploaded_file, max_bytes):
    """Stream the upload to disk (never whole in memory); over ``max_bytes`` the partial file is removed."""
    upload_id = secrets.token_urlsafe(18)
    path = csv_path(upload_id)
    size = 0
    with open(path, "wb") as out:
        for piece in uploaded_file.chunks():
            size += len(piece)
            if size > max_bytes:
                break
            out.write(piece)
    if size > max_bytes:
        path.unlink(missing_ok=True)
        raise TooLarge(f"{uploaded_file.name} is larger than the limit of {max_bytes / 1e6:.0f} MB")
    state = {
        "id": upload_id,
        "organization_id": organization.pk,
        "user_id": user.pk,
        "filename": os.path.basename(uploaded_file.name)[:200],
        "size": size,
        "created": timezone.now().isoformat(),
        "status": "uploaded",
        "mapping": None,
    }
    save_state(state)
    return state


def mapping_to_dict(mapping):
    return asdict(mapping)


def mapping_from_state(state):
    data = dict(state["mapping"])
    data["metrics"] = {column: MetricColumn(**spec) for column, spec in data["metrics"].items()}
    return Mapping(**data)


def csv_source(organization):
    """The organization's "CSV import" source; CSV files name BMS points that are often not in the inventory,
    so it registers unknown non-GPU entities (GPUs must still exist)."""
    source, _ = Source.objects.get_or_create(
        organization=organization,
        name=CSV_SOURCE_NAME,
        defaults={
            "kind": Source.Kind.CSV,
            "unknown_device": Source.UnknownDevice.AUTO_REGISTER,
            "enabled": False,  # nothing to collect on a schedule: imports run on upload
        },
    )
    return source


def _ingest_errors(batch, result):
    # Ingest names the reading, not the file line: say which reading so the user can find it.
    found = []
    for e in result.errors:
        readings = getattr(batch, e["item"], None)
        reading = readings[e["index"]] if readings is not None and e["index"] < len(readings) else None
        where = f"{getattr(reading, 'entity', getattr(reading, 'gpu_uuid', ''))} at {getattr(reading, 'ts', '')}"
        found.append({"row": None, "column": e["field"], "message": f"{where}: {e['message']}"})
    return found


def run_import(upload_id, organization_id, *, chunksize=50_000):
    """Import an upload with its saved mapping. Each chunk is ingested (and committed) on its own, so a failure
    later in the file keeps what was already accepted; the state records progress after every chunk."""
    state = json.loads(_state_path(upload_id).read_text())
    if state["organization_id"] != organization_id:
        raise LookupError(upload_id)
    source = csv_source(Organization.objects.get(pk=organization_id))
    now = timezone.now()
    run = CollectorRun.objects.create(source=source, started=now)
    total = IngestResult()
    errors = []
    cell_errors = 0
    state.update(status="running", run_id=run.pk, source_id=source.pk, rows_done=0, bytes_done=0)
    state.update(bytes_total=state["size"], accepted=0, duplicate=0, rejected=0, errors=[], error="")
    save_state(state)

    def progress(rows_done, bytes_done, bytes_total):
        state.update(rows_done=rows_done, bytes_done=bytes_done, bytes_total=bytes_total or state["size"])
        state.update(accepted=total.accepted, duplicate=total.duplicate, rejected=total.rejected + cell_errors)
        state["errors"] = errors[:ERRORS_KEPT]
        save_state(state)

    try:
        for chunk in read(csv_path(upload_id), mapping_from_state(state), chunksize=chunksize, progress=progress):
            result = ingest(source, chunk.batch, now=timezone.now())
            total.accepted += result.accepted
            total.duplicate += result.duplicate
            total.rejected += result.rejected
            cell_errors += len(chunk.errors)
            if len(errors) < ERRORS_KEPT:
                errors.extend({"row": e.line, "column": e.column, "message": e.message} for e in chunk.errors)
                errors.extend(_ingest_errors(chunk.batch, result))
    except Exception as exc:
        message = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        record_failure(source, _counted(run, total, cell_errors), message, now=timezone.now())
        state.update(status="failed", error=message)
        progress(state.get("rows_done", 0), state.get("bytes_done", 0), state["bytes_total"])
        raise
    summary = IngestResult(total.accepted, total.duplicate, total.rejected + cell_errors)
    summary.errors = [
        {"item": "row", "index": e["row"] or 0, "field": e["column"], "message": e["message"]} for e in errors[:20]
    ]
    record_success(source, run, summary, now=timezone.now())
    state["status"] = "done"
    progress(state.get("rows_done", 0), state["bytes_total"], state["bytes_total"])
    return state


def _counted(run, total, cell_errors):
    run.accepted, run.duplicate, run.rejected = total.accepted, total.duplicate, total.rejected + cell_errors
    return run


def remove_expired(*, now, days):
    """Delete the uploads (CSV and state) last touched more than `days` ago, except imports queued or running,
    and stray files of that age (a CSV whose state was never written, a temporary state). Returns how many
    uploads went."""
    cutoff = now.timestamp() - days * 86400
    removed = 0
    for path in upload_dir().iterdir():
        try:
            if path.stat().st_mtime >= cutoff:
                continue
            if path.suffix == ".json":
                if _status(path) in IN_PROGRESS:
                    continue
                path.with_suffix(".csv").unlink(missing_ok=True)
                removed += 1
            elif path.suffix == ".csv" and path.with_suffix(".json").exists():
                continue  # goes with its state
            path.unlink()
        except FileNotFoundError:
            continue  # removed meanwhile by a concurrent run
    return removed


def _status(state_path):
    try:
        return json.loads(state_path.read_text()).get("status")
    except ValueError:
        return None  # unreadable: nothing can resume it
