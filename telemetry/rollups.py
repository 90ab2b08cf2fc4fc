"""Incremental, idempotent 1-minute, 5-minute and 1-hour rollups (min, max, avg, count, last) and retention.

Each level recomputes whole buckets from its watermark minus a lag for late data, with
INSERT ... ON CONFLICT DO UPDATE: a re-run (after a crash, or twice) writes the same rows. 1m is built from
raw samples, 5m from 1m, 1h from 5m (averages weighted by counts, so every level equals a direct
aggregation of the raw samples). Hall aggregates (IT power, GPU utilization, hottest inlet/GPU) are built at
each level from that level's GPU and series rollups. On PostgreSQL all of it is SQL; on SQLite (the embedded
demo) the same aggregation runs in pandas.
"""

from datetime import UTC, datetime, timedelta

import pandas as pd
from django.conf import settings
from django.db import connection, transaction

from . import partitions
from .models import (
    HALL_ROLLUP_FIELDS,
    Gpu,
    GpuRollup,
    GpuSample,
    HallRollup,
    Resolution,
    RollupWatermark,
    Sample,
    SeriesRollup,
)
from .vocabulary import GPU_METRICS

LEVELS = (Resolution.MINUTE, Resolution.FIVE_MINUTES, Resolution.HOUR)
SOURCE_LEVEL = {Resolution.FIVE_MINUTES: Resolution.MINUTE, Resolution.HOUR: Resolution.FIVE_MINUTES}
RETENTION_KEYS = {Resolution.MINUTE: "1m", Resolution.FIVE_MINUTES: "5m", Resolution.HOUR: "1h"}
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # buckets align to this (and so to whole minutes and hours)
FIRST_RUN_SPAN = timedelta(days=1)
STATS = ("min", "max", "avg", "last", "n")
GPU_ROLLUP_COLUMNS = [f"{m}_{s}" for m in GPU_METRICS for s in STATS]


def floor(ts, seconds):
    return EPOCH + timedelta(seconds=(ts - EPOCH).total_seconds() // seconds * seconds)


def ceil(ts, seconds):
    start = floor(ts, seconds)
    return start if start == ts else start + timedelta(seconds=seconds)


def refresh_rollups(*, now):
    """Bring every level up to `now`; returns {resolution: (start, end)} recomputed."""
    lag = timedelta(seconds=settings.TELEMETRY_ROLLUP_LAG_S)
    done = {}
    for resolution in LEVELS:
        mark = RollupWatermark.objects.filter(name=f"level_{resolution}").first()
        since = mark.upto if mark else now - FIRST_RUN_SPAN
        start = floor(min(since, now - lag), resolution)
        end = ceil(now, resolution)  # the bucket in progress too: fresh charts; recomputed next time
        rollup_range(resolution, start, end)
        RollupWatermark.objects.update_or_create(name=f"level_{resolution}", defaults={"upto": now - lag})
        done[resolution] = (start, end)
    return done


def rollup_range(resolution, start, end):
    """Recompute the GPU, series and hall buckets of one level that start in [start, end)."""
    start, end = floor(start, resolution), ceil(end, resolution)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _gpu_sql(resolution, start, end)
            _series_sql(resolution, start, end)
            _hall_sql(resolution, start, end)
        else:
            _gpu_pandas(resolution, start, end)
            _series_pandas(resolution, start, end)
            _hall_pandas(resolution, start, end)


def apply_retention(*, now):
    """Drop raw partitions (PostgreSQL) or rows past raw retention, and rollups past theirs."""
    days = settings.TELEMETRY_RETENTION_DAYS
    raw_cutoff = now - timedelta(days=days["raw"])
    removed = {"partitions": partitions.drop_before(raw_cutoff.astimezone(UTC).date())}
    if not partitions.is_partitioned():
        removed["raw"] = (
            GpuSample.objects.filter(ts__lt=raw_cutoff).delete()[0]
            + Sample.objects.filter(ts__lt=raw_cutoff).delete()[0]
        )
    for resolution, key in RETENTION_KEYS.items():
        if days[key]:
            cutoff = now - timedelta(days=days[key])
            removed[key] = sum(
                model.objects.filter(resolution=resolution, ts__lt=cutoff).delete()[0]
                for model in (GpuRollup, SeriesRollup, HallRollup)
            )
    return removed


# --- PostgreSQL -----------------------------------------------------------------------------------------------


def _upsert(table, key, columns, select_sql, params):
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join([*key, *columns])}) {select_sql} "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
            params,
        )
        return cursor.rowcount


