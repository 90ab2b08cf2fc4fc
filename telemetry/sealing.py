"""Sealed GPU-hours: raw GPU samples older than a few hours kept as one compressed block per GPU and hour.

PostgreSQL only; SQLite (the embedded demo) keeps rows. `seal` moves every GPU-hour before its cutoff from
telemetry_gpusample into telemetry_gpublock (telemetry.blocks: ~1.4 bytes a value where rows take ~18), one
transaction per hour and batch of GPUs, so that a crash leaves each GPU-hour either rows or a block, never
both or neither; a day that is over for sealing has its partition truncated in the transaction that seals
its last rows (the rows' space back at once, not after a vacuum). Rows that arrive later for a sealed hour
(back-fill, a re-sent batch) stay rows until the next seal merges them into the block; where such a row
repeats an instant the block holds, the block wins, as ingest keeps the first write of an instant.
`read_raw` is the one reader of raw GPU samples (blocks and rows merged); the 1-minute GPU rollups of a
sealed hour are dropped with it and derived from the block when read (telemetry.query).
"""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction

from . import blocks, partitions
from .models.samples import DOUBLE_PRECISION_METRICS, INTEGER_METRICS, Resolution
from .vocabulary import GPU_METRICS

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
GPUS_PER_BATCH = 1000  # GPU-hours sealed per transaction: memory stays at one batch's hour of rows
_SEAL_LOCK = 0x5EA1  # a session advisory lock: one sealer at a time
_ROWS = "telemetry_gpusample"
OVERLAPS = "start > %s AND start < %s"  # with (start - 1 h, end): the blocks overlapping [start, end)
METRICS = list(GPU_METRICS)


def ts_micros(column="ts"):
    """SQL of a timestamptz column as Unix microseconds (int8): numpy reads these without datetime objects."""
    return f"(extract(epoch FROM {column}) * 1000000)::int8"


@dataclass(frozen=True)
class RawSamples:
    """GPU samples sorted by (gpu_id, micros): values float64, NaN where the GPU did not report the metric."""

    gpu_ids: np.ndarray
    micros: np.ndarray
    values: dict

    def __len__(self):
        return int(self.micros.size)


def is_sealing():
    return partitions.is_partitioned(connection)


def read_raw(gpu_ids, metrics, start, end):
    """Every raw sample of these GPUs in [start, end): the sealed blocks' and the rows', merged (the block's
    values where both hold an instant)."""
    ids = sorted({int(i) for i in gpu_ids})
    metrics = list(metrics)
    if not ids:
        return _merge([_empty(metrics)], metrics)
    if not is_sealing():  # SQLite: rows only, ts as text
        rows = fetch(f"SELECT gpu_id, ts, {', '.join(metrics)} FROM {_ROWS} WHERE {_in_range(ids)}", [*ids, start, end])
        columns = list(zip(*rows, strict=True))
        micros = pd.to_datetime(list(columns[1]), utc=True).as_unit("us").asi8 if rows else np.empty(0, np.int64)
        return _merge([_columns_part(columns, micros, metrics)], metrics)
    # One query for both: row rows have no block (NULL last column), block rows nothing but their block.
    names, nulls = ", ".join(metrics), ", NULL" * len(metrics)
    rows = fetch(
        f"SELECT gpu_id, {ts_micros()}, {names}, NULL::bytea FROM {_ROWS} WHERE {_in_range(ids)} UNION ALL "
        f"SELECT gpu_id, NULL{nulls}, data FROM telemetry_gpublock WHERE gpu_id = ANY(%s) AND {OVERLAPS}",
        [*ids, start, end, ids, start - HOUR, end],
    )
    sealed = [r for r in rows if r[-1] is not None]
    columns = list(zip(*(r for r in rows if r[-1] is None), strict=True))
    parts = [_block_part(r[0], bytes(r[-1]), metrics, start, end) for r in sealed]
    parts.append(_columns_part(columns, np.array(columns[1] if columns else [], np.int64), metrics))
    return _merge(parts, metrics)


def any_sealed(start, end):
    """Whether any block overlaps [start, end) (one index probe)."""
    if not is_sealing():
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM telemetry_gpublock WHERE {OVERLAPS})", [start - HOUR, end])
        return cursor.fetchone()[0]


def _in_range(ids):
    return f"gpu_id IN ({', '.join(['%s'] * len(ids))}) AND ts >= %s AND ts < %s"


def fetch(sql, params):
    """A raw query's rows, datetime parameters adapted as Django stores them: SQLite compares text, and
    '… 08:00:00' (stored) is not >= '… 08:00:00+00:00' (sqlite3's own adaptation), so a range's first
    instant went missing."""
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(p) if isinstance(p, datetime) else p for p in params])
        return cursor.fetchall()


def _columns_part(columns, micros, metrics):
    if not columns:
        return _empty(metrics)
    values = {m: np.array(columns[2 + k], np.float64) for k, m in enumerate(metrics)}  # NULL (None) -> NaN
    return np.array(columns[0], np.int64), micros, values


