"""Ingest throughput on PostgreSQL, as ratios against raw binary COPY measured in the same run.

    .venv/bin/python bench/ingest.py            # uses DATABASE_URL's server, or 127.0.0.1:5432
    BENCH_GPUS=512 BENCH_STEPS=200 .venv/bin/python bench/ingest.py

Creates (and recreates) the database `headroom_bench`. Prints samples/s of (a) raw psycopg binary COPY into
the GPU sample table, (b) telemetry.ingest, (c) the push API with JSON batches of 10,000 (Django test
client, full request path), (d) naive ORM bulk_create, (e) the push API with the same batches in its columnar
form (`gpu_columns`); then (a), (c) and (e) once more in turn batch by batch (a COPY of 10,000 rows, the same
count pushed as items, as columns), whose ratios a shared machine's load moves least; then bytes per stored
value of each table.
A "sample" is one GPU at one instant (one GpuSample row with all 14 values).
"""

import gc
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.database import fresh_postgres  # noqa: E402

GPUS = int(os.environ.get("BENCH_GPUS", 512))
STEPS = int(os.environ.get("BENCH_STEPS", 200))  # timestamps per GPU per method
PUSH_BATCH = 10_000


def setup_database():
    fresh_postgres("headroom_bench")
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]


def build_fleet():
    from telemetry.models import Gpu, GpuModel, Hall, Node, Organization, Rack, Site, Source

    org = Organization.objects.create(name="Bench", slug="bench")
    site = Site.objects.create(organization=org, name="s1")
    model = GpuModel.objects.get(name="H100 SXM 80GB")
    gpus = []
    for n in range(GPUS // 8):
        hall, _ = Hall.objects.get_or_create(
            site=site, name=f"hall{n % 4}", defaults={"it_power_capacity_kw": 2000, "cooling_capacity_kw": 2200}
        )
        rack, _ = Rack.objects.get_or_create(hall=hall, name=f"r{n // 4}", defaults={"power_budget_kw": 80})
        node = Node.objects.create(rack=rack, hostname=f"n{n:04d}")
        gpus += [
            Gpu(node=node, index=i, uuid=f"GPU-{n:08x}-{i:04x}-0000-0000-000000000000", model=model) for i in range(8)
        ]
    Gpu.objects.bulk_create(gpus)
    source = Source.objects.create(organization=org, name="push", kind="push")
    token = source.issue_ingest_token()
    return org, source, token, list(Gpu.objects.values_list("id", "uuid"))


def values(rng, n):
    """n realistic GPU readings as dicts of all 14 metrics."""
    util = rng.uniform(0, 100, n)
    return [
        {
            "gpu_util": float(u),
            "gpu_mem_used": int(6e10 + u * 1e8),
            "gpu_power": float(100 + 6 * u),
            "gpu_energy": float(1e9 + u * 1000),
            "gpu_temp": float(35 + u / 3),
            "gpu_mem_temp": float(40 + u / 3),
            "gpu_sm_clock": 1980,
            "gpu_throttle_reasons": 0,
            "gpu_ecc_sbe": 0,
            "gpu_ecc_dbe": 0,
            "gpu_remap_pending": 0,
            "gpu_remap_failure": 0,
            "gpu_retired_pages": 0,
            "gpu_pcie_replay": 3,
        }
        for u in util
    ]


WINDOWS = 8


def window(k, now):
    """The k-th of WINDOWS time windows, the last ending now: each method has its own (meets no other's rows)."""
    return now - timedelta(seconds=10 * STEPS * (WINDOWS - k))


def batches(items):
    return [items[i : i + PUSH_BATCH] for i in range(0, len(items), PUSH_BATCH)]


def item_body(readings):
    return json.dumps(
        {"gpu_readings": [{"gpu_uuid": r.gpu_uuid, "ts": r.ts.isoformat(), "values": r.values} for r in readings]}
    ).encode()


def column_body(readings):
    metrics = list(readings[0].values)
    columns = {
        "gpu_uuid": [r.gpu_uuid for r in readings],
        "ts": [r.ts.isoformat() for r in readings],
        "values": {m: [r.values[m] for r in readings] for m in metrics},
    }
    return json.dumps({"gpu_columns": columns}).encode()


def push(client, n, bodies):
    """Samples/s of pushing the bodies one after the other."""
    gc.collect()
    t = time.perf_counter()
    for body in bodies:
        response = client.post("/api/ingest/", body, content_type="application/json")
        assert response.status_code == 202 and response.json()["rejected"] == 0, response.content[:300]
    return n / (time.perf_counter() - t)


def main():
    setup_database()
    from django.db import connection
    from django.test import Client

    from telemetry import partitions
    from telemetry.ingest import ingest
    from telemetry.ingest.gpu import GPU_COLUMNS, GPU_COPY_TYPES
    from telemetry.models import GpuSample, Sample
    from telemetry.vocabulary import Batch, GpuReading, PointReading

    org, source, token, gpus = build_fleet()
    now = datetime.now(UTC).replace(microsecond=0)
    partitions.create_ahead(now.date(), 1)
    rng = np.random.default_rng(1)
    metrics = GPU_COLUMNS[2:]
    n = GPUS * STEPS
    results = {}

    def readings(k):
        start = window(k, now)
        vals = values(rng, n)
        return [
            GpuReading(uuid, start + timedelta(seconds=10 * (j // GPUS)), vals[j])
            for j, (_, uuid) in enumerate(gpus * STEPS)
        ]

    def copy_rows(k):
        start = window(k, now)
        vals = values(rng, n)
        return [
            (gid, start + timedelta(seconds=10 * (j // GPUS)), *(vals[j][m] for m in metrics))
            for j, (gid, _) in enumerate(gpus * STEPS)
        ]

    def copy(rows):
        """Seconds to write the rows by one binary COPY (committed)."""
        t = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY telemetry_gpusample ({', '.join(GPU_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as cp,
        ):
            cp.set_types(GPU_COPY_TYPES)
            for row in rows:
                cp.write_row(row)
        return time.perf_counter() - t

    # (a) raw binary COPY straight into the partitioned table: the limit of this machine
    rows = copy_rows(0)
    gc.collect()
    results["a"] = n / copy(rows)
    del rows  # each method runs with only its own input in memory (the garbage collector walks it all)

    # (b) telemetry.ingest, the same amount, in batches of 10,000 like a collector fleet would send
    batch_readings = readings(1)
    gc.collect()
    t = time.perf_counter()
    for i in range(0, n, PUSH_BATCH):
        result = ingest(source, Batch(gpu_readings=batch_readings[i : i + PUSH_BATCH]), now=now)
        assert result.rejected == 0, result.errors[:3]
    results["b"] = n / (time.perf_counter() - t)
    del batch_readings

    # (c) push API, JSON batches of 10,000 (bodies encoded to bytes beforehand: that is the client's work)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    # A running server has loaded its views before the first push: warm up with one empty batch (the first
    # request imports every URL's view module, some seconds, which is start-up and not ingest).
    assert client.post("/api/ingest/", "{}", content_type="application/json").status_code == 202
    results["c"] = push(client, n, [item_body(chunk) for chunk in batches(readings(2))])

    # (d) naive ORM: model instances and bulk_create (a fifth of the samples; it is slow)
    m = n // 5
    start = window(3, now)
    vals = values(rng, m)
    gc.collect()
    t = time.perf_counter()
    GpuSample.objects.bulk_create(
        [
            GpuSample(gpu_id=gid, ts=start + timedelta(seconds=10 * (j // GPUS)), **vals[j])
            for j, (gid, _) in enumerate((gpus * STEPS)[:m])
        ],
        batch_size=2000,
    )
    results["d"] = m / (time.perf_counter() - t)

    # (e) push API, the same batches as columns
    results["e"] = push(client, n, [column_body(chunk) for chunk in batches(readings(4))])

    # (a), (c) and (e) again, batch by batch in turn: each 10,000-sample COPY, item push and column push meets the
    # same load from other processes (on a shared machine that moves the minute-long runs above by +-30 %).
    rounds = zip(
        batches(copy_rows(5)),
        [item_body(chunk) for chunk in batches(readings(6))],
        [column_body(chunk) for chunk in batches(readings(7))],
        strict=True,
    )
    spent = {"a": 0.0, "c": 0.0, "e": 0.0}
    gc.collect()
    for rows, items, columns in rounds:
        spent["a"] += copy(rows)
        spent["c"] += 1 / push(client, 1, [items])
        spent["e"] += 1 / push(client, 1, [columns])

    # narrow samples, for their bytes per value: 100 node series, as many rows as (a)
    points = [
        PointReading("node", f"n{s:04d}", "node_power", window(0, now) + timedelta(seconds=10 * k), 4000.0 + k)
        for s in range(min(100, GPUS // 8))
        for k in range(STEPS * 5)
    ]
    for i in range(0, len(points), PUSH_BATCH):
        ingest(source, Batch(point_readings=points[i : i + PUSH_BATCH]), now=now)

    print(
        f"PostgreSQL {connection.pg_version // 10000}, {os.cpu_count()} cores; "
        f"{GPUS} GPUs x {STEPS} timestamps per method"
    )
    labels = {
        "a": "raw binary COPY",
        "b": "telemetry.ingest()",
        "c": "push API, JSON x10k",
        "d": "ORM bulk_create",
        "e": "push API, columns x10k",
    }
    for key, label in labels.items():
        print(f"({key}) {label:24s} {results[key]:>10,.0f} samples/s  {results[key] * 14:>12,.0f} values/s")
    print(f"ratios: (b)/(a) = {results['b'] / results['a']:.2f} (target >= 0.50)")
    print(f"        (c)/(a) = {results['c'] / results['a']:.2f} (target >= 0.50, issue #14)")
    print(f"        (e)/(a) = {results['e'] / results['a']:.2f} (target >= 0.50, issue #14)")
    print(f"        (b)/(d) = {results['b'] / results['d']:.1f} (target >= 5)")
    print(
        f"in turn per batch of {PUSH_BATCH:,}: COPY {n / spent['a']:,.0f} samples/s; "
        f"(c)/(a) = {spent['a'] / spent['c']:.2f}, (e)/(a) = {spent['a'] / spent['e']:.2f}"
    )

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        for table, per_row in (("telemetry_gpusample", 14), ("telemetry_sample", 1)):
            cursor.execute(
                "SELECT sum(pg_total_relation_size(inhrelid)), sum(pg_relation_size(inhrelid)) "
                "FROM pg_inherits WHERE inhparent = %s::regclass",
                [table],
            )
            total, heap = cursor.fetchone()
            count = (GpuSample if per_row == 14 else Sample).objects.count()
            print(
                f"{table}: {count:,} rows, {total / count / per_row:.1f} bytes per value with indexes "
                f"({heap / count / per_row:.1f} heap only, {total / count:.0f} per row)"
            )


if __name__ == "__main__":
    main()