def _bucket(resolution):
    return f"date_bin('{int(resolution)} seconds', ts, TIMESTAMPTZ '2000-01-01 00:00+00')"


def _gpu_sql(resolution, start, end):
    if resolution == Resolution.MINUTE:
        parts = []
        for m in GPU_METRICS:
            parts += [
                f"min({m})",
                f"max({m})",
                f"avg({m})",
                f"(array_agg({m} ORDER BY ts DESC) FILTER (WHERE {m} IS NOT NULL))[1]",
                f"count({m})",
            ]
        source = "telemetry_gpusample WHERE ts >= %s AND ts < %s"
        params = [start, end]
    else:
        parts = []
        for m in GPU_METRICS:
            parts += [
                f"min({m}_min)",
                f"max({m}_max)",
                f"sum({m}_avg * {m}_n) / nullif(sum({m}_n), 0)",
                f"(array_agg({m}_last ORDER BY ts DESC) FILTER (WHERE {m}_n > 0))[1]",
                f"sum({m}_n)",
            ]
        source = "telemetry_gpurollup WHERE resolution = %s AND ts >= %s AND ts < %s"
        params = [int(SOURCE_LEVEL[resolution]), start, end]
    select = (
        f"SELECT {int(resolution)}, gpu_id, {_bucket(resolution)} AS bucket, {', '.join(parts)} "
        f"FROM {source} GROUP BY gpu_id, bucket"
    )
    return _upsert("telemetry_gpurollup", ["resolution", "gpu_id", "ts"], GPU_ROLLUP_COLUMNS, select, params)


def _series_sql(resolution, start, end):
    if resolution == Resolution.MINUTE:
        stats = "min(value), max(value), avg(value), count(*), (array_agg(value ORDER BY ts DESC))[1]"
        source, params = "telemetry_sample WHERE ts >= %s AND ts < %s", [start, end]
    else:
        stats = (
            'min("min"), max("max"), sum("avg" * "count") / sum("count"), sum("count"), '
            '(array_agg("last" ORDER BY ts DESC))[1]'
        )
        source = "telemetry_seriesrollup WHERE resolution = %s AND ts >= %s AND ts < %s"
        params = [int(SOURCE_LEVEL[resolution]), start, end]
    select = (
        f"SELECT {int(resolution)}, series_id, {_bucket(resolution)} AS bucket, {stats} "
        f"FROM {source} GROUP BY series_id, bucket"
    )
    columns = ['"min"', '"max"', '"avg"', '"count"', '"last"']
    return _upsert("telemetry_seriesrollup", ["resolution", "series_id", "ts"], columns, select, params)


# Per node: its measured input power when it reports one, else the sum of its GPUs' power.
_HALL_SELECT = """
WITH g AS (
    SELECT r.ts, k.hall_id, n.hostname, r.gpu_util_avg, r.gpu_power_avg, r.gpu_temp_max
    FROM telemetry_gpurollup r
    JOIN telemetry_gpu gp ON gp.id = r.gpu_id
    JOIN telemetry_node n ON n.id = gp.node_id
    JOIN telemetry_rack k ON k.id = n.rack_id
    WHERE r.resolution = %(res)s AND r.ts >= %(start)s AND r.ts < %(end)s
), s AS (
    SELECT r.ts, se.hall_id, se.entity, se.metric, r."avg", r."max"
    FROM telemetry_seriesrollup r JOIN telemetry_series se ON se.id = r.series_id
    WHERE r.resolution = %(res)s AND r.ts >= %(start)s AND r.ts < %(end)s
      AND se.hall_id IS NOT NULL AND se.metric IN ('node_power', 'node_inlet_temp')
), gpu_hall AS (
    SELECT ts, hall_id, count(*) AS gpu_count, avg(gpu_util_avg) AS util, sum(gpu_power_avg) AS gpu_power,
           max(gpu_temp_max) AS gpu_temp
    FROM g GROUP BY ts, hall_id
), gpu_node AS (
    SELECT ts, hall_id, hostname, sum(gpu_power_avg) AS power FROM g GROUP BY ts, hall_id, hostname
), node_power AS (
    SELECT ts, hall_id, entity AS hostname, "avg" AS power FROM s WHERE metric = 'node_power'
), it AS (
    SELECT coalesce(p.ts, q.ts) AS ts, coalesce(p.hall_id, q.hall_id) AS hall_id,
           sum(coalesce(p.power, q.power)) AS it_power, sum(p.power) AS node_power
    FROM node_power p FULL JOIN gpu_node q ON p.ts = q.ts AND p.hall_id = q.hall_id AND p.hostname = q.hostname
    GROUP BY 1, 2
), inlet AS (
    SELECT ts, hall_id, max("max") AS inlet FROM s WHERE metric = 'node_inlet_temp' GROUP BY ts, hall_id
), keys AS (
    SELECT ts, hall_id FROM it UNION SELECT ts, hall_id FROM inlet
)
SELECT %(res)s, keys.hall_id, keys.ts, coalesce(gpu_hall.gpu_count, 0), gpu_hall.util, gpu_hall.gpu_power,
       it.node_power, it.it_power, gpu_hall.gpu_temp, inlet.inlet
FROM keys
LEFT JOIN gpu_hall ON gpu_hall.ts = keys.ts AND gpu_hall.hall_id = keys.hall_id
LEFT JOIN it ON it.ts = keys.ts AND it.hall_id = keys.hall_id
LEFT JOIN inlet ON inlet.ts = keys.ts AND inlet.hall_id = keys.hall_id
"""


