"""Time-range reads at the right resolution, capped in points per trace, as pandas DataFrames.

`pick_resolution` chooses the finest stored level (raw, 1m, 5m, 1h) whose points over the range fit
`max_points` and whose retention still covers the range's start; if even hourly is too dense the traces
are downsampled with MinMax (tsdownsample): each bin keeps its lowest and highest point, so no peak is
lost. Every function runs one query for all entities, whatever their number. Callers pass ids already
scoped to the user's organization.
"""

from datetime import timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection
from django.utils import timezone
from tsdownsample import MinMaxDownsampler

from . import promstore, sealing
from .models import HALL_ROLLUP_FIELDS, Resolution
from .vocabulary import GPU_METRICS

RAW = 0
HOUR_US = 3_600_000_000
RAW_INTERVAL_S = 10  # the typical collection interval: how dense raw data is assumed to be
DEFAULT_MAX_POINTS = 2000
AGGREGATES = ("avg", "sum", "min", "max", "p95")
_RETENTION_KEY = {RAW: "raw", Resolution.MINUTE: "1m", Resolution.FIVE_MINUTES: "5m", Resolution.HOUR: "1h"}


def pick_resolution(start, end, *, max_points=DEFAULT_MAX_POINTS, now=None, levels=None):
    """0 for raw samples, else a Resolution in seconds."""
    now = now or timezone.now()
    levels = levels or (RAW, Resolution.MINUTE, Resolution.FIVE_MINUTES, Resolution.HOUR)
    span = (end - start).total_seconds()
    for level in levels:
        days = settings.TELEMETRY_RETENTION_DAYS[_RETENTION_KEY[level]]
        kept = days is None or start >= now - timedelta(days=days)
        if kept and span / (level or RAW_INTERVAL_S) <= max_points:
            return level
    return levels[-1]


def gpu_series(gpu_ids, metric, start, end, *, stat="avg", max_points=DEFAULT_MAX_POINTS, now=None, resolution=None):
    """One trace per GPU: DataFrame(ts, gpu_id, value). `stat` (min/max/avg/last) applies to rollups;
    `resolution` forces a level (RAW or a Resolution) instead of picking one."""
    frames = gpu_metric_series(
        gpu_ids, [metric], start, end, stat=stat, max_points=max_points, now=now, resolution=resolution
    )
    return frames[metric]


def gpu_metric_series(
    gpu_ids, metrics, start, end, *, stat="avg", max_points=DEFAULT_MAX_POINTS, now=None, resolution=None
):
    """gpu_series of several metrics from one query (the wide rows hold them all): {metric: DataFrame}."""
    for metric in metrics:
        _check(metric in GPU_METRICS, f"unknown GPU metric {metric!r}")
    _check(stat in ("min", "max", "avg", "last"), f"unknown statistic {stat!r}")
    level = pick_resolution(start, end, max_points=max_points, now=now) if resolution is None else resolution
    ids, micros, values = _gpu_columns(gpu_ids, metrics, start, end, stat, level)
    stamps = pd.to_datetime(micros, unit="us", utc=True)
    traces = {}
    for metric in metrics:
        kept = ~np.isnan(values[metric])
        trace = pd.DataFrame({"ts": stamps[kept], "gpu_id": ids[kept], "value": values[metric][kept]})
        traces[metric] = _downsample(trace, "gpu_id", max_points) if len(trace) > max_points else trace
    return traces


