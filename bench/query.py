"""Dashboard query latency on PostgreSQL: with rollups against the same charts computed without them.

    .venv/bin/python bench/query.py                      # 512 GPUs x 30 days of 1-minute data
    BENCH_GPUS=128 BENCH_DAYS=7 .venv/bin/python bench/query.py

Creates (and recreates) the database `headroom_bench_query`. Fills 30 days of 1-minute per-GPU rollups
(utilization and power) for 512 GPUs in 4 halls with generate_series, derives the 5-minute and 1-hour
levels and the hall rollups from them in SQL, then times two charts over 1 hour, 7 days and 30 days:
fleet-average GPU utilization and per-hall power. "With rollups" is what the pages call
(telemetry.query.fleet_gpu_util / hall_series: hall rollups at the level picked for the range);
"without" aggregates the 1-minute per-GPU data (telemetry.query.aggregate_gpus, resolution forced).
Prints p50/p95 server time (query + DataFrame) and the ratio without/with, both measured in this run.
"""

import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.database import fresh_postgres  # noqa: E402

GPUS = int(os.environ.get("BENCH_GPUS", 512))
DAYS = int(os.environ.get("BENCH_DAYS", 30))
HALLS = 4
REPEATS = 7
END = datetime(2026, 11, 1, tzinfo=UTC)


def setup_database():
    fresh_postgres("headroom_bench_query")


def build_fleet():
    from telemetry.models import Gpu, GpuModel, Hall, Node, Organization, Rack, Site

    org = Organization.objects.create(name="Bench", slug="bench")
    site = Site.objects.create(organization=org, name="s1")
    model = GpuModel.objects.get(name="H100 SXM 80GB")
    halls = [
        Hall.objects.create(site=site, name=f"h{i}", it_power_capacity_kw=2000, cooling_capacity_kw=2400)
        for i in range(HALLS)
    ]
    gpus = []
    for n in range(GPUS // 8):
        rack, _ = Rack.objects.get_or_create(hall=halls[n % HALLS], name=f"r{n // 4}", defaults={"power_budget_kw": 45})
        node = Node.objects.create(rack=rack, hostname=f"n{n}")
        gpus += [Gpu(node=node, index=i, uuid=f"GPU-{n:08x}-0000-0000-0000-{i:012x}", model=model) for i in range(8)]
    Gpu.objects.bulk_create(gpus)
    return [h.id for h in halls], list(Gpu.objects.values_list("id", flat=True))


def fill(cursor):
    """1-minute per-GPU rollups (a diurnal utilization and the power that follows), then 5 min, 1 h, halls."""
    from telemetry.vocabulary import GPU_METRICS

    start = END - timedelta(days=DAYS)
    idle = [f"{m}_n" for m in GPU_METRICS if m not in ("gpu_util", "gpu_power")]  # NOT NULL counts: 0
    columns = ", ".join(
        ["gpu_util_min, gpu_util_max, gpu_util_avg, gpu_util_last, gpu_util_n"]
        + ["gpu_power_min, gpu_power_max, gpu_power_avg, gpu_power_last, gpu_power_n", *idle]
    )
    zeros = ", 0" * len(idle)
    cursor.execute(
        f"""
        INSERT INTO telemetry_gpurollup (resolution, gpu_id, ts, {columns})
        SELECT 60, g.id, t.ts, u, u, u, u, 6, p, p, p, p, 6{zeros}
        FROM telemetry_gpu g
        CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute', interval '1 minute') t(ts)
        CROSS JOIN LATERAL (SELECT 50 + 40 * sin(extract(epoch FROM t.ts) / 13751.0 + g.id) AS u) util
        CROSS JOIN LATERAL (SELECT 70 + 6.3 * u AS p) power
        """,
        [start, END],
    )
    for coarse in (300, 3600):
        cursor.execute(
            f"""
            INSERT INTO telemetry_gpurollup (resolution, gpu_id, ts, {columns})
            SELECT {coarse}, gpu_id, to_timestamp(floor(extract(epoch FROM ts) / {coarse}) * {coarse}) AS bucket,
                min(gpu_util_min), max(gpu_util_max), avg(gpu_util_avg), avg(gpu_util_last), sum(gpu_util_n),
                min(gpu_power_min), max(gpu_power_max), avg(gpu_power_avg), avg(gpu_power_last), sum(gpu_power_n)
                {zeros}
            FROM telemetry_gpurollup WHERE resolution = 60 GROUP BY gpu_id, bucket
            """
        )
    cursor.execute(
        """
        INSERT INTO telemetry_hallrollup (resolution, hall_id, ts, gpu_count, gpu_util_avg, gpu_power_w, it_power_w)
        SELECT r.resolution, k.hall_id, r.ts, count(*), avg(r.gpu_util_avg), sum(r.gpu_power_avg),
            sum(r.gpu_power_avg)
        FROM telemetry_gpurollup r JOIN telemetry_gpu g ON g.id = r.gpu_id JOIN telemetry_node n ON n.id = g.node_id
        JOIN telemetry_rack k ON k.id = n.rack_id
        GROUP BY r.resolution, k.hall_id, r.ts
        """
    )
    cursor.execute("ANALYZE")


def timed(fn, *args):
    samples = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        frame = fn(*args)
        samples.append((time.perf_counter() - t0) * 1000)
    assert len(frame), "a query returned no rows: the data does not cover the range"
    samples.sort()
    return statistics.median(samples), samples[int(round(0.95 * (len(samples) - 1)))]


def main():
    setup_database()
    from django.db import connection

    from telemetry import query
    from telemetry.models import Resolution

    halls, gpus = build_fleet()
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        fill(cursor)
    print(f"{GPUS} GPUs x {DAYS} days of 1-minute data filled in {time.perf_counter() - t0:.0f} s")

    charts = {
        "fleet-average GPU utilization": (
            lambda s, e: query.fleet_gpu_util(halls, s, e, now=END),
            lambda s, e: query.aggregate_gpus(gpus, "gpu_util", s, e, now=END, resolution=Resolution.MINUTE),
        ),
        "per-hall GPU power": (
            lambda s, e: query.hall_series(halls, "gpu_power_w", s, e, now=END),
            lambda s, e: query.aggregate_gpus(
                gpus, "gpu_power", s, e, how="sum", group_by="hall", now=END, resolution=Resolution.MINUTE
            ),
        ),
    }
    print("| chart | range | with rollups p50 / p95 (ms) | without p50 / p95 (ms) | without / with (p95) |")
    print("|---|---|---|---|---|")
    for name, (with_rollups, without) in charts.items():
        for label, span in (("1 h", timedelta(hours=1)), ("7 d", timedelta(days=7)), ("30 d", timedelta(days=DAYS))):
            start = END - span
            fast = timed(with_rollups, start, END)
            slow = timed(without, start, END)
            print(
                f"| {name} | {label} | {fast[0]:.1f} / {fast[1]:.1f} | {slow[0]:.1f} / {slow[1]:.1f} "
                f"| {slow[1] / fast[1]:.1f}x |"
            )


if __name__ == "__main__":
    main()
