"""Write simulated history straight into the rollup tables, for spans older than raw retention.

telemetry.ingest refuses samples older than raw retention (7 days), and ingesting weeks of raw samples for
a whole fleet only to roll them up would take far too long for the demo, so the demo history keeps the
one-write-path rule for recent raw data and writes older history here, at the resolution pages and
forecasts read it. Each bucket's min/max/avg/count/last is computed from the simulated samples in the
bucket, exactly as telemetry.rollups computes it from raw samples, so the two kinds of rows agree.
Writes are upserts on the rollup keys: running a backfill twice writes the same rows.
"""

import math

import numpy as np
import pandas as pd
from django.db import transaction

from .ingest.points import resolve_series
from .models import HALL_ROLLUP_FIELDS, Event, Gpu, GpuRollup, Hall, HallRollup, RollupWatermark, SeriesRollup
from .rollups import LEVELS, STATS, upsert_rows
from .vocabulary import GPU_METRICS

BATCH_SIZE = 5000


def _buckets(times, resolution):
    """(bucket start datetimes, index of each bucket's first row) for sorted times."""
    stamps = pd.DatetimeIndex(times).floor(f"{int(resolution)}s")
    codes = stamps.asi8
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    return [stamps[i].to_pydatetime() for i in starts], starts


def _stats(values, starts):
    """Per bucket (rows) and column: min, max, avg and last of the non-NaN values, and their count n."""
    values = np.asarray(values, dtype=float)
    present = ~np.isnan(values)
    n = np.add.reduceat(present.astype(np.int64), starts, axis=0)
    total = np.add.reduceat(np.where(present, values, 0.0), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    rows = np.arange(len(values))[:, None]
    last_row = np.maximum.accumulate(np.where(present, rows, -1), axis=0)
    ends = np.r_[starts[1:], len(values)] - 1
    last_index = last_row[ends]
    columns = np.arange(values.shape[1])
    last = np.where(last_index >= starts[:, None], values[np.maximum(last_index, 0), columns], np.nan)
    return {
        "min": np.fmin.reduceat(values, starts, axis=0),
        "max": np.fmax.reduceat(values, starts, axis=0),
        "avg": avg,
        "n": n,
        "last": last,
    }


SERIES_COLUMNS = ["min", "max", "avg", "count", "last"]


def hall_rollups(sim, hall_ids, resolution):
    """Rows (resolution, hall_id, ts, *HALL_ROLLUP_FIELDS) of a Simulation's halls (one id per sim.halls entry)."""
    stamps, starts = _buckets(sim.times, resolution)
    stats = {key: _stats(values, starts) for key, values in sim.hall.items()}
    picks = [
        ("gpu_count", "max"),
        ("gpu_util", "avg"),
        ("gpu_power", "avg"),
        ("it_power", "avg"),  # node power: the simulator measures every node
        ("it_power", "avg"),
        ("gpu_temp_max", "max"),
        ("inlet_max", "max"),
    ]
    columns = [stats[key][stat].tolist() for key, stat in picks]
    rows = []
    for b, ts in enumerate(stamps):
        for h, hall_id in enumerate(hall_ids):
            values = [_num(c[b][h]) for c in columns]
            values[0] = int(values[0] or 0)
            rows.append((int(resolution), hall_id, ts, *values))
    return rows


def write_hall_rollups(sim, hall_ids, resolution):
    rows = hall_rollups(sim, hall_ids, resolution)
    return upsert_rows(HallRollup, ["resolution", "hall_id", "ts"], HALL_ROLLUP_FIELDS, rows)


def write_series_rollups(organization, times, columns, resolutions):
    """columns: {(entity_kind, entity, metric): 1-D array over `times`}. Creates the series (the
    entities must be in the inventory) and writes one SeriesRollup per bucket and resolution."""
    series = resolve_series(organization, set(columns), auto_register=False)
    missing = set(columns) - set(series)
    if missing:
        raise ValueError(f"not in the inventory, cannot backfill: {sorted(missing)[:5]}")
    keys = list(columns)
    values = np.column_stack([columns[k] for k in keys])
    rows = []
    for resolution in resolutions:
        stamps, starts = _buckets(times, resolution)
        stats = _stats(values, starts)
        for c, key in enumerate(keys):
            low, high, avg, n, last = (stats[k][:, c].tolist() for k in ("min", "max", "avg", "n", "last"))
            rows.extend(
                (int(resolution), series[key], ts, low[b], high[b], avg[b], n[b], last[b])
                for b, ts in enumerate(stamps)
                if n[b]
            )
    return upsert_rows(SeriesRollup, ["resolution", "series_id", "ts"], SERIES_COLUMNS, rows)


def write_gpu_rollups(sim, gpu_ids, columns, resolutions):
    """GpuRollup rows for the GPUs at positions `columns` of sim.gpus (gpu_ids: uuid -> id)."""
    names = [f"{metric}_{stat}" for metric in GPU_METRICS for stat in STATS]
    rows = []
    for resolution in resolutions:
        stamps, starts = _buckets(sim.times, resolution)
        for g in columns:
            alive = sim.alive[:, g]
            if not alive.any():
                continue
            values = np.column_stack([np.where(alive, sim.gpu[m][:, g], np.nan) for m in GPU_METRICS])
            stats = {k: v.tolist() for k, v in _stats(values, starts).items()}
            gpu_id = gpu_ids[sim.gpus[g].uuid]
            for b, ts in enumerate(stamps):
                if any(stats["n"][b]):
                    fields = [
                        stats[stat][b][c] if stat == "n" else _num(stats[stat][b][c])
                        for c in range(len(GPU_METRICS))
                        for stat in STATS
                    ]
                    rows.append((int(resolution), gpu_id, ts, *fields))
    return upsert_rows(GpuRollup, ["resolution", "gpu_id", "ts"], names, rows)


def write_events(organization, events, gpu_ids):
    """Store EventReadings older than raw retention (ingest refuses them) under ingest's keys."""
    rows = {}
    for e in events:
        key = Event.make_key(e.kind, e.ts, e.gpu_uuid, e.entity, e.code)
        rows[key] = Event(
            organization=organization,
            gpu_id=gpu_ids.get(e.gpu_uuid) if e.gpu_uuid else None,
            entity=e.entity,
            kind=e.kind,
            code=e.code,
            ts=e.ts,
            detail=e.detail,
            key=key,
        )
    Event.objects.bulk_create(list(rows.values()), batch_size=BATCH_SIZE, ignore_conflicts=True)
    return len(rows)


def mark_rollups_complete(upto):
    """Tell telemetry.rollups that buckets before `upto` are done, so that its next refresh starts there
    instead of recomputing the last day from the (partial) GPU rollups of backfilled history."""
    with transaction.atomic():
        for resolution in LEVELS:
            RollupWatermark.objects.update_or_create(name=f"level_{resolution}", defaults={"upto": upto})


def gpu_ids_of(organization):
    return dict(Gpu.objects.for_org(organization).values_list("uuid", "id"))


def hall_ids_of(organization, sim):
    """Hall ids in sim.halls order (halls are named uniquely per site)."""
    ids = {(s, h): i for i, s, h in Hall.objects.for_org(organization).values_list("id", "site__name", "name")}
    return [ids[(site.name, hall.name)] for site, hall in sim.halls]


def _num(value):
    return None if value is None or not math.isfinite(value) else float(value)
