"""Incremental, idempotent 1-minute, 5-minute and 1-hour rollups (min, max, avg, count, last) and retention.

Each level recomputes whole buckets from its watermark minus a lag for late data, with
INSERT ... ON CONFLICT DO UPDATE: a re-run (after a crash, or twice) writes the same rows. 1m is built from
raw samples, 5m from 1m, 1h from 5m (averages weighted by counts, so every level equals a direct
aggregation of the raw samples). Hall aggregates (IT power, GPU utilization, hottest inlet/GPU) are built at
each level from that level's GPU and series rollups. On PostgreSQL all of it is SQL; on SQLite (the embedded
demo) the same aggregation runs in pandas, vectorised per (entity, bucket). Reads search each entity's buckets
in the primary keys, so a refresh costs what the recomputed buckets hold, not what the tables hold.

Isolation: refresh_rollups runs each organization on its own, with its own watermark per level. When one
organization's refresh fails (a stored value no aggregate can take, such as 1e308 W summed twice), its raw
values outside the vocabulary's physical bounds are moved to QuarantinedValue and the refresh is tried again;
if it still fails, its watermarks stay where they are with the error recorded (the Sources page shows it)
and the other organizations go on. The next refresh catches up from there once the cause is gone.
"""

import logging
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q

from . import partitions, promstore, sealing
from .models import (
    HALL_ROLLUP_FIELDS,
    Gpu,
    GpuRollup,
    GpuSample,
    HallRollup,
    Organization,
    QuarantinedValue,
    Resolution,
    RollupWatermark,
    Sample,
    SeriesRollup,
)
from .validation import RULES
from .vocabulary import GPU_METRICS, POINT_METRICS

log = logging.getLogger(__name__)

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
    """Bring every level of every organization up to `now`; returns {organization id: {resolution: (start,
    end)} recomputed}, without the organizations whose refresh failed (their watermarks record why)."""
    done = {}
    for organization in Organization.objects.order_by("pk"):
        try:
            done[organization.pk] = _refresh_organization(organization, now)
        except (DatabaseError, ArithmeticError, ValueError) as exc:
            log.exception("rollup refresh of organization %s failed; the others go on", organization)
            message = f"{type(exc).__name__}: {exc}"[:2000]
            marks = RollupWatermark.objects.filter(organization=organization)
            marks.filter(failing_since__isnull=True).update(failing_since=now)
            marks.update(error=message)
    # The levels' shared watermarks (read by backfill and benchmarks): as far as every organization got.
    for resolution in LEVELS:
        upto = [d[resolution][2] for d in done.values()]
        if upto and len(done) == Organization.objects.count():
            RollupWatermark.objects.update_or_create(name=f"level_{resolution}", defaults={"upto": min(upto)})
    return {org: {res: span[:2] for res, span in levels.items()} for org, levels in done.items()}


def _refresh_organization(organization, now):
    lag = timedelta(seconds=settings.TELEMETRY_ROLLUP_LAG_S)
    shared = {m.name: m.upto for m in RollupWatermark.objects.filter(organization__isnull=True)}
    marks = {m.name: m for m in RollupWatermark.objects.filter(organization=organization)}
    spans = {}
    for resolution in LEVELS:
        name = f"level_{resolution}_org_{organization.pk}"
        if name not in marks:  # where a failure will be recorded; from the shared mark of before isolation
            since = shared.get(f"level_{resolution}", now - FIRST_RUN_SPAN)
            marks[name] = RollupWatermark.objects.create(name=name, upto=since, organization=organization)
        since = marks[name].upto
        spans[resolution] = (floor(min(since, now - lag), resolution), ceil(now, resolution), now - lag)
    try:
        for resolution, (start, end, _) in spans.items():
            rollup_range(resolution, start, end, organization=organization)
    except (DatabaseError, ArithmeticError, ValueError):
        # Values out of bounds in the raw range that the coarsest level rebuilds: quarantine, then all again.
        if not quarantine_out_of_bounds(organization, spans[LEVELS[-1]][0], now):
            raise
        for resolution, (start, end, _) in spans.items():
            rollup_range(resolution, start, end, organization=organization)
    for resolution, (_, _, upto) in spans.items():
        RollupWatermark.objects.update_or_create(
            name=f"level_{resolution}_org_{organization.pk}",
            defaults={"upto": upto, "organization": organization, "error": "", "failing_since": None},
        )
    return spans


