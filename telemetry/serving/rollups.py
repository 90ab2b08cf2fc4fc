"""Serving rollups (1 minute, 5 minutes, 1 hour per replica), their retention, and the reads the serving pages,
API and planner use: a deployment's series over a range and its measured efficiency joined with its GPUs'
measured energy.

Serving samples are few (one row per replica per scrape), so each refresh recomputes every bucket that
overlaps the last two hours from the raw samples (idempotent: the buckets are replaced whole). Retention
follows the GPU samples' (TELEMETRY_RETENTION_DAYS: raw 7 days, 1m 30 days, 5m 1 year, 1h kept).
"""

from datetime import timedelta
from statistics import median

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from ..models import (
    SERVING_FIELDS,
    GpuRollup,
    Resolution,
    ServingRollup,
    ServingSample,
)
from ..models.serving import SERVING_COUNTERS, SERVING_GAUGES, SERVING_PERCENTILE_FIELDS
from .efficiency import efficiency

REFRESH_WINDOW = timedelta(hours=2)
LEVEL_DAYS = {Resolution.MINUTE: "1m", Resolution.FIVE_MINUTES: "5m", Resolution.HOUR: "1h"}


def _floor(ts, seconds):
    epoch = int(ts.timestamp())
    return ts - timedelta(seconds=epoch % seconds, microseconds=ts.microsecond)


def refresh_serving_rollups(*, now, since=None):
    """Recompute every serving rollup bucket from `since` (default: two hours before `now`) up to `now`.
    Returns the number of rollup rows written."""
    start = _floor(since or now - REFRESH_WINDOW, Resolution.HOUR)
    fields = ["replica_id", "ts", "interval_s", *SERVING_FIELDS]
    rows = list(ServingSample.objects.filter(ts__gte=start, ts__lt=now).values_list(*fields))
    written = 0
    with transaction.atomic():
        ServingRollup.objects.filter(ts__gte=start).delete()
        if not rows:
            return 0
        frame = pd.DataFrame(rows, columns=fields).astype({f: float for f in ["interval_s", *SERVING_FIELDS]})
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        for resolution in Resolution:
            objs = [ServingRollup(resolution=resolution, **row) for row in _aggregate(frame, int(resolution))]
            ServingRollup.objects.bulk_create(objs, batch_size=2000)
            written += len(objs)
    return written


def _aggregate(frame, seconds):
    """One row per replica and bucket, as ServingRollup's fields; a field with no value in the bucket is None.
    Grouped aggregations over all buckets at once: a Python loop per bucket took ~5 ms, so a refresh of many
    replicas outran the task's time limit."""
    percentiles = frame[list(SERVING_PERCENTILE_FIELDS)]
    weights = frame["requests_finished"].fillna(0)
    # Percentiles do not add up: the request-weighted mean is an estimate (the plain mean where no request
    # finished), the max a bound. Weights count only where the percentile has a value.
    weighted = percentiles.mul(weights, axis=0).add_suffix("__wv")
    used = percentiles.notna().mul(weights, axis=0).add_suffix("__w")
    frame = pd.concat([frame, weighted, used], axis=1).assign(bucket=frame["ts"].dt.floor(f"{seconds}s"))
    grouped = frame.groupby(["replica_id", "bucket"], sort=False)
    averaged = [*SERVING_GAUGES, *SERVING_PERCENTILE_FIELDS]
    means, maxes = grouped[averaged].mean(), grouped[averaged].max()
    sums = grouped[[*weighted.columns, *used.columns]].sum()
    out = pd.DataFrame({"n": grouped.size(), "seconds": grouped["interval_s"].sum()})
    for name in averaged:
        out[f"{name}_avg"] = means[name]
        out[f"{name}_max"] = maxes[name]
    for name in SERVING_PERCENTILE_FIELDS:
        w = sums[f"{name}__w"]
        out[f"{name}_avg"] = (sums[f"{name}__wv"] / w.where(w > 0)).fillna(means[name])
    out = out.join(grouped[list(SERVING_COUNTERS)].sum(min_count=1)).reset_index().rename(columns={"bucket": "ts"})
    out = out.astype(object).where(out.notna(), None)
    return [
        {**row, "replica_id": int(row["replica_id"]), "ts": row["ts"].to_pydatetime()} for row in out.to_dict("records")
    ]


def apply_serving_retention(*, now):
    """Delete raw serving samples and rollups past their retention; returns {level: rows deleted}."""
    days = settings.TELEMETRY_RETENTION_DAYS
    removed = {"raw": ServingSample.objects.filter(ts__lt=now - timedelta(days=days["raw"])).delete()[0]}
    for resolution, key in LEVEL_DAYS.items():
        if days.get(key):
            cutoff = now - timedelta(days=days[key])
            removed[key] = ServingRollup.objects.filter(resolution=resolution, ts__lt=cutoff).delete()[0]
    return removed


# --- reads ---------------------------------------------------------------------------------------------------


def resolution_for(start, end, now):
    """Raw samples within their retention for ranges up to 6 hours, else the coarsest level that fits."""
    span = end - start
    if span <= timedelta(hours=6) and start >= now - timedelta(days=settings.TELEMETRY_RETENTION_DAYS["raw"]):
        return None
    if span <= timedelta(days=2):
        return Resolution.MINUTE
    if span <= timedelta(days=14):
        return Resolution.FIVE_MINUTES
    return Resolution.HOUR