def _hall_sql(resolution, start, end):
    params = {"res": int(resolution), "start": start, "end": end}
    return _upsert("telemetry_hallrollup", ["resolution", "hall_id", "ts"], HALL_ROLLUP_FIELDS, _HALL_SELECT, params)


# --- SQLite and other databases: the same aggregation in pandas --------------------------------------------


def _gpu_pandas(resolution, start, end):
    if resolution == Resolution.MINUTE:
        rows = GpuSample.objects.filter(ts__gte=start, ts__lt=end).values("gpu_id", "ts", *GPU_METRICS)
        frame = pd.DataFrame.from_records(list(rows), columns=["gpu_id", "ts", *GPU_METRICS])
        stats = {}
    else:
        rows = GpuRollup.objects.filter(resolution=SOURCE_LEVEL[resolution], ts__gte=start, ts__lt=end)
        frame = pd.DataFrame.from_records(
            list(rows.values("gpu_id", "ts", *GPU_ROLLUP_COLUMNS)), columns=["gpu_id", "ts", *GPU_ROLLUP_COLUMNS]
        )
        stats = {m: {s: f"{m}_{s}" for s in STATS} for m in GPU_METRICS}
    if frame.empty:
        return
    frame["bucket"] = frame["ts"].dt.floor(f"{int(resolution)}s")
    frame = frame.sort_values("ts")
    out = []
    for (gpu_id, bucket), group in frame.groupby(["gpu_id", "bucket"], sort=False):
        row = GpuRollup(resolution=resolution, gpu_id=gpu_id, ts=bucket.to_pydatetime())
        for m in GPU_METRICS:
            values = _combine(group, m, stats.get(m))
            for s in STATS:
                setattr(row, f"{m}_{s}", values[s])
        out.append(row)
    GpuRollup.objects.bulk_create(
        out,
        update_conflicts=True,
        unique_fields=["resolution", "gpu", "ts"],
        update_fields=GPU_ROLLUP_COLUMNS,
    )


def _combine(group, metric, names):
    """min/max/avg/last/n of one metric in one bucket, from raw values or from finer rollups."""
    if names is None:
        values = group[metric].dropna()
        if values.empty:
            return {"min": None, "max": None, "avg": None, "last": None, "n": 0}
        return {
            "min": float(values.min()),
            "max": float(values.max()),
            "avg": float(values.mean()),
            "last": float(values.iloc[-1]),
            "n": int(values.size),
        }
    parts = group[group[names["n"]] > 0]
    if parts.empty:
        return {"min": None, "max": None, "avg": None, "last": None, "n": 0}
    n = parts[names["n"]]
    return {
        "min": float(parts[names["min"]].min()),
        "max": float(parts[names["max"]].max()),
        "avg": float((parts[names["avg"]] * n).sum() / n.sum()),
        "last": float(parts[names["last"]].iloc[-1]),
        "n": int(n.sum()),
    }