def _gpu_columns(gpu_ids, metrics, start, end, stat, level):
    """(gpu ids, Unix microseconds, {metric: float64 values, NaN where missing}) sorted by (GPU, time): raw
    samples (sealed blocks and rows, telemetry.sealing) or one level's rollups, one query for all GPUs."""
    if level == RAW and promstore.enabled():
        return promstore.read_raw(gpu_ids, metrics, start, end)
    if level == RAW:
        raw = sealing.read_raw(gpu_ids, metrics, start, end)
        return raw.gpu_ids, raw.micros, raw.values
    columns = ", ".join(f"{m}_{stat}" for m in metrics)
    sql = (
        f"SELECT {_ts()}, gpu_id, {columns}, FALSE FROM telemetry_gpurollup "
        f"WHERE gpu_id IN ({{ids}}) AND resolution = %s AND ts >= %s AND ts < %s"
    )
    params = [int(level), start, end]
    derive = level == Resolution.MINUTE and sealing.is_sealing()
    if derive:  # in the same query, the sealed GPU-hours, whose minutes are not stored
        nulls = ", NULL" * len(metrics)
        sql += (
            f" UNION ALL SELECT {sealing.ts_micros('start')}, gpu_id{nulls}, TRUE FROM telemetry_gpublock "
            f"WHERE gpu_id = ANY(%s) AND {sealing.OVERLAPS}"
        )
        params += [[int(i) for i in gpu_ids], start - timedelta(hours=1), end]
    rows = _rows(sql, gpu_ids, params)
    hours = {(r[1], r[0]) for r in rows if r[-1]}
    # Columns as numpy arrays, sorted once by (GPU, time); a trace per metric without pandas per-row work.
    columns = list(zip(*(r for r in rows if not r[-1]), strict=True)) or [[]] * (2 + len(metrics))
    if connection.vendor == "postgresql":
        micros = np.array(columns[0], np.int64)
    else:
        micros = pd.to_datetime(list(columns[0]), utc=True).as_unit("us").asi8
    ids = np.array(columns[1], np.int64)
    values = {m: np.array(columns[2 + k], np.float64) for k, m in enumerate(metrics)}  # NULL (None) -> NaN
    if hours:
        ids, micros, values = _with_sealed_minutes(hours, metrics, start, end, stat, (ids, micros, values))
    order = np.lexsort((micros, ids))
    return ids[order], micros[order], {m: v[order] for m, v in values.items()}


