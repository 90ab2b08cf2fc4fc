"""Readings of everything but GPUs (nodes, racks, PDUs, cooling, halls, sites): each resolved to its
Series, created on first sight where the inventory knows the entity or the source auto-registers."""

from ..models import CoolingUnit, Hall, Node, Pdu, Rack, Sample, Series
from ..validation import point_reading_problems
from ..vocabulary import POINT_METRICS
from .store import write_rows

SAMPLE_COLUMNS = ("series_id", "ts", "value")
SAMPLE_COPY_TYPES = ["int8", "timestamptz", "float8"]


def sample_rows(organization, readings, auto_register, now, oldest, result):
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


def write_samples(rows):
    """Write (series id, ts, value) rows; returns how many were new."""
    return write_rows(Sample, SAMPLE_COLUMNS, SAMPLE_COPY_TYPES, rows)


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
