"""The write path of serving telemetry: create deployments' replicas with their Source, store serving samples.

Serving samples are written here and nowhere else (the GPU/series path is telemetry.ingest). A re-sent
sample (same replica and instant) is ignored, so a retried collection adds nothing twice.
"""

from django.db import transaction

from ..ingest import IngestResult
from ..models import SERVING_FIELDS, Replica, ServingSample, Source


@transaction.atomic
def add_replica(deployment, *, name, metrics_url, gpus=(), interval_s=15, timeout_s=5):
    """A replica of `deployment` scraped at `metrics_url`, with the Source that schedules and records it."""
    source = Source.objects.create(
        organization=deployment.organization,
        name=f"{deployment.name} / {name}",
        kind=Source.Kind.SERVING,
        endpoint=metrics_url,
        interval_s=interval_s,
        timeout_s=timeout_s,
        options={"engine": deployment.engine},
    )
    replica = Replica.objects.create(deployment=deployment, name=name, source=source)
    replica.gpus.set(gpus)
    return replica


def store_samples(replica, rows):
    """Write serving samples of one replica: `rows` are dicts with `ts`, optional `interval_s` and any of
    SERVING_FIELDS (None or absent = not reported). Returns an IngestResult (accepted, duplicate)."""
    result = IngestResult()
    objs = []
    for index, row in enumerate(rows):
        unknown = set(row) - set(SERVING_FIELDS) - {"ts", "interval_s"}
        if unknown or row.get("ts") is None:
            problem = f"unknown fields {sorted(unknown)}" if unknown else "no timestamp"
            result.reject("serving_sample", index, [("ts", problem)])
            continue
        objs.append(ServingSample(replica=replica, **row))
    if not objs:
        return result
    existing = set(
        ServingSample.objects.filter(replica=replica, ts__in=[o.ts for o in objs]).values_list("ts", flat=True)
    )
    fresh = [o for o in objs if o.ts not in existing]
    ServingSample.objects.bulk_create(fresh, ignore_conflicts=True)
    result.accepted += len(fresh)
    result.duplicate += len(objs) - len(fresh)
    return result


def ingest_reading(source, reading, *, now):
    """Turn one scrape of a replica (telemetry.collectors.serving.EngineReading) into its serving sample,
    against the previous scrape's state, which it then replaces. Returns an IngestResult."""
    from ..collectors.serving import derive_sample

    with transaction.atomic():
        replica = Replica.objects.select_for_update().get(source=source)
        row, replica.scrape_state = derive_sample(replica.scrape_state, reading)
        result = store_samples(replica, [row])
        replica.save(update_fields=["scrape_state"])
    return result
