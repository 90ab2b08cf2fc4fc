"""The one write path for telemetry: validate -> resolve GPUs and series -> write, without duplicates.

Every collector and the push API call `ingest`. The valid part of a batch is stored and each invalid item
is reported with where and why; an item is written whole or not at all. On PostgreSQL rows go by binary
COPY into a session-local staging table, then `INSERT ... SELECT ... ON CONFLICT DO NOTHING` into the
partitioned table (so a re-sent batch adds nothing and the duplicates are counted); other databases use
bulk_create(ignore_conflicts=True).

Unknown devices: a GPU UUID that is not in the organization's inventory is always rejected (a GPU needs
a node to be placed in a hall; add it to the inventory, or let the collector map it). Non-GPU entities
(nodes, racks, PDUs, cooling units, halls, sites) are accepted when a series for them exists or the
inventory knows the name; under the source's `auto_register` policy unknown entities get a new series.
"""

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import partitions
from .models import CoolingUnit, Event, Gpu, GpuSample, Hall, Node, Organization, Pdu, Rack, Sample, Series, Source
from .models.samples import INTEGER_METRICS
from .validation import MAX_FUTURE, RULES, event_problems, gpu_reading_problems, point_reading_problems
from .vocabulary import GPU_METRICS, POINT_METRICS

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

    uuids = {r.gpu_uuid for r in batch.gpu_readings} | {e.gpu_uuid for e in batch.events if e.gpu_uuid}
    gpu_ids = _gpu_ids(organization, uuids)
    gpu_rows = _gpu_rows(batch.gpu_readings, gpu_ids, now, oldest, result)
    sample_rows = _sample_rows(organization, batch.point_readings, auto_register, now, oldest, result)
    events = _events(
        organization, target if isinstance(target, Source) else None, batch.events, gpu_ids, now, oldest, result
    )

    with transaction.atomic():
        days = _days(gpu_rows, sample_rows)
        partitions.ensure_partitions(days)
        for model, columns, types, rows in (
            (GpuSample, GPU_COLUMNS, GPU_COPY_TYPES, gpu_rows),
            (Sample, SAMPLE_COLUMNS, SAMPLE_COPY_TYPES, sample_rows),
        ):
            if rows:
                inserted = _write(model, columns, types, rows)
                result.accepted += inserted
                result.duplicate += len(rows) - inserted
        if events:
            inserted = _write_events(organization, events)
            result.accepted += inserted
            result.duplicate += len(events) - inserted
    return result


def _gpu_ids(organization, uuids):
    if not uuids:
        return {}
    return dict(Gpu.objects.for_org(organization).filter(uuid__in=uuids).values_list("uuid", "id"))


def _gpu_rows(readings, gpu_ids, now, oldest, result):
    """COPY rows of the valid readings. The common case (numbers in range, aware timestamp, known GPU)
    is checked inline per value; anything else goes through validation's full rules for the messages."""
    rows = []
    position = {m: i for i, m in enumerate(GPU_METRICS, start=2)}
    bounds = {m: (RULES[m][0], min(RULES[m][1], sys.float_info.max), m in INTEGER_METRICS) for m in GPU_METRICS}
    latest = now + MAX_FUTURE
    width = len(GPU_COLUMNS)
    for index, reading in enumerate(readings):
        gpu_id, ts, values = gpu_ids.get(reading.gpu_uuid), reading.ts, reading.values
        row = None
        if gpu_id is not None and type(ts) is datetime and ts.tzinfo is not None and oldest <= ts <= latest:
            row = [None] * width
            row[0], row[1] = gpu_id, ts
            for metric, value in values.items() if type(values) is dict and values else ((None, None),):
                rule = bounds.get(metric)
                kind = type(value)
                if rule is None or not (kind is float or kind is int) or not rule[0] <= value <= rule[1]:
                    row = None
                    break
                if rule[2]:
                    if kind is float:
                        if not value.is_integer():
                            row = None
                            break
                        value = int(value)
                row[position[metric]] = value
        if row is not None:
            rows.append(row)
            continue
        problems = gpu_reading_problems(reading, now, oldest)
        if gpu_id is None and not any(f == "gpu_uuid" for f, _ in problems):
            problems.append(("gpu_uuid", f"unknown GPU {reading.gpu_uuid}: add it to this organization's inventory"))
        result.reject("gpu_readings", index, problems or [("values", "invalid reading")])
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


def _days(*row_lists):
    """UTC days the rows fall on (from the earliest to the latest; a batch spans minutes, rarely days)."""
    stamps = [row[1] for rows in row_lists if rows for row in (min(rows, key=_ts), max(rows, key=_ts))]
    if not stamps:
        return []
    first, last = min(stamps).astimezone(UTC).date(), max(stamps).astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _ts(row):
    return row[1]


def _write(model, columns, types, rows):
    """Write rows (tuples in `columns` order); returns how many were new."""
    if connection.vendor == "postgresql":
        return copy_insert(model._meta.db_table, columns, types, rows)
    return _bulk_insert(model, columns, rows)


def copy_insert(table, columns, types, rows):
    """Binary COPY into a session temp table, then insert what is not there yet; returns rows inserted."""
    stage = f"hr_stage_{table}"
    column_list = ", ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS")
        cursor.execute(f"TRUNCATE {stage}")  # an outer transaction may have staged rows already
        with cursor.cursor.copy(f"COPY {stage} ({column_list}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} ON CONFLICT DO NOTHING")
        return cursor.rowcount


def _bulk_insert(model, columns, rows):
    entity = columns[0]
    keys = {row[0] for row in rows}
    span = {"ts__gte": min(r[1] for r in rows), "ts__lte": max(r[1] for r in rows)}
    existing = model.objects.filter(**{f"{entity}__in": keys}, **span)
    before = existing.count()
    model.objects.bulk_create([model(**dict(zip(columns, row, strict=True))) for row in rows], ignore_conflicts=True)
    return existing.count() - before
