"""Discrete events (XID, ECC, GPU lost, ...): checked, keyed so a re-sent one is stored once."""

from ..models import Event
from ..validation import event_problems


def event_rows(organization, source, readings, gpu_ids, now, oldest, result):
    events = {}
    for index, reading in enumerate(readings):
        problems = event_problems(reading, now, oldest)
        gpu_id = gpu_ids.get(reading.gpu_uuid) if reading.gpu_uuid else None
        if reading.gpu_uuid and gpu_id is None and not any(f == "gpu_uuid" for f, _ in problems):
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


def write_events(organization, events):
    existing = set(
        Event.objects.filter(organization=organization, key__in=[e.key for e in events]).values_list("key", flat=True)
    )
    fresh = [e for e in events if e.key not in existing]
    Event.objects.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)
