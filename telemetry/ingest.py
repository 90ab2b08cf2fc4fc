"""The one write path for telemetry: validate -> resolve GPUs and series -> write, without duplicates.

Every collector and the push API call `ingest`. The valid part of a batch is stored and each invalid item
is reported with where and why; an item is written whole or not at all. On PostgreSQL rows go by one binary
COPY straight into the partitioned table; a batch holding rows already stored (a re-send) goes through a
staging table and `INSERT ... ON CONFLICT DO NOTHING` instead, so it adds nothing and the duplicates are
counted (see copy_insert). Other databases use bulk_create(ignore_conflicts=True).

Unknown devices: a GPU UUID that is not in the organization's inventory is always rejected (a GPU needs
a node to be placed in a hall; add it to the inventory, or let the collector map it). Non-GPU entities
(nodes, racks, PDUs, cooling units, halls, sites) are accepted when a series for them exists or the
inventory knows the name; under the source's `auto_register` policy unknown entities get a new series.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import repeat

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import partitions, pgcopy
from .models import CoolingUnit, Event, Gpu, GpuSample, Hall, Node, Organization, Pdu, Rack, Sample, Series, Source
from .models.samples import INTEGER_METRICS
from .validation import (
    event_problems,
    gpu_reading_problems,
    gpu_value_columns,
    point_reading_problems,
    timestamp_column,
    unix_micros,
)
from .vocabulary import GPU_METRICS, POINT_METRICS, GpuReading

GPU_COLUMNS = ("gpu_id", "ts", *GPU_METRICS)
# Binary COPY needs each column's exact type.
_PG_TYPES = {"RealField": "float4", "FloatField": "float8", "BigIntegerField": "int8", "IntegerField": "int4"}
GPU_COPY_TYPES = [
    "int8",
    "timestamptz",
    *(_PG_TYPES.get(type(GpuSample._meta.get_field(m)).__name__, "int2") for m in GPU_METRICS),
]
SAMPLE_COLUMNS = ("series_id", "ts", "value")
SAMPLE_COPY_TYPES = ["int8", "timestamptz", "float8"]
# GPU readings are validated and encoded in pieces of this many, each sent as soon as it is ready: the
# server stores one piece while Python checks the next (two cores at work instead of one after the other).
GPU_PIECE = 2000


@dataclass
class IngestResult:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    errors: list = field(default_factory=list)  # [{"item", "index", "field", "message"}]

    def reject(self, item, index, problems):
        self.rejected += 1
        self.errors.extend({"item": item, "index": index, "field": f, "message": m} for f, m in problems)

    def as_dict(self):
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "errors": self.errors,
        }


def raw_retention():
    return timedelta(days=settings.TELEMETRY_RETENTION_DAYS["raw"])


def ingest(target, batch, *, now=None):
    """Store a Batch for a Source (its organization and unknown-device policy) or an Organization
    (policy: reject). Returns IngestResult(accepted, duplicate, rejected, errors)."""
    if isinstance(target, Source):
        organization, auto_register = target.organization, target.unknown_device == Source.UnknownDevice.AUTO_REGISTER
    elif isinstance(target, Organization):
        organization, auto_register = target, False
    else:
        raise TypeError(f"ingest needs a Source or an Organization, got {type(target).__name__}")
    now = now or timezone.now()
    oldest = now - raw_retention()
    result = IngestResult()

    gpu_readings = GpuReadingColumns.of(batch.gpu_readings)
    uuids = {u for u in gpu_readings.uuids if type(u) is str} | {e.gpu_uuid for e in batch.events if e.gpu_uuid}
    gpu_ids = _gpu_ids(organization, uuids)
    gpu_result = IngestResult()  # filled while the pieces are written; its errors come first, as sent
    gpu_pieces = Pieces(
        _gpu_rows(gpu_readings.part(start, start + GPU_PIECE), gpu_ids, now, oldest, gpu_result, offset=start)
        for start in range(0, len(gpu_readings), GPU_PIECE)
    )
    sample_rows = _sample_rows(organization, batch.point_readings, auto_register, now, oldest, result)
    events = _events(
        organization, target if isinstance(target, Source) else None, batch.events, gpu_ids, now, oldest, result
    )

    with transaction.atomic():
        if len(gpu_readings):
            written, inserted = _write_gpu(gpu_pieces)
            result.accepted += inserted
            result.duplicate += written - inserted
        if sample_rows:
            inserted = _write(Sample, SAMPLE_COLUMNS, SAMPLE_COPY_TYPES, sample_rows)
            result.accepted += inserted
            result.duplicate += len(sample_rows) - inserted
        if events:
            inserted = _write_events(organization, events)
            result.accepted += inserted
            result.duplicate += len(events) - inserted
    result.rejected += gpu_result.rejected + len(batch.rejected)
    result.errors[:0] = gpu_result.errors
    result.errors.extend(batch.rejected)
    return result


def _gpu_ids(organization, uuids):
    if not uuids:
        return {}
    return dict(Gpu.objects.for_org(organization).filter(uuid__in=uuids).values_list("uuid", "id"))


class GpuReadingColumns:
    """GPU readings as three parallel lists (UUIDs, timestamps, values dicts), for a caller that has them
    column-wise already (the push API): ingest takes it in place of a list of GpuReading, without building
    an object per reading. Indexing gives a GpuReading."""

    def __init__(self, uuids, stamps, values):
        self.uuids, self.stamps, self.values = uuids, stamps, values

    @classmethod
    def of(cls, readings):
        if isinstance(readings, cls):
            return readings
        return cls([r.gpu_uuid for r in readings], [r.ts for r in readings], [r.values for r in readings])

    def __len__(self):
        return len(self.uuids)

    def __getitem__(self, index):
        return GpuReading(self.uuids[index], self.stamps[index], self.values[index])

    def part(self, start, stop):
        return GpuReadingColumns(self.uuids[start:stop], self.stamps[start:stop], self.values[start:stop])


class Pieces:
    """The items of an iterator, made once as they are first asked for and kept, so that a write that has to
    start over (a re-sent batch, a missing partition) sends the same pieces again without redoing them."""

    def __init__(self, items):
        self._items, self._made = iter(items), []

    def __iter__(self):
        yield from self._made
        for item in self._items:
            self._made.append(item)
            yield item


class GpuRows:
    """Valid GPU readings as columns: GPU ids, Unix microseconds, and per metric its values and where present."""

    def __init__(self, ids, micros, values, present):
        self.ids, self.micros, self.values, self.present = ids, micros, values, present

    def __len__(self):
        return len(self.ids)

    def select(self, rows):
        return GpuRows(
            self.ids[rows],
            self.micros[rows],
            {m: v[rows] for m, v in self.values.items()},
            {m: p[rows] for m, p in self.present.items()},
        )

    @classmethod
    def concat(cls, parts):
        parts = [p for p in parts if len(p)]
        metrics = {m for p in parts for m in p.values}
        return cls(
            np.concatenate([p.ids for p in parts]),
            np.concatenate([p.micros for p in parts]),
            {m: np.concatenate([p.column(m)[0] for p in parts]) for m in metrics},
            {m: np.concatenate([p.column(m)[1] for p in parts]) for m in metrics},
        )

    def column(self, metric):
        """(values, present) of a metric; a metric no reading has is all NULL."""
        if metric in self.values:
            return self.values[metric], self.present[metric]
        return np.zeros(len(self), GPU_DTYPES[metric]), np.zeros(len(self), bool)

    def copy_tuples(self):
        """The rows as COPY BINARY tuples in GPU_COLUMNS order (telemetry.pgcopy.tuples)."""
        columns, present = [self.ids, self.micros - pgcopy.PG_EPOCH_US], [None, None]
        for metric in GPU_METRICS:
            values, mask = self.column(metric)
            columns.append(values)
            present.append(mask)
        return pgcopy.tuples(GPU_COPY_TYPES, columns, present)

    def tuples(self):
        """The rows as tuples in GPU_COLUMNS order (None where NULL), for databases without COPY."""
        stamps = [UNIX_EPOCH + timedelta(microseconds=us) for us in self.micros.tolist()]
        columns = [self.ids.tolist(), stamps]
        for metric in GPU_METRICS:
            values, mask = self.column(metric)
            columns.append([v if p else None for v, p in zip(values.tolist(), mask.tolist(), strict=True)])
        return list(zip(*columns, strict=True))


GPU_DTYPES = {m: np.int64 if m in INTEGER_METRICS else np.float64 for m in GPU_METRICS}
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _gpu_rows(readings, gpu_ids, now, oldest, result, offset=0):
    """The valid readings (GpuReadingColumns) as GpuRows. The batch is checked per column with numpy
    (validation.gpu_value_columns); a reading that is not certainly valid there goes through the full
    per-reading rules, which give the messages and convert exactly what they accept. `offset`: the index
    of readings[0] in the batch, for the errors."""
    n = len(readings)
    try:  # one C-level pass; a UUID that is not a string (a list from JSON: unhashable) takes the slow one
        ids = np.fromiter(map(gpu_ids.get, readings.uuids, repeat(-1, n)), np.int64, n)
    except TypeError:
        ids = np.fromiter((gpu_ids.get(u, -1) if type(u) is str else -1 for u in readings.uuids), np.int64, n)
    micros, ok = timestamp_column(readings.stamps, now, oldest)
    values, present, good = gpu_value_columns(readings.values, GPU_DTYPES)
    ok &= good & (ids >= 0)
    checked = []  # (gpu id, micros, values) of readings that passed the per-reading rules
    for index in np.flatnonzero(~ok).tolist():
        reading = readings[index]
        problems = gpu_reading_problems(reading, now, oldest)
        if ids[index] < 0 and not any(f == "gpu_uuid" for f, _ in problems):
            problems.append(("gpu_uuid", f"unknown GPU {reading.gpu_uuid}: add it to this organization's inventory"))
        if problems:
            result.reject("gpu_readings", offset + index, problems)
        else:
            exact = {m: int(v) if m in INTEGER_METRICS else float(v) for m, v in reading.values.items()}
            checked.append((int(ids[index]), unix_micros(reading.ts), exact))
    rows = GpuRows(ids, micros, values, present).select(ok)
    if checked:
        metrics = {m for _, _, v in checked for m in v}
        rows = GpuRows.concat(
            [
                rows,
                GpuRows(
                    np.array([c[0] for c in checked], np.int64),
                    np.array([c[1] for c in checked], np.int64),
                    {m: np.array([v.get(m, 0) for _, _, v in checked], GPU_DTYPES[m]) for m in metrics},
                    {m: np.array([m in v for _, _, v in checked], bool) for m in metrics},
                ),
            ]
        )
    return rows


def _sample_rows(organization, readings, auto_register, now, oldest, result):
    valid = []
    for index, reading in enumerate(readings):
        problems = point_reading_problems(reading, now, oldest)
        if problems:
            result.reject("point_readings", index, problems)
        else:
            valid.append((index, reading))
    if not valid:
        return []
    series = resolve_series(organization, {(r.entity_kind, r.entity, r.metric) for _, r in valid}, auto_register)
    rows = []
    for index, reading in valid:
        series_id = series.get((reading.entity_kind, reading.entity, reading.metric))
        if series_id is None:
            message = (
                f"unknown {reading.entity_kind} {reading.entity!r}: not in the inventory and the source does not "
                "auto-register devices"
            )
            result.reject("point_readings", index, [("entity", message)])
        else:
            rows.append((series_id, reading.ts, float(reading.value)))
    return rows


# Where the inventory keeps each entity kind's name, and the path from it to its hall.
_INVENTORY = {
    "node": (Node, "hostname", "rack__hall_id"),
    "rack": (Rack, "name", "hall_id"),
    "pdu": (Pdu, "name", "rack__hall_id"),
    "cooling": (CoolingUnit, "name", "hall_id"),
    "hall": (Hall, "name", "id"),
}


def resolve_series(organization, keys, auto_register):
    """{(entity_kind, entity, metric): series id} for the keys that exist or may be created."""
    found = _existing_series(organization, keys)
    missing = keys - found.keys()
    if not missing:
        return found
    known = {}  # (kind, name) -> hall id or None, for entities the inventory has
    for kind in {k for k, _, _ in missing}:
        names = {e for k, e, _ in missing if k == kind}
        if kind == "site":
            known.update(
                ((kind, n), None) for n in organization.sites.filter(name__in=names).values_list("name", flat=True)
            )
        elif kind in _INVENTORY:
            model, name_field, hall_path = _INVENTORY[kind]
            rows = model.objects.for_org(organization).filter(**{f"{name_field}__in": names})
            known.update(((kind, n), hall) for n, hall in rows.values_list(name_field, hall_path))
    creatable = [k for k in missing if auto_register or (k[0], k[1]) in known]
    if creatable:
        Series.objects.bulk_create(
            [
                Series(
                    organization=organization,
                    entity_kind=kind,
                    entity=entity,
                    metric=metric,
                    unit=POINT_METRICS[metric].unit,
                    hall_id=known.get((kind, entity)),
                )
                for kind, entity, metric in creatable
            ],
            ignore_conflicts=True,  # another ingest may have created it a moment ago
        )
        found.update(_existing_series(organization, set(creatable)))
    return found


def _existing_series(organization, keys):
    if not keys:
        return {}
    rows = Series.objects.filter(
        organization=organization,
        entity__in={e for _, e, _ in keys},
        metric__in={m for _, _, m in keys},
    ).values_list("entity_kind", "entity", "metric", "id")
    return {(k, e, m): i for k, e, m, i in rows if (k, e, m) in keys}


def _events(organization, source, readings, gpu_ids, now, oldest, result):
    events = {}
    for index, reading in enumerate(readings):
        problems = event_problems(reading, now, oldest)
        gpu_id = gpu_ids.get(reading.gpu_uuid) if reading.gpu_uuid else None
        if reading.gpu_uuid and gpu_id is None:
            problems.append(("gpu_uuid", f"unknown GPU {reading.gpu_uuid}: add it to this organization's inventory"))
        if problems:
            result.reject("events", index, problems)
            continue
        key = Event.make_key(reading.kind, reading.ts, reading.gpu_uuid, reading.entity, reading.code)
        if key in events:
            result.duplicate += 1
            continue
        events[key] = Event(
            organization=organization,
            source=source,
            gpu_id=gpu_id,
            entity=reading.entity or "",
            kind=reading.kind,
            code=reading.code,
            ts=reading.ts,
            detail=str(reading.detail or "")[:2000],
            key=key,
        )
    return list(events.values())


def _write_events(organization, events):
    existing = set(
        Event.objects.filter(organization=organization, key__in=[e.key for e in events]).values_list("key", flat=True)
    )
    fresh = [e for e in events if e.key not in existing]
    Event.objects.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


def _days(first, last):
    """UTC days from the earliest to the latest timestamp (a batch spans minutes, rarely days)."""
    first, last = first.astimezone(UTC).date(), last.astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _write_gpu(pieces):
    """Write GpuRows pieces; returns (rows written, rows new)."""
    if connection.vendor != "postgresql":
        parts = [rows for rows in pieces if len(rows)]
        if not parts:
            return 0, 0
        rows = GpuRows.concat(parts)
        return len(rows), _bulk_insert(GpuSample, GPU_COLUMNS, rows.tuples())
    encoded = Pieces((rows, rows.copy_tuples()) for rows in pieces)

    def days():
        micros = [f(rows.micros) for rows, _ in encoded if len(rows) for f in (np.min, np.max)]
        return _days(*(UNIX_EPOCH + timedelta(microseconds=int(f(micros))) for f in (min, max))) if micros else []

    inserted = copy_insert(
        GpuSample._meta.db_table, GPU_COLUMNS, GPU_COPY_TYPES, pieces=lambda: (data for _, data in encoded), days=days
    )
    return sum(len(rows) for rows, _ in encoded), inserted


def _write(model, columns, types, rows):
    """Write rows (tuples in `columns` order, the timestamp second); returns how many were new."""
    if connection.vendor == "postgresql":

        def days():  # only asked when a partition is missing
            stamps = [row[1] for row in rows]
            return _days(min(stamps), max(stamps))

        return copy_insert(model._meta.db_table, columns, types, rows, days=days)
    return _bulk_insert(model, columns, rows)


def copy_insert(table, columns, types, rows=(), *, pieces=None, days=None):
    """Write rows that may already be stored (a re-sent batch); returns how many were new.

    Rows are tuples in `columns` order; `pieces` instead is a function giving COPY BINARY tuples
    (telemetry.pgcopy.tuples) piece by piece, each sent as it comes; called again when the COPY starts over.
    First one binary COPY straight into the table, in a savepoint: for a batch of new rows, the common case,
    that is all it costs. A row already there (or twice in the batch) aborts it with a unique violation, the
    savepoint undoes it, and the batch goes the careful way: COPY into a session temp table, then
    `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, which costs about three times as much. (An aborted COPY
    leaves the rows it got to as dead tuples for autovacuum; a re-send usually aborts on its first row.)
    A row for a day without a partition aborts it too: then `days()` (the rows' UTC days) are created and
    the COPY runs again, so the ingest path asks the catalog nothing while the partitions exist."""
    column_list = ", ".join(columns)
    try:
        return _copy_in_savepoint(table, column_list, types, rows, pieces)
    except psycopg.errors.UniqueViolation:
        pass
    except psycopg.errors.CheckViolation:  # "no partition of relation ... found for row"
        if days is None or not partitions.ensure_partitions(days()):
            raise
        try:
            return _copy_in_savepoint(table, column_list, types, rows, pieces)
        except psycopg.errors.UniqueViolation:
            pass
    stage = f"hr_stage_{table}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS")
        cursor.execute(f"TRUNCATE {stage}")  # an outer transaction may have staged rows already
        _copy(cursor, stage, column_list, types, rows, pieces)
        cursor.execute(f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} ON CONFLICT DO NOTHING")
        return cursor.rowcount


def _copy_in_savepoint(table, column_list, types, rows, pieces):
    with transaction.atomic(), connection.cursor() as cursor:
        _copy(cursor, table, column_list, types, rows, pieces)
        return cursor.cursor.rowcount  # COPY's own count of the rows it wrote


def _copy(cursor, table, column_list, types, rows, pieces):
    with cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN (FORMAT BINARY)") as copy:
        if pieces is not None:
            copy.write(pgcopy.SIGNATURE)
            for data in pieces():
                copy.write(data)
            copy.write(pgcopy.TRAILER)
        else:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def _bulk_insert(model, columns, rows):
    entity = columns[0]
    keys = {row[0] for row in rows}
    span = {"ts__gte": min(r[1] for r in rows), "ts__lte": max(r[1] for r in rows)}
    existing = model.objects.filter(**{f"{entity}__in": keys}, **span)
    before = existing.count()
    model.objects.bulk_create([model(**dict(zip(columns, row, strict=True))) for row in rows], ignore_conflicts=True)
    return existing.count() - before