def _block_part(gpu_id, data, metrics, start, end):
    micros, columns = blocks.decode(data)
    keep = (micros >= to_micros(start)) & (micros < to_micros(end))
    values = {}
    for m in metrics:
        if m in columns:
            value, present = columns[m]
            values[m] = np.where(present, value, np.nan).astype(np.float64)[keep]
        else:
            values[m] = np.full(int(keep.sum()), np.nan)
    return np.full(int(keep.sum()), gpu_id, np.int64), micros[keep], values


def _empty(metrics):
    return np.empty(0, np.int64), np.empty(0, np.int64), {m: np.empty(0) for m in metrics}


def _merge(parts, metrics):
    """One RawSamples of the parts, sorted; where parts repeat a (GPU, instant) the earliest part wins."""
    ids = np.concatenate([p[0] for p in parts])
    micros = np.concatenate([p[1] for p in parts])
    rank = np.concatenate([np.full(p[1].size, k) for k, p in enumerate(parts)])
    order = np.lexsort((rank, micros, ids))
    ids, micros = ids[order], micros[order]
    first = np.ones(ids.size, bool)
    first[1:] = (ids[1:] != ids[:-1]) | (micros[1:] != micros[:-1])
    values = {m: np.concatenate([p[2][m] for p in parts])[order][first] for m in metrics}
    return RawSamples(ids[first], micros[first], values)


def to_micros(ts):
    return (ts - UNIX_EPOCH) // timedelta(microseconds=1)


def from_micros(micros):
    return UNIX_EPOCH + timedelta(microseconds=int(micros))


# --- sealing ---------------------------------------------------------------------------------------------------


def seal(*, now, after_hours=None):
    """Seal every GPU-hour that ends TELEMETRY_SEAL_AFTER_HOURS (or after_hours) before `now`, merging late rows
    into blocks sealed before; truncate the partitions of days wholly before that. Returns what it did:
    {"blocks": written, "rows": sealed, "truncated": [partition names]}. Does nothing on SQLite, or while
    another seal runs."""
    after = settings.TELEMETRY_SEAL_AFTER_HOURS if after_hours is None else after_hours
    cutoff = UNIX_EPOCH + HOUR * ((now - timedelta(hours=after) - UNIX_EPOCH) // HOUR)
    done = {"blocks": 0, "rows": 0, "truncated": []}
    if not is_sealing():
        return done
    with _sole_sealer() as alone:
        if not alone:
            return done
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM telemetry_gpu ORDER BY id")
            gpu_ids = [row[0] for row in cursor.fetchall()]
        batches = [gpu_ids[k : k + GPUS_PER_BATCH] for k in range(0, len(gpu_ids), GPUS_PER_BATCH)]
        midnight = datetime.combine(cutoff.date(), datetime.min.time(), UTC)
        for name, day in partitions.list_partitions(_ROWS):
            start = datetime.combine(day, datetime.min.time(), UTC)
            if start + timedelta(days=1) <= midnight and _has_pages(name):
                _seal_day(name, start, batches, done)
        for hour in _hours_with_rows(midnight, cutoff):
            for batch in batches:
                with transaction.atomic(), connection.cursor() as cursor:
                    select = (
                        f"DELETE FROM {_ROWS} WHERE {{where}} RETURNING gpu_id, {ts_micros()}, {', '.join(METRICS)}"
                    )
                    _seal_hour(cursor, select, hour, batch, done)
    return done


def _seal_day(name, start, batches, done):
    """All of one day's rows into blocks and the partition truncated, in one transaction; the lock keeps late
    rows out of the partition meanwhile (they wait and land in the emptied one). Rows of GPUs no longer in the
    inventory go with the truncation: deleting a GPU deletes its samples anyway. TRUNCATE is not MVCC-safe: a
    read whose snapshot predates the commit and that waited for the lock finds the day empty, once."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE")
        select = f"SELECT gpu_id, {ts_micros()}, {', '.join(METRICS)} FROM {name} WHERE {{where}}"
        for hour in (start + HOUR * k for k in range(24)):
            for batch in batches:
                _seal_hour(cursor, select, hour, batch, done)
        cursor.execute(f"TRUNCATE {name}")
    done["truncated"].append(name)


def _seal_hour(cursor, select, hour, gpu_ids, done):
    """Encode one hour of these GPUs' rows (taken by `select`) into blocks, merged with blocks already there."""
    cursor.execute(select.format(where="gpu_id = ANY(%s) AND ts >= %s AND ts < %s"), [gpu_ids, hour, hour + HOUR])
    rows = cursor.fetchall()
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    ids, micros = np.array(columns[0], np.int64), np.array(columns[1], np.int64)
    raw = [np.array(c, object) for c in columns[2:]]
    cursor.execute(
        "SELECT gpu_id, data FROM telemetry_gpublock WHERE start = %s AND gpu_id = ANY(%s) FOR UPDATE",
        [hour, sorted({int(i) for i in ids})],
    )
    sealed = {gpu_id: blocks.decode(bytes(data)) for gpu_id, data in cursor.fetchall()}
    order = np.lexsort((micros, ids))
    written = []
    for part in np.split(order, np.flatnonzero(np.diff(ids[order])) + 1):
        gpu_id = int(ids[part[0]])
        block = {m: _exact(m, c[part]) for m, c in zip(METRICS, raw, strict=True)}
        stamps = micros[part]
        if gpu_id in sealed:
            stamps, block = _merge_exact(sealed[gpu_id], stamps, block)
        block = {m: column for m, column in block.items() if column[1].any()}
        data = blocks.encode(stamps, block, integer=INTEGER_METRICS, double=DOUBLE_PRECISION_METRICS)
        written.append((gpu_id, hour, int(stamps.size), data))
    cursor.executemany(
        "INSERT INTO telemetry_gpublock (gpu_id, start, rows, data) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (gpu_id, start) DO UPDATE SET rows = EXCLUDED.rows, data = EXCLUDED.data",
        written,
    )
    # A sealed hour's 1-minute GPU rollups are derived from its block when read (telemetry.query).
    cursor.execute(
        "DELETE FROM telemetry_gpurollup WHERE resolution = %s AND gpu_id = ANY(%s) AND ts >= %s AND ts < %s",
        [int(Resolution.MINUTE), [w[0] for w in written], hour, hour + HOUR],
    )
    done["blocks"] += len(written)
    done["rows"] += len(rows)


def _exact(metric, values):
    """(values, present) of one stored column as blocks.encode takes it: int64 or float64, 0 where NULL."""
    present = values != None  # noqa: E711 - an object array: NULL is None
    kind = np.int64 if metric in INTEGER_METRICS else np.float64
    return np.where(present, values, 0).astype(kind), present.astype(bool)


def _merge_exact(decoded, micros, columns):
    """A sealed block's samples merged with rows of its hour; the block's where both hold an instant."""
    block_micros, block_columns = decoded
    stamps = np.concatenate([block_micros, micros])
    stamps, first = np.unique(stamps, return_index=True)  # the first occurrence: the block's
    merged = {}
    for m in METRICS:
        kind = np.int64 if m in INTEGER_METRICS else np.float64
        old = block_columns.get(m, (np.zeros(block_micros.size, kind), np.zeros(block_micros.size, bool)))
        merged[m] = tuple(np.concatenate([o.astype(n.dtype), n])[first] for o, n in zip(old, columns[m], strict=True))
    return stamps, merged


def _has_pages(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s::regclass) > 0", [name])
        return cursor.fetchone()[0]


def _hours_with_rows(start, end):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00+00') FROM {_ROWS} "
            "WHERE ts >= %s AND ts < %s ORDER BY 1",
            [start, end],
        )
        return [row[0] for row in cursor.fetchall()]