def rollup_range(resolution, start, end, *, organization=None):
    """Recompute the GPU, series and hall buckets of one level that start in [start, end) (of one
    organization, else of all)."""
    start, end = floor(start, resolution), ceil(end, resolution)
    org = organization.pk if organization is not None else None
    with transaction.atomic():
        if connection.vendor == "postgresql":
            sealed = sealing.any_sealed(start, end)
            (_gpu_from_raw if sealed else _gpu_sql)(resolution, start, end, org)
            _series_sql(resolution, start, end, org)
            _hall_sql(resolution, start, end, org)
            if sealed and resolution == Resolution.MINUTE:
                sealing.drop_sealed_minutes(start, end)  # the hall rollups have them; reads derive them
        else:
            _gpu_sqlite(resolution, start, end, org)
            _series_sqlite(resolution, start, end, org)
            _hall_sqlite(resolution, start, end, org)


def quarantine_out_of_bounds(organization, start, end):
    """Move the organization's raw values in [start, end) that lie outside the physical bounds (or are NaN)
    into QuarantinedValue: a GPU column is set NULL, a series sample deleted. Returns how many moved."""
    moved = []
    with transaction.atomic():
        sealing.unseal(Gpu.objects.for_org(organization).values_list("pk", flat=True), start, end)
        gpu_rows = GpuSample.objects.for_org(organization).filter(ts__gte=start, ts__lt=end)
        for metric in GPU_METRICS:
            low, high, _ = RULES[metric]
            bad = gpu_rows.filter(**{f"{metric}__isnull": False}).exclude(**{f"{metric}__range": (low, high)})
            for gpu_id, ts, value in bad.values_list("gpu_id", "ts", metric):
                moved.append(QuarantinedValue(gpu_id=gpu_id, ts=ts, metric=metric, value=value))
            bad.update(**{metric: None})
        out = Q()
        for metric in POINT_METRICS:
            low, high, _ = RULES[metric]
            out |= Q(series__metric=metric) & ~Q(value__range=(low, high))
        bad = Sample.objects.for_org(organization).filter(out, ts__gte=start, ts__lt=end)
        for series_id, ts, value, metric in bad.values_list("series_id", "ts", "value", "series__metric"):
            moved.append(QuarantinedValue(series_id=series_id, ts=ts, metric=metric, value=value))
        bad.delete()
        for value in moved:
            low, high, _ = RULES[value.metric]
            value.organization = organization
            value.reason = f"{value.value:g} is outside {low:g}..{high:g}, what {value.metric} can physically be"
        QuarantinedValue.objects.bulk_create(moved)
    if moved:
        log.warning("quarantined %d out-of-bounds values of %s", len(moved), organization)
    return len(moved)


def apply_retention(*, now):
    """Drop raw partitions and sealed blocks of the same days (PostgreSQL) or rows past raw retention, and
    rollups past theirs."""
    days = settings.TELEMETRY_RETENTION_DAYS
    raw_cutoff = now - timedelta(days=days["raw"])
    cutoff_day = raw_cutoff.astimezone(UTC).date()
    removed = {"partitions": partitions.drop_before(cutoff_day)}
    removed["blocks"] = sealing.drop_before(datetime.combine(cutoff_day, datetime.min.time(), UTC))
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


