"""Rollup writes on PostgreSQL (`telemetry.rollups.upsert_rows`, the path of back-fills and the demo seed),
against a plain COPY of the same rows.

    .venv/bin/python bench/upsert.py        # DATABASE_URL's server; drops and creates headroom_bench_upsert
    BENCH_MINUTES=20 ...                    # minutes of 1-minute GPU rollups per GPU (default 48)

Creates the demo inventory (2,176 GPUs), then writes BENCH_MINUTES 1-minute GPU rollup rows per GPU, every
metric's min/max/avg/last/n (~104,000 rows of 73 columns at 48 minutes): (a) baseline, psycopg's COPY of the
tuples straight into the empty table; (b) `upsert_rows` into the empty table (all inserts); (c) `upsert_rows`
of the same keys again (all updates). Best of 3 each; prints seconds, µs a row and (b)/(a), (c)/(a).
"""

import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.database import fresh_postgres  # noqa: E402

MINUTES = int(os.environ.get("BENCH_MINUTES", 48))
RUNS = 3
START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def setup_database():
    fresh_postgres("headroom_bench_upsert")


def timed(prepare, write):
    best = float("inf")
    for _ in range(RUNS):
        prepare()
        t = time.perf_counter()
        write()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    setup_database()
    from django.db import connection, transaction

    from telemetry import demo
    from telemetry.models import Gpu, GpuRollup
    from telemetry.rollups import STATS, upsert_rows
    from telemetry.vocabulary import GPU_METRICS

    demo.seed_inventory()
    gpus = list(Gpu.objects.values_list("id", flat=True))
    key = ["resolution", "gpu_id", "ts"]
    columns = [f"{metric}_{stat}" for metric in GPU_METRICS for stat in STATS]
    rng = random.Random(2026)
    rows = [
        (
            60,
            gpu,
            START + timedelta(minutes=m),
            *(rng.randint(1, 4) if c.endswith("_n") else rng.random() for c in columns),
        )
        for gpu in gpus
        for m in range(MINUTES)
    ]
    names = ", ".join([*key, *columns])
    table = GpuRollup._meta.db_table

    def empty():
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")

    def copy():
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as out:
                for row in rows:
                    out.write_row(row)

    def filled():
        empty()
        copy()

    baseline = timed(empty, copy)
    inserts = timed(empty, lambda: upsert_rows(GpuRollup, key, columns, rows))
    updates = timed(filled, lambda: upsert_rows(GpuRollup, key, columns, rows))
    print(f"{len(gpus):,} GPUs x {MINUTES} minutes = {len(rows):,} rows of {len(key) + len(columns)} columns")
    for label, took in (("COPY (baseline)", baseline), ("upsert, inserts", inserts), ("upsert, updates", updates)):
        print(f"{label:<16} {took:7.2f} s {took / len(rows) * 1e6:7.1f} µs/row {took / baseline:6.1f}x")


if __name__ == "__main__":
    main()
