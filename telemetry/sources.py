"""Collection-run bookkeeping: which collector reads a source, and what each run leaves behind
(a CollectorRun row, the source's health fields, one collector_failure Event when failures repeat, the gap
since the previous success and its back-fill: telemetry.gaps)."""

import importlib

from django.conf import settings
from django.db import transaction
from django.db.models import F

from . import gaps
from .collectors.common import printable
from .ingest import ingest
from .models import CollectorRun, Event, Source


class NotCollectable(Exception):
    """The source is not read by a collector (a push client, or disabled)."""


def collector_for(kind):
    """The module whose `collect(source) -> Batch` reads sources of this kind."""
    if kind == Source.Kind.PUSH:
        raise NotCollectable("push sources send their data to /api/ingest/; nothing collects them")
    return importlib.import_module(settings.TELEMETRY_COLLECTOR_MODULES.get(kind, f"telemetry.collectors.{kind}"))


def collect(source, *, now):
    """Read a source through its collector and ingest what it returned; records the run either way.

    Returns the IngestResult; re-raises the collector's exception after recording it (the task retries)."""
    if not source.enabled:
        raise NotCollectable(f"source {source.name} is disabled")
    run = CollectorRun.objects.create(source=source, started=now)
    try:
        collector = collector_for(source.kind)
        batch = collector.collect(source)
        result = getattr(collector, "ingest", ingest)(source, batch, now=now)  # a collector may bring its own
    except Exception as exc:
        record_failure(source, run, f"{type(exc).__name__}: {exc}", now=now)
        raise
    previous_success = source.last_success_at
    record_success(source, run, result, now=now)
    gaps.after_success(source, collector, previous_success, now=now)
    return result


def record_success(source, run, result, *, now):
    """Note the run's counts and its first rejected items (stored printable: a client's names may hold NUL)."""
    run.finished, run.status = now, CollectorRun.Status.OK
    run.accepted, run.duplicate, run.rejected = result.accepted, result.duplicate, result.rejected
    if result.errors:
        errors = "; ".join(f"{e['item']}[{e['index']}].{e['field']}: {e['message']}" for e in result.errors[:20])
        run.error = printable(errors, 5000)
    run.save()
    Source.objects.filter(pk=source.pk).update(
        last_run_at=now, last_success_at=now, consecutive_failures=0, last_run_samples=result.accepted
    )


def record_failure(source, run, error, *, now):
    """Note the failure; on exactly the Nth consecutive one raise a collector_failure Event (not a storm).
    The error is stored printable: a device's garbage (a NUL) in it must not make the record itself fail."""
    error = printable(error, 5000)
    with transaction.atomic():
        run.finished, run.status, run.error = now, CollectorRun.Status.FAILED, error
        run.save()
        Source.objects.filter(pk=source.pk).update(
            last_run_at=now,
            last_error_at=now,
            last_error=error,
            consecutive_failures=F("consecutive_failures") + 1,
        )
        failures = Source.objects.values_list("consecutive_failures", flat=True).get(pk=source.pk)
        if failures == settings.TELEMETRY_COLLECTOR_FAILURE_EVENT_AFTER:
            Event.objects.get_or_create(
                organization_id=source.organization_id,
                key=Event.make_key("collector_failure", now, "", f"source:{source.pk}", failures),
                defaults={
                    "source": source,
                    "entity": source.name,
                    "kind": "collector_failure",
                    "code": failures,
                    "ts": now,
                    "detail": f"{failures} consecutive failed collections; last error: {error[:1000]}",
                },
            )
    return failures


def due_sources(now):
    """Enabled, collectable sources whose interval has passed since their last run."""
    candidates = Source.objects.filter(enabled=True).exclude(kind=Source.Kind.PUSH)
    fields = ("id", "kind", "endpoint", "options", "interval_s", "last_run_at")
    return [s for s in candidates.only(*fields) if s.is_due(now)]