def _series_pandas(resolution, start, end):
    if resolution == Resolution.MINUTE:
        rows = Sample.objects.filter(ts__gte=start, ts__lt=end).values("series_id", "ts", "value")
        frame = pd.DataFrame.from_records(list(rows), columns=["series_id", "ts", "value"])
        if frame.empty:
            return
        frame = frame.assign(min=frame.value, max=frame.value, avg=frame.value, last=frame.value, count=1)
    else:
        rows = SeriesRollup.objects.filter(resolution=SOURCE_LEVEL[resolution], ts__gte=start, ts__lt=end)
        columns = ["series_id", "ts", "min", "max", "avg", "last", "count"]
        frame = pd.DataFrame.from_records(list(rows.values(*columns)), columns=columns)
        if frame.empty:
            return
    frame = frame.sort_values("ts").assign(bucket=lambda f: f.ts.dt.floor(f"{int(resolution)}s"))
    frame["weighted"] = frame["avg"] * frame["count"]
    grouped = frame.groupby(["series_id", "bucket"]).agg(
        min=("min", "min"),
        max=("max", "max"),
        weighted=("weighted", "sum"),
        count=("count", "sum"),
        last=("last", "last"),
    )
    SeriesRollup.objects.bulk_create(
        [
            SeriesRollup(
                resolution=resolution,
                series_id=series_id,
                ts=bucket.to_pydatetime(),
                min=r["min"],  # r["..."]: r.min, r.count are the Series' methods
                max=r["max"],
                avg=r["weighted"] / r["count"],
                count=int(r["count"]),
                last=r["last"],
            )
            for (series_id, bucket), r in grouped.iterrows()
        ],
        update_conflicts=True,
        unique_fields=["resolution", "series", "ts"],
        update_fields=["min", "max", "avg", "count", "last"],
    )


def _hall_pandas(resolution, start, end):
    """_HALL_SELECT in pandas: per hall and bucket, from this level's GPU and series rollups."""
    span = {"resolution": resolution, "ts__gte": start, "ts__lt": end}
    gpu_columns = ["gpu_id", "ts", "gpu_util_avg", "gpu_power_avg", "gpu_temp_max"]
    gpus = pd.DataFrame.from_records(list(GpuRollup.objects.filter(**span).values(*gpu_columns)), columns=gpu_columns)
    places = pd.DataFrame.from_records(
        list(
            Gpu.objects.filter(id__in=gpus.gpu_id.unique().tolist()).values_list(
                "id", "node__hostname", "node__rack__hall_id"
            )
        ),
        columns=["gpu_id", "hostname", "hall_id"],
    )
    gpus = gpus.merge(places, on="gpu_id")
    series_rows = SeriesRollup.objects.filter(
        **span, series__hall__isnull=False, series__metric__in=["node_power", "node_inlet_temp"]
    ).values_list("ts", "series__hall_id", "series__entity", "series__metric", "avg", "max")
    series = pd.DataFrame.from_records(list(series_rows), columns=["ts", "hall_id", "hostname", "metric", "avg", "max"])
    keys = ["ts", "hall_id"]
    gpu_hall = gpus.groupby(keys).agg(
        gpu_count=("gpu_id", "size"),
        gpu_util_avg=("gpu_util_avg", "mean"),
        gpu_power_w=("gpu_power_avg", lambda v: v.sum(min_count=1)),
        gpu_temp_max=("gpu_temp_max", "max"),
    )
    # Per node: its measured input power when it reports one, else the sum of its GPUs' power.
    gpu_node = gpus.groupby([*keys, "hostname"])["gpu_power_avg"].sum(min_count=1).rename("gpus")
    measured = series[series.metric == "node_power"].set_index([*keys, "hostname"])["avg"].rename("measured")
    nodes = pd.concat([measured, gpu_node], axis=1)
    nodes["it"] = nodes["measured"].fillna(nodes["gpus"])
    it = nodes.groupby(level=keys).agg(
        it_power_w=("it", lambda v: v.sum(min_count=1)), node_power_w=("measured", lambda v: v.sum(min_count=1))
    )
    inlet = series[series.metric == "node_inlet_temp"].groupby(keys)["max"].max().rename("inlet_temp_max")
    halls = it.join(inlet, how="outer").join(gpu_hall, how="left")
    if halls.empty:
        return
    halls["gpu_count"] = halls["gpu_count"].fillna(0).astype(int)
    halls = halls.astype(object).where(halls.notna(), None)
    HallRollup.objects.bulk_create(
        [
            HallRollup(resolution=resolution, ts=pd.Timestamp(ts).to_pydatetime(), hall_id=int(hall), **row)
            for (ts, hall), row in zip(halls.index, halls[list(HALL_ROLLUP_FIELDS)].to_dict("records"), strict=True)
        ],
        update_conflicts=True,
        unique_fields=["resolution", "hall", "ts"],
        update_fields=HALL_ROLLUP_FIELDS,
    )