# Rollup reads name the entities so that the primary key (resolution, entity, ts) is searched per entity for the
# time range; `resolution = x AND ts ...` alone walks every row of the level (weeks of 1-minute rows).
# One organization's: its GPUs through their places, its series by their owner (org ids are ints, inlined).
_ORG_GPUS = (
    "SELECT gp.id FROM telemetry_gpu gp JOIN telemetry_node n ON n.id = gp.node_id "
    "JOIN telemetry_rack k ON k.id = n.rack_id JOIN telemetry_hall h ON h.id = k.hall_id "
    "JOIN telemetry_site si ON si.id = h.site_id WHERE si.organization_id = {org}"
)


def _each_gpu(org):
    if org is None:
        return "gpu_id IN (SELECT id FROM telemetry_gpu)"
    return f"gpu_id IN ({_ORG_GPUS.format(org=int(org))})"


def _each_series(org):
    where = "" if org is None else f" WHERE organization_id = {int(org)}"
    return f"series_id IN (SELECT id FROM telemetry_series{where})"


def _raw_scope(entity_scope, org):
    """The raw tables are read by time (BRIN); one organization's rows also by entity."""
    return "" if org is None else f" AND {entity_scope}"


def _bucket(resolution):
    return f"date_bin('{int(resolution)} seconds', ts, TIMESTAMPTZ '2000-01-01 00:00+00')"


def _gpu_sql(resolution, start, end, org=None):
    if resolution == Resolution.MINUTE and promstore.enabled():
        return _gpu_promql(resolution, start, end, org)
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
        source = f"telemetry_gpusample WHERE ts >= %s AND ts < %s{_raw_scope(_each_gpu(org), org)}"
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
        source = f"telemetry_gpurollup WHERE resolution = %s AND {_each_gpu(org)} AND ts >= %s AND ts < %s"
        params = [int(SOURCE_LEVEL[resolution]), start, end]
    select = (
        f"SELECT {int(resolution)}, gpu_id, {_bucket(resolution)} AS bucket, {', '.join(parts)} "
        f"FROM {source} GROUP BY gpu_id, bucket"
    )
    return _upsert("telemetry_gpurollup", ["resolution", "gpu_id", "ts"], GPU_ROLLUP_COLUMNS, select, params)


