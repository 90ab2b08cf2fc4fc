"""Thin Celery tasks over telemetry.sources, .partitions and .rollups (see CELERY_BEAT_SCHEDULE)."""

import logging

import requests
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import csv_uploads, partitions, rollups, sealing, sources
from .collectors.common import TransientCollectorError
from .models import Source
from .serving import anomalies as serving_anomalies
from .serving import rollups as serving_rollups

log = logging.getLogger(__name__)

# Network trouble is worth retrying; a parse error or a bad configuration is not. The collectors wrap theirs
# in TransientCollectorError (timeouts, refused connections, HTTP 5xx).
TRANSIENT_ERRORS = (
    TransientCollectorError,
    ConnectionError,
    TimeoutError,
    OSError,
    requests.ConnectionError,
    requests.Timeout,
)


@shared_task(
    name="telemetry.collect_source",
    bind=True,
    time_limit=120,
    soft_time_limit=100,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=3,
)
def collect_source(self, source_id):
    source = Source.objects.select_related("organization").filter(pk=source_id, enabled=True).first()
    if source is None:
        return None
    result = sources.collect(source, now=timezone.now())
    return {"accepted": result.accepted, "duplicate": result.duplicate, "rejected": result.rejected}


@shared_task(name="telemetry.collection_tick", time_limit=30, soft_time_limit=25)
def collection_tick():
    """Fan out one collect_source per due source; a task that waits longer than the interval expires."""
    now = timezone.now()
    due = sources.due_sources(now)
    for source in due:
        Source.objects.filter(pk=source.pk).update(last_run_at=now)  # not due again until its interval passes
        collect_source.apply_async((source.pk,), expires=max(source.interval_s, 5), queue=source.queue)
    return len(due)


@shared_task(name="telemetry.ensure_partitions", time_limit=120, soft_time_limit=100)
def ensure_partitions():
    return partitions.create_ahead(timezone.now().date(), settings.TELEMETRY_PARTITION_DAYS_AHEAD)


@shared_task(name="telemetry.apply_retention", time_limit=1800, soft_time_limit=1700)
def apply_retention():
    now = timezone.now()
    removed = rollups.apply_retention(now=now)
    removed["csv_uploads"] = csv_uploads.remove_expired(now=now, days=settings.TELEMETRY_CSV_UPLOAD_DAYS)
    removed["serving"] = serving_rollups.apply_serving_retention(now=now)
    return removed


@shared_task(name="telemetry.seal_samples", time_limit=3300, soft_time_limit=3200)
def seal_samples():
    """Raw GPU-hours older than TELEMETRY_SEAL_AFTER_HOURS into compressed blocks (telemetry.sealing)."""
    done = sealing.seal(now=timezone.now())
    return {"blocks": done["blocks"], "rows": done["rows"], "truncated": len(done["truncated"])}


@shared_task(name="telemetry.refresh_rollups", time_limit=600, soft_time_limit=540)
def refresh_rollups():
    done = rollups.refresh_rollups(now=timezone.now())
    return {
        str(org): {str(res): [start.isoformat(), end.isoformat()] for res, (start, end) in levels.items()}
        for org, levels in done.items()
    }


@shared_task(name="telemetry.import_csv", time_limit=3600, soft_time_limit=3540)
def import_csv(upload_id, organization_id):
    """Import an uploaded CSV file with its confirmed mapping (telemetry.csv_uploads)."""
    state = csv_uploads.run_import(upload_id, organization_id)
    return {key: state[key] for key in ("accepted", "duplicate", "rejected")}


@shared_task(name="telemetry.refresh_serving_rollups", time_limit=120, soft_time_limit=100)
def refresh_serving_rollups():
    return serving_rollups.refresh_serving_rollups(now=timezone.now())


@shared_task(name="telemetry.detect_anomalies", time_limit=55, soft_time_limit=50)
def detect_anomalies():
    """Learned-baseline anomaly detection on GPU and serving metrics (telemetry.serving.anomalies)."""
    return serving_anomalies.detect_all(now=timezone.now())