def replica_frame(replica_ids, start, end, *, now):
    """One row per replica and instant (or bucket): ts, replica_id, seconds, gauges, percentiles and counter
    deltas under the sample's own names (rollups: averages for gauges and percentiles)."""
    resolution = resolution_for(start, end, now)
    if resolution is None:
        fields = ["replica_id", "ts", "interval_s", *SERVING_FIELDS]
        rows = ServingSample.objects.filter(replica_id__in=replica_ids, ts__gte=start, ts__lt=end)
        frame = pd.DataFrame(list(rows.values_list(*fields)), columns=fields).rename(columns={"interval_s": "seconds"})
    else:
        averaged = [f"{name}_avg" for name in (*SERVING_GAUGES, *SERVING_PERCENTILE_FIELDS)]
        fields = ["replica_id", "ts", "seconds", *averaged, *SERVING_COUNTERS]
        rows = ServingRollup.objects.filter(
            resolution=resolution, replica_id__in=replica_ids, ts__gte=start, ts__lt=end
        ).values_list(*fields)
        frame = pd.DataFrame(list(rows), columns=fields).rename(columns=lambda c: c.removesuffix("_avg"))
    numeric = [c for c in frame.columns if c not in ("replica_id", "ts")]
    frame[numeric] = frame[numeric].astype(float)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame.sort_values(["ts", "replica_id"]).reset_index(drop=True)


def deployment_frame(deployment, start, end, *, now):
    """The deployment as a whole per instant: rates summed over replicas (requests/s, tokens/s), queues and
    running requests summed, KV-cache use and latency percentiles averaged over replicas."""
    replicas = list(deployment.replicas.values_list("id", flat=True))
    frame = replica_frame(replicas, start, end, now=now)
    if frame.empty:
        return frame
    seconds = frame["seconds"].where(frame["seconds"] > 0)
    frame["requests_per_s"] = frame["requests_finished"] / seconds
    frame["generation_tokens_per_s"] = frame["generation_tokens"] / seconds
    frame["prompt_tokens_per_s"] = frame["prompt_tokens"] / seconds
    # Replicas are scraped at slightly different instants: align them to the minute.
    frame["ts"] = frame["ts"].dt.floor("60s")
    summed = [
        "requests_running",
        "requests_waiting",
        "requests_per_s",
        "generation_tokens_per_s",
        "prompt_tokens_per_s",
    ]
    averaged = ["kv_cache_usage", *SERVING_PERCENTILE_FIELDS]
    grouped = frame.groupby("ts")
    out = pd.concat([grouped[summed].sum(min_count=1), grouped[averaged].mean()], axis=1).reset_index()
    return out


def measured_efficiency(deployment, start, end, *, now):
    """Tokens per GPU-hour and per kWh and $ per 1M tokens over [start, end), from the replicas' samples and
    their GPUs' measured power (1-minute rollups; hourly past their retention)."""
    replicas = list(deployment.replicas.prefetch_related("gpus"))
    sums = (
        ServingSample.objects.filter(replica__in=replicas, ts__gte=start, ts__lt=end)
        .values("replica_id")
        .annotate(seconds=Sum("interval_s"), gen=Sum("generation_tokens"), prompt=Sum("prompt_tokens"))
    )
    by_replica = {row["replica_id"]: row for row in sums}
    gpu_hours = sum((by_replica.get(r.id, {}).get("seconds") or 0) / 3600 * max(len(r.gpus.all()), 1) for r in replicas)
    generation = sum(row["gen"] or 0 for row in by_replica.values())
    prompt = sum(row["prompt"] or 0 for row in by_replica.values())
    gpu_ids = sorted({g.id for r in replicas for g in r.gpus.all()})
    energy_kwh, covered_h = _gpu_energy(gpu_ids, start, end, now)
    site = deployment.gpus.select_related("node__rack__hall__site").first()
    usd_per_kwh = float(site.node.rack.hall.site.electricity_price_usd_per_kwh) if site else 0.0
    list_price = float(deployment.gpu_model.list_price_usd) if deployment.gpu_model.list_price_usd else None
    return efficiency(
        generation_tokens=generation,
        prompt_tokens=prompt,
        gpu_hours=gpu_hours,
        energy_kwh=energy_kwh,
        energy_coverage=min(covered_h / gpu_hours, 1.0) if gpu_hours else 0.0,
        usd_per_kwh=usd_per_kwh,
        gpu_list_price_usd=list_price,
        usd_per_gpu_hour_rented=rented_price(deployment.gpu_model.name),
    )


def _gpu_energy(gpu_ids, start, end, now):
    """(kWh, GPU-hours with a power reading) of these GPUs over the range, from their rollups."""
    if not gpu_ids:
        return None, 0.0
    minute_days = settings.TELEMETRY_RETENTION_DAYS["1m"]
    resolution = Resolution.MINUTE if start >= now - timedelta(days=minute_days) else Resolution.HOUR
    rows = GpuRollup.objects.filter(
        resolution=resolution, gpu_id__in=gpu_ids, ts__gte=start, ts__lt=end, gpu_power_n__gt=0
    ).values_list("gpu_power_avg", flat=True)
    powers = [p for p in rows if p is not None]
    if not powers:
        return None, 0.0
    hours = len(powers) * int(resolution) / 3600
    return sum(powers) * int(resolution) / 3.6e6, hours


def rented_price(gpu_model_name):
    """Median on-demand $/GPU-hour in the planner's cloud price catalog for this GPU model, or None."""
    from reference.catalog import load_cloud_prices

    prices = [p.usd_per_gpu_hour_low for p in load_cloud_prices() if p.gpu == gpu_model_name and p.term == "on-demand"]
    return median(prices) if prices else None