def _gpu_from_raw(resolution, start, end, org=None):
    """_gpu_sql for a range holding sealed GPU-hours, which SQL cannot read: every level straight from the raw
    samples (blocks and rows, telemetry.sealing) in pandas, an hour at a time (buckets never cross hours)."""
    with connection.cursor() as cursor:
        cursor.execute(_ORG_GPUS.format(org=int(org)) if org is not None else "SELECT id FROM telemetry_gpu")
        gpu_ids = [row[0] for row in cursor.fetchall()]
    written, hour = 0, start
    while hour < end:
        upto = min(floor(hour, 3600) + timedelta(hours=1), end)
        raw = sealing.read_raw(gpu_ids, GPU_METRICS, hour, upto)
        if len(raw):
            frame = pd.DataFrame({"entity": raw.gpu_ids, "t": raw.micros // 1_000_000, **raw.values})
            out = _fold(frame, resolution, list(GPU_METRICS), lambda m, s: f"{m}_{s}", raw=True)
            written += _write(GpuRollup, "gpu_id", resolution, out, GPU_ROLLUP_COLUMNS)
        hour = upto
    return written


def _gpu_promql(resolution, start, end, org=None):
    """1-minute GPU rollups from the raw samples in Prometheus (TELEMETRY_RAW_STORE = "prometheus")."""
    out = promstore.minute_rollups(start, end, org)
    return _write(GpuRollup, "gpu_id", resolution, out, GPU_ROLLUP_COLUMNS) if len(out) else 0


def _series_sql(resolution, start, end, org=None):
    if resolution == Resolution.MINUTE:
        stats = "min(value), max(value), avg(value), count(*), (array_agg(value ORDER BY ts DESC))[1]"
        source = f"telemetry_sample WHERE ts >= %s AND ts < %s{_raw_scope(_each_series(org), org)}"
        params = [start, end]
    else:
        stats = (
            'min("min"), max("max"), sum("avg" * "count") / sum("count"), sum("count"), '
            '(array_agg("last" ORDER BY ts DESC))[1]'
        )
        source = f"telemetry_seriesrollup WHERE resolution = %s AND {_each_series(org)} AND ts >= %s AND ts < %s"
        params = [int(SOURCE_LEVEL[resolution]), start, end]
    select = (
        f"SELECT {int(resolution)}, series_id, {_bucket(resolution)} AS bucket, {stats} "
        f"FROM {source} GROUP BY series_id, bucket"
    )
    columns = ['"min"', '"max"', '"avg"', '"count"', '"last"']
    return _upsert("telemetry_seriesrollup", ["resolution", "series_id", "ts"], columns, select, params)


# Per node: its measured input power when it reports one, else the sum of its GPUs' power. `place` is
# materialised so that each GPU's buckets are one index search and no join runs per rollup row.
_HALL_SELECT = """
WITH place AS MATERIALIZED (
    SELECT gp.id, k.hall_id, n.hostname
    FROM telemetry_gpu gp JOIN telemetry_node n ON n.id = gp.node_id JOIN telemetry_rack k ON k.id = n.rack_id
    WHERE {gpu_scope}
), g AS (
    SELECT r.ts, place.hall_id, place.hostname, r.gpu_util_avg, r.gpu_power_avg, r.gpu_temp_max
    FROM place JOIN telemetry_gpurollup r ON r.gpu_id = place.id
    WHERE r.resolution = %(res)s AND r.ts >= %(start)s AND r.ts < %(end)s
), s AS (
    SELECT r.ts, se.hall_id, se.entity, se.metric, r."avg", r."max"
    FROM telemetry_seriesrollup r JOIN telemetry_series se ON se.id = r.series_id
    WHERE r.resolution = %(res)s AND r.ts >= %(start)s AND r.ts < %(end)s
      AND se.hall_id IS NOT NULL AND se.metric IN ('node_power', 'node_inlet_temp') AND {series_scope}
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


def _hall_scopes(org):
    """(GPU scope, series scope) of the hall aggregates: one organization's, else every one."""
    if org is None:
        return "TRUE", "TRUE"
    return f"gp.id IN ({_ORG_GPUS.format(org=int(org))})", f"se.organization_id = {int(org)}"


def _hall_sql(resolution, start, end, org=None):
    params = {"res": int(resolution), "start": start, "end": end}
    gpu_scope, series_scope = _hall_scopes(org)
    select = _HALL_SELECT.format(gpu_scope=gpu_scope, series_scope=series_scope)
    return _upsert("telemetry_hallrollup", ["resolution", "hall_id", "ts"], HALL_ROLLUP_FIELDS, select, params)


# --- SQLite (the embedded default): the same aggregation in pandas ----------------------------------------
#
# Raw reads name the entities too (SQLite has no time index on raw samples, only the primary key (entity, ts)).
# Reads return ts as epoch seconds `t` (no per-row datetime parsing) in key order: chronological within each
# (entity, bucket), which `last` relies on.

UPSERT_BATCH = 5000
_T = "CAST(strftime('%%s', {}) AS INTEGER) AS t"


def upsert_rows(model, key, columns, rows):
    """INSERT ... ON CONFLICT (key) DO UPDATE of tuples (key..., columns...); a key given twice keeps its last
    row. The ORM's bulk_create spends ~100 µs a row building model instances. PostgreSQL: the rows are COPYed
    into a temp table and upserted from it in one statement (executemany cost ~190 µs a row: the demo seed's
    400,000 rollups took 79 s); SQLite: executemany in batches."""
    if not rows:
        return 0
    rows = list({tuple(row[: len(key)]): row for row in rows}.values())
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in [*key, *columns])
    table = model._meta.db_table
    conflict = f"ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET " + ", ".join(
        f"{quote(c)} = excluded.{quote(c)}" for c in columns
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            stage = f"hr_upsert_{table}"
            # Only these columns (the others keep their defaults in the table), whichever a caller names.
            cursor.execute(f"DROP TABLE IF EXISTS {stage}")
            cursor.execute(f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA")
            with cursor.cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} {conflict}")
            return len(rows)
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * (len(key) + len(columns)))}) {conflict}"
        ts_at = key.index("ts")
        adapt = {}
        for first in range(0, len(rows), UPSERT_BATCH):
            chunk = []
            for row in rows[first : first + UPSERT_BATCH]:
                ts = row[ts_at]
                if ts not in adapt:
                    adapt[ts] = connection.ops.adapt_datetimefield_value(ts)
                chunk.append((*row[:ts_at], adapt[ts], *row[ts_at + 1 :]))
            cursor.executemany(sql, chunk)
    return len(rows)


