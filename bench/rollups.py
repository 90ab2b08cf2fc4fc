"""Rollup refresh per beat tick on the demo fleet, against reading the same new raw rows once.

    .venv/bin/python bench/rollups.py sqlite      # the embedded default (file under /tmp, recreated)
    .venv/bin/python bench/rollups.py postgres    # DATABASE_URL's server; drops and creates headroom_bench_rollups
    BENCH_FILL_HOURS=24 BENCH_TICKS=12 ...        # older raw data and 1-minute rollups to carry; ticks timed

Seeds the demo organization (2,176 GPUs) with a week of history (telemetry.demo_history), adds
BENCH_FILL_HOURS of older raw samples and 1-minute rollups (copies of the seeded raw window, shifted back) so
the tables are not tiny, then for BENCH_TICKS simulated minutes crossing an hour boundary: ingests one round of
simulator readings (as the collection task does) and times `telemetry.rollups.refresh_rollups(now=)` (the
once-a-minute task). Baseline, in the same tick: one `SELECT count(*), avg(...)` over the raw GPU and series
rows of the minutes the 1-minute level recomputes (the least a refresh has to read), by the path the refresh
reads them. Prints each tick's
refresh and baseline time, their ratio, and the median and worst tick.
"""

import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.database import fresh_postgres, setup_django  # noqa: E402

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
FILL_HOURS = int(os.environ.get("BENCH_FILL_HOURS", 24))
TICKS = int(os.environ.get("BENCH_TICKS", 12))
NOW = datetime(2026, 11, 23, 14, 54, tzinfo=UTC)  # ticks cross 15:00: the hour level is recomputed whole
SQLITE_PATH = Path("/tmp/headroom_bench_rollups.sqlite3")


def setup_database():
    env = {"HEADROOM_DATA_DIR": "/tmp/headroom-bench-data"}
    if BACKEND == "sqlite":
        SQLITE_PATH.unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{SQLITE_PATH}"
        setup_django(**env)
    elif BACKEND == "postgres":
        fresh_postgres("headroom_bench_rollups", **env)
    else:
        sys.exit(f"backend must be sqlite or postgres, not {BACKEND!r}")


def fill_older(cursor, raw_start, raw_end):
    """Copies of the seeded raw window [raw_start, raw_end) and its 1-minute GPU and series rollups, shifted back
    window by window over FILL_HOURS (already present rows are kept), oldest first as collection writes them
    (PostgreSQL's BRIN index on ts relies on that order)."""
    from telemetry import partitions

    width = raw_end - raw_start
    shifts = [width * k for k in range(int(timedelta(hours=FILL_HOURS) / width), 0, -1)]
    if shifts:
        partitions.ensure_partitions({(raw_start - s).date() for s in shifts} | {raw_start.date()})
    for shift in shifts:
        if BACKEND == "sqlite":
            moved = f"datetime(ts, '-{int(shift.total_seconds())} seconds')"
        else:
            moved = f"ts - interval '{int(shift.total_seconds())} seconds'"
        for table, key in (
            ("telemetry_gpusample", "gpu_id, ts"),
            ("telemetry_sample", "series_id, ts"),
            ("telemetry_gpurollup", "resolution, gpu_id, ts"),
            ("telemetry_seriesrollup", "resolution, series_id, ts"),
        ):
            cursor.execute(f"SELECT * FROM {table} LIMIT 0")
            columns = [c[0] for c in cursor.description]
            selected = ", ".join(moved if c == "ts" else c for c in columns)
            rollup = "resolution = 60 AND " if "rollup" in table else ""
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {selected} FROM {table} "
                f"WHERE {rollup}ts >= %s AND ts < %s ON CONFLICT ({key}) DO NOTHING",
                [raw_start, raw_end],
            )
    # As autovacuum would have by now: statistics, and BRIN summaries of the filled pages (an unsummarised page
    # range is read by every time-range query).
    cursor.execute("ANALYZE" if BACKEND == "sqlite" else "VACUUM ANALYZE")


def baseline(cursor, start, end):
    """count/avg over the raw rows of [start, end), read as the refresh reads them: on PostgreSQL by time (day
    partitions, BRIN), on SQLite per entity in the primary key."""
    sqlite = BACKEND == "sqlite"
    cursor.execute(
        "SELECT count(*), avg(gpu_power), avg(gpu_util), avg(gpu_temp) FROM telemetry_gpusample WHERE "
        + ("gpu_id IN (SELECT id FROM telemetry_gpu) AND " if sqlite else "")
        + "ts >= %s AND ts < %s",
        [start, end],
    )
    gpu_rows = cursor.fetchone()[0]
    cursor.execute(
        "SELECT count(*), avg(value) FROM telemetry_sample WHERE "
        + ("series_id IN (SELECT id FROM telemetry_series) AND " if sqlite else "")
        + "ts >= %s AND ts < %s",
        [start, end],
    )
    return gpu_rows + cursor.fetchone()[0]


def main():
    setup_database()
    from django.db import connection

    from telemetry import demo, demo_history, rollups
    from telemetry.collectors import simulator
    from telemetry.ingest import ingest
    from telemetry.models import GpuSample

    clock = time.perf_counter()
    org = demo.seed_inventory()
    demo_history.seed_history(org, now=NOW, weeks=1)
    raw_start = rollups.floor(NOW - demo_history.RAW_SPAN, 300)
    with connection.cursor() as cursor:
        fill_older(cursor, raw_start, NOW + timedelta(minutes=1))
    source = demo_history.simulator_source(org)
    print(
        f"{connection.vendor}: demo fleet of {org.sites.count()} sites, {GpuSample.objects.count():,} raw GPU rows "
        f"({FILL_HOURS} h), seeded in {time.perf_counter() - clock:.0f} s; load average {os.getloadavg()[0]:.1f}"
    )
    print("| tick (now) | new raw rows read | refresh (ms) | baseline (ms) | refresh / baseline |")
    print("|---|---|---|---|---|")
    now, times, ratios = NOW, [], []
    for _ in range(TICKS):
        now += timedelta(minutes=1)
        ingest(source, simulator.collect(source, now=now), now=now)
        since = rollups.RollupWatermark.objects.get(name="level_60").upto
        start = rollups.floor(min(since, now - timedelta(seconds=120)), 60)
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            rows = baseline(cursor, start, now + timedelta(minutes=1))
        base = time.perf_counter() - t0
        t0 = time.perf_counter()
        rollups.refresh_rollups(now=now)
        took = time.perf_counter() - t0
        times.append(took)
        ratios.append(took / base)
        print(f"| {now:%H:%M} | {rows:,} | {took * 1000:.0f} | {base * 1000:.1f} | {took / base:.0f}x |")
    print(
        f"median tick {statistics.median(times) * 1000:.0f} ms ({statistics.median(ratios):.0f}x baseline), "
        f"worst {max(times) * 1000:.0f} ms ({max(ratios):.0f}x); load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