def _with_sealed_minutes(hours, metrics, start, end, stat, stored):
    """Stored 1-minute rollups plus those of the sealed GPU-hours {(gpu id, hour in Unix microseconds)}, which
    are not stored (telemetry.sealing) but computed here from the blocks (and any late rows of those hours):
    float8, where the stored are float4."""
    minute = 60_000_000
    first, last = min(h for _, h in hours), max(h for _, h in hours) + HOUR_US
    # Buckets starting in [start, end), each over its whole minute.
    low = max(-(-sealing.to_micros(start) // minute) * minute, first)
    high = min(-(-sealing.to_micros(end) // minute) * minute, last)
    raw = sealing.read_raw({g for g, _ in hours}, metrics, sealing.from_micros(low), sealing.from_micros(high))
    keep = pd.MultiIndex.from_arrays([raw.gpu_ids, raw.micros // HOUR_US * HOUR_US]).isin(list(hours))
    frame = pd.DataFrame({"gpu_id": raw.gpu_ids, "ts": raw.micros // minute * minute, **raw.values})[keep]
    how = {"min": "min", "max": "max", "avg": "mean", "last": "last"}[stat]
    derived = frame.groupby(["gpu_id", "ts"], sort=False)[list(metrics)].agg(how).reset_index()
    ids, micros, values = stored
    unsealed = ~pd.MultiIndex.from_arrays([ids, micros // HOUR_US * HOUR_US]).isin(list(hours))
    return (
        np.concatenate([ids[unsealed], derived["gpu_id"].to_numpy(np.int64)]),
        np.concatenate([micros[unsealed], derived["ts"].to_numpy(np.int64)]),
        {m: np.concatenate([values[m][unsealed], derived[m].to_numpy(np.float64)]) for m in metrics},
    )


def point_series(series_ids, start, end, *, stat="avg", max_points=DEFAULT_MAX_POINTS, now=None, resolution=None):
    """One trace per Series: DataFrame(ts, series_id, value). Hourly rollups fill the front of the range
    where the level picked holds no data (older than its retention, or backfilled history)."""
    _check(stat in ("min", "max", "avg", "last"), f"unknown statistic {stat!r}")
    level = pick_resolution(start, end, max_points=max_points, now=now) if resolution is None else resolution
    if level == RAW:
        sql = "SELECT ts, series_id, value FROM telemetry_sample WHERE series_id IN ({ids}) AND ts >= %s AND ts < %s"
        params = [start, end]
    else:
        sql = (
            f'SELECT ts, series_id, "{stat}" FROM telemetry_seriesrollup '
            "WHERE series_id IN ({ids}) AND resolution = %s AND ts >= %s AND ts < %s"
        )
        params = [int(level), start, end]
    frame = _fetch(sql, series_ids, params, ["ts", "series_id", "value"])
    if resolution is None and level != Resolution.HOUR:

        def hourly(ids, upto):
            return point_series(ids, start, upto, stat=stat, resolution=Resolution.HOUR)

        frame = _hourly_front(frame, "series_id", series_ids, start, end, hourly)
    return _downsample(frame, "series_id", max_points)


def aggregate_gpus(
    gpu_ids, metric, start, end, *, how="avg", group_by=None, max_points=DEFAULT_MAX_POINTS, now=None, resolution=None
):
    """One value per timestamp over a set of GPUs (fleet, hall or rack): DataFrame(ts, [group], value).

    From raw samples or per-GPU rollup averages (`resolution` forces a level); group_by None, "hall" or "rack"."""
    _check(metric in GPU_METRICS, f"unknown GPU metric {metric!r}")
    _check(how in AGGREGATES, f"unknown aggregate {how!r}; one of {', '.join(AGGREGATES)}")
    _check(group_by in (None, "hall", "rack"), f"cannot group by {group_by!r}")
    level = pick_resolution(start, end, max_points=max_points, now=now) if resolution is None else resolution
    if level == RAW and promstore.enabled() or level in (RAW, Resolution.MINUTE) and sealing.any_sealed(start, end):
        return _aggregate_sealed(gpu_ids, metric, start, end, how, group_by, level)
    column = metric if level == RAW else f"{metric}_avg"
    table = "telemetry_gpusample s" if level == RAW else "telemetry_gpurollup s"
    where = "s.gpu_id IN ({ids}) AND s.ts >= %s AND s.ts < %s"
    params = [start, end]
    if level != RAW:
        where += " AND s.resolution = %s"
        params.append(int(level))
    join, group = "", ""
    if group_by:
        join = " JOIN telemetry_gpu g ON g.id = s.gpu_id JOIN telemetry_node n ON n.id = g.node_id"
        group = ", n.rack_id" if group_by == "rack" else ", k.hall_id"
        if group_by == "hall":
            join += " JOIN telemetry_rack k ON k.id = n.rack_id"
    columns = ["ts", *([group_by] if group_by else []), "value"]
    if how == "p95" and connection.vendor != "postgresql":
        frame = _fetch(f"SELECT s.ts{group}, s.{column} FROM {table}{join} WHERE {where}", gpu_ids, params, columns)
        keys = columns[:-1]
        p95 = frame.dropna().groupby(keys)["value"].quantile(0.95).reset_index()
        return p95.sort_values(keys[::-1], kind="stable").reset_index(drop=True)  # as _fetch orders the others
    expression = {
        "avg": f"avg(s.{column})",
        "sum": f"sum(s.{column})",
        "min": f"min(s.{column})",
        "max": f"max(s.{column})",
        "p95": f"percentile_cont(0.95) WITHIN GROUP (ORDER BY s.{column})",
    }[how]
    sql = f"SELECT s.ts{group}, {expression} FROM {table}{join} WHERE {where} GROUP BY s.ts{group} ORDER BY s.ts"
    return _fetch(sql, gpu_ids, params, columns)


def _aggregate_sealed(gpu_ids, metric, start, end, how, group_by, level):
    """aggregate_gpus over a range with sealed GPU-hours, which SQL cannot read: in pandas, from the same
    per-GPU samples (raw) or 1-minute averages that gpu_series reads."""
    ids, micros, values = _gpu_columns(gpu_ids, [metric], start, end, "avg", level)
    frame = pd.DataFrame({"ts": micros, "gpu_id": ids, "value": values[metric]})  # NaN stays, as NULL in SQL
    keys = ["ts"]
    if group_by:
        sql = (
            "SELECT g.id, n.rack_id, k.hall_id FROM telemetry_gpu g JOIN telemetry_node n ON n.id = g.node_id "
            "JOIN telemetry_rack k ON k.id = n.rack_id WHERE g.id IN ({ids})"
        )
        places = pd.DataFrame(_rows(sql, gpu_ids, []), columns=["gpu_id", "rack", "hall"]).set_index("gpu_id")
        frame[group_by] = frame["gpu_id"].map(places[group_by])
        keys.append(group_by)
    grouped = frame.groupby(keys)["value"]
    out = (grouped.quantile(0.95) if how == "p95" else grouped.agg("mean" if how == "avg" else how)).reset_index()
    out["ts"] = pd.to_datetime(out["ts"].astype(np.int64), unit="us", utc=True)
    out["value"] = out["value"].astype(float)
    return out.sort_values(keys[::-1], kind="stable").reset_index(drop=True)


def hall_series(hall_ids, field, start, end, *, max_points=DEFAULT_MAX_POINTS, now=None, resolution=None):
    """A hall aggregate (e.g. it_power_w, inlet_temp_max) per hall: DataFrame(ts, hall_id, value). Hourly
    rollups fill the front of the range where the level picked holds no data, as in point_series."""
    _check(field in HALL_ROLLUP_FIELDS, f"unknown hall field {field!r}; one of {', '.join(HALL_ROLLUP_FIELDS)}")
    levels = (Resolution.MINUTE, Resolution.FIVE_MINUTES, Resolution.HOUR)
    level = (
        pick_resolution(start, end, max_points=max_points, now=now, levels=levels) if resolution is None else resolution
    )
    sql = (
        f"SELECT ts, hall_id, {field} FROM telemetry_hallrollup "
        "WHERE hall_id IN ({ids}) AND resolution = %s AND ts >= %s AND ts < %s"
    )
    frame = _fetch(sql, hall_ids, [int(level), start, end], ["ts", "hall_id", "value"]).dropna(subset=["value"])
    if resolution is None and level != Resolution.HOUR:

        def hourly(ids, upto):
            return hall_series(ids, field, start, upto, resolution=Resolution.HOUR)

        frame = _hourly_front(frame, "hall_id", hall_ids, start, end, hourly)
    return _downsample(frame, "hall_id", max_points)


def _hourly_front(frame, key, ids, start, end, read_hourly):
    """`frame` with hourly rows prepended for each id whose data at the finer level starts more than 5 % of the
    range after `start` (or is missing): read_hourly(ids, upto) reads them, one query for all such ids."""
    firsts = frame.groupby(key)["ts"].min().to_dict()
    late = pd.Timestamp(start) + (end - start) * 0.05
    short = {
        i: firsts.get(i, pd.Timestamp(end)) for i in (int(i) for i in ids) if firsts.get(i, pd.Timestamp(end)) > late
    }
    if not short:
        return frame
    older = read_hourly(list(short), max(short.values()).to_pydatetime())
    older = older[older["ts"] < older[key].map(short)]
    return pd.concat([older, frame]) if not older.empty else frame


def fleet_gpu_util(hall_ids, start, end, *, max_points=DEFAULT_MAX_POINTS, now=None):
    """Average GPU utilization over the halls' GPUs, from hall rollups: DataFrame(ts, value)."""
    levels = (Resolution.MINUTE, Resolution.FIVE_MINUTES, Resolution.HOUR)
    level = pick_resolution(start, end, max_points=max_points, now=now, levels=levels)
    sql = (
        "SELECT ts, sum(gpu_util_avg * gpu_count) / nullif(sum(gpu_count), 0) FROM telemetry_hallrollup "
        "WHERE hall_id IN ({ids}) AND resolution = %s AND ts >= %s AND ts < %s AND gpu_util_avg IS NOT NULL "
        "GROUP BY ts ORDER BY ts"
    )
    return _fetch(sql, hall_ids, [int(level), start, end], ["ts", "value"])


def _check(condition, message):
    if not condition:
        raise ValueError(message)


def _ts():
    """The ts column as Unix microseconds on PostgreSQL: parsing 74,000 timestamps into datetimes took 10x the
    query itself (all GPUs' 5-minute day)."""
    return sealing.ts_micros() if connection.vendor == "postgresql" else "ts"


def _rows(sql, ids, params):
    ids = [int(i) for i in ids]
    if not ids:
        return []
    return sealing.fetch(sql.replace("{ids}", ", ".join(["%s"] * len(ids))), ids + list(params))


def _fetch(sql, ids, params, columns):
    ids = [int(i) for i in ids]
    if not ids:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(_rows(sql, ids, params), columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    if "value" in frame:
        frame["value"] = frame["value"].astype(float)
    return frame.sort_values(columns[:-1][::-1] if len(columns) > 2 else "ts", kind="stable").reset_index(drop=True)


def _downsample(frame, key, max_points):
    """Cap each trace at max_points (even) with MinMax bins: peaks and troughs survive."""
    if frame.empty or frame.groupby(key).size().max() <= max_points:
        return frame.sort_values([key, "ts"]).reset_index(drop=True)
    parts = []
    for _, trace in frame.sort_values([key, "ts"]).groupby(key, sort=True):
        if len(trace) > max_points:
            x = trace["ts"].dt.tz_convert(None).to_numpy().view(np.int64)
            y = trace["value"].to_numpy(dtype=np.float64)
            trace = trace.iloc[MinMaxDownsampler().downsample(x, y, n_out=max_points - max_points % 2)]
        parts.append(trace)
    return pd.concat(parts).reset_index(drop=True)