def _read(sql, params, columns, labels=()):
    """A raw query's rows as a DataFrame: `t` and ids as they come (integers), `labels` as text, the rest as
    floats (NULL as NaN)."""
    frame = pd.DataFrame.from_records(sealing.fetch(sql, params), columns=columns)
    numbers = [c for c in columns if c not in ("entity", "t", *labels) and not c.endswith("_id")]
    return frame.astype(dict.fromkeys(numbers, float))


def _fold(frame, resolution, metrics, name, *, raw):
    """Per (entity, bucket): min/max/avg/last/n of each metric, named name(metric, stat), from raw values
    (column `metric`) or from finer rollups (columns name(metric, stat)). `last` is the last value counted,
    as the SQL's FILTER; averages of rollups are weighted by their counts."""
    parts, how = {"entity": frame.entity, "t": frame.t // int(resolution) * int(resolution)}, {}
    for m in metrics:
        if raw:
            value = frame[m]
            n = value.notna().astype("int64")
            low = high = last = value
            weighted = value.fillna(0.0)
        else:
            n = frame[name(m, "n")]
            low, high = frame[name(m, "min")], frame[name(m, "max")]
            weighted = (frame[name(m, "avg")] * n).where(n > 0, 0.0)
            last = frame[name(m, "last")].where(n > 0)
        for stat, column, func in (
            ("min", low, "min"),
            ("max", high, "max"),
            ("avg", weighted, "sum"),
            ("last", last, "last"),
            ("n", n, "sum"),
        ):
            parts[name(m, stat)] = column
            how[name(m, stat)] = func
    out = pd.DataFrame(parts).groupby(["entity", "t"], sort=False).agg(how)
    for m in metrics:
        n = out[name(m, "n")]
        out[name(m, "avg")] = out[name(m, "avg")] / n.where(n > 0)
        out[name(m, "n")] = n.astype("int64")
    return out


def _write(model, entity, resolution, frame, columns):
    """Upsert a frame indexed by (entity id, bucket epoch seconds); NaN is written as NULL. An infinite
    aggregate (a sum past float8) raises as PostgreSQL's "out of range" does, so the caller quarantines."""
    if np.isinf(frame[columns].to_numpy(dtype=float)).any():
        raise ArithmeticError(f"{model._meta.db_table}: an aggregate overflowed to infinity")
    stamps = {t: datetime.fromtimestamp(int(t), UTC) for t in frame.index.unique(level="t")}
    values = frame[columns].to_numpy(dtype=object)  # Python ints and floats
    values[pd.isna(values)] = None
    rows = [
        (int(resolution), int(e), stamps[t], *row) for (e, t), row in zip(frame.index, values.tolist(), strict=True)
    ]
    return upsert_rows(model, ["resolution", entity, "ts"], columns, rows)


def _source_rows(resolution, raw_table, rollup_table, entity, each, columns, start, end):
    """The rows a level aggregates: raw samples for 1m, else the finer level's rollups."""
    where = f"{each} AND ts >= %s AND ts < %s"
    if resolution == Resolution.MINUTE:
        sql, params = f"SELECT {entity}, {_T.format('ts')}, {{}} FROM {raw_table} WHERE {where}", [start, end]
    else:
        sql = f"SELECT {entity}, {_T.format('ts')}, {{}} FROM {rollup_table} WHERE resolution = %s AND {where}"
        params = [int(SOURCE_LEVEL[resolution]), start, end]
    quote = connection.ops.quote_name
    return _read(sql.format(", ".join(quote(c) for c in columns)), params, ["entity", "t", *columns])


def _gpu_sqlite(resolution, start, end, org=None):
    if resolution == Resolution.MINUTE and promstore.enabled():
        return _gpu_promql(resolution, start, end, org)
    raw = resolution == Resolution.MINUTE
    columns = list(GPU_METRICS) if raw else GPU_ROLLUP_COLUMNS
    frame = _source_rows(
        resolution, "telemetry_gpusample", "telemetry_gpurollup", "gpu_id", _each_gpu(org), columns, start, end
    )
    if frame.empty:
        return 0
    out = _fold(frame, resolution, list(GPU_METRICS), lambda m, s: f"{m}_{s}", raw=raw)
    return _write(GpuRollup, "gpu_id", resolution, out, GPU_ROLLUP_COLUMNS)


SERIES_STATS = {"min": "min", "max": "max", "avg": "avg", "last": "last", "n": "count"}


def _series_sqlite(resolution, start, end, org=None):
    raw = resolution == Resolution.MINUTE
    columns = ["value"] if raw else list(SERIES_STATS.values())
    frame = _source_rows(
        resolution, "telemetry_sample", "telemetry_seriesrollup", "series_id", _each_series(org), columns, start, end
    )
    if frame.empty:
        return 0
    out = _fold(frame, resolution, ["value"], lambda m, s: SERIES_STATS[s], raw=raw)
    return _write(SeriesRollup, "series_id", resolution, out, list(SERIES_STATS.values()))


def _hall_sqlite(resolution, start, end, org=None):
    """_HALL_SELECT in pandas: per hall and bucket, from this level's GPU and series rollups."""
    params = [int(resolution), start, end]
    gpu_scope, series_scope = _hall_scopes(org)
    gpus = _read(
        f"SELECT r.gpu_id, {_T.format('r.ts')}, k.hall_id, n.hostname, r.gpu_util_avg, r.gpu_power_avg, "
        "r.gpu_temp_max FROM telemetry_gpu gp JOIN telemetry_node n ON n.id = gp.node_id "
        "JOIN telemetry_rack k ON k.id = n.rack_id "
        "JOIN telemetry_gpurollup r ON r.gpu_id = gp.id AND r.resolution = %s AND r.ts >= %s AND r.ts < %s "
        f"WHERE {gpu_scope}",
        params,
        ["gpu_id", "t", "hall_id", "hostname", "gpu_util_avg", "gpu_power_avg", "gpu_temp_max"],
        labels=["hostname"],
    )
    series = _read(
        f'SELECT {_T.format("r.ts")}, se.hall_id, se.entity, se.metric, r."avg", r."max" '
        "FROM telemetry_series se JOIN telemetry_seriesrollup r ON r.series_id = se.id "
        "AND r.resolution = %s AND r.ts >= %s AND r.ts < %s "
        "WHERE se.hall_id IS NOT NULL AND se.metric IN ('node_power', 'node_inlet_temp') "
        f"AND {series_scope}",
        params,
        ["t", "hall_id", "hostname", "metric", "avg", "max"],
        labels=["hostname", "metric"],
    )
    keys = ["t", "hall_id"]
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
        return 0
    halls["gpu_count"] = halls["gpu_count"].fillna(0).astype(int)
    halls = halls.reorder_levels(["hall_id", "t"])
    return _write(HallRollup, "hall_id", resolution, halls, list(HALL_ROLLUP_FIELDS))