@contextmanager
def _sole_sealer():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_SEAL_LOCK])
        alone = cursor.fetchone()[0]
    try:
        yield alone
    finally:
        if alone:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_SEAL_LOCK])


# --- repairs and retention ---------------------------------------------------------------------------------


def unseal(gpu_ids, start, end):
    """Turn these GPUs' blocks overlapping [start, end) back into rows (whole hours), in one transaction, for
    the rare repairs that rewrite stored values in place (rollups.quarantine_out_of_bounds); the next seal
    seals them again. Returns the rows written."""
    ids = [int(i) for i in gpu_ids]
    if not ids or not is_sealing():
        return 0
    rows = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM telemetry_gpublock WHERE gpu_id = ANY(%s) AND {OVERLAPS} RETURNING gpu_id, data",
            [ids, start - HOUR, end],
        )
        for gpu_id, data in cursor.fetchall():
            micros, columns = blocks.decode(bytes(data))
            cells = [columns.get(m) for m in METRICS]
            for k, stamp in enumerate(micros.tolist()):
                values = [c[0][k].item() if c is not None and c[1][k] else None for c in cells]
                rows.append((gpu_id, from_micros(stamp), *values))
        if rows:
            partitions.ensure_partitions({r[1].date() for r in rows})
            values = ", ".join(["%s"] * (2 + len(METRICS)))
            cursor.executemany(
                f"INSERT INTO {_ROWS} (gpu_id, ts, {', '.join(METRICS)}) VALUES ({values}) "
                f"ON CONFLICT (gpu_id, ts) DO UPDATE SET {', '.join(f'{m} = EXCLUDED.{m}' for m in METRICS)}",
                rows,
            )
    return len(rows)


def drop_sealed_minutes(start, end):
    """Delete the 1-minute GPU rollups in [start, end) of sealed GPU-hours (a recomputation wrote them for its
    hall rollups): reads derive them from the blocks."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM telemetry_gpurollup r USING telemetry_gpublock b WHERE r.resolution = %s "
            "AND r.ts >= %s AND r.ts < %s AND b.gpu_id = r.gpu_id "
            "AND b.start = date_bin('1 hour', r.ts, TIMESTAMPTZ '2000-01-01 00:00+00')",
            [int(Resolution.MINUTE), start, end],
        )
        return cursor.rowcount


def drop_before(cutoff):
    """Delete the blocks of hours starting before `cutoff`; returns how many."""
    if not is_sealing():
        return 0
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM telemetry_gpublock WHERE start < %s", [cutoff])
        return cursor.rowcount
