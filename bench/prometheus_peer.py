"""Headroom's GPU sample storage and queries side by side with Prometheus, on the same generated data.

    /work/venv/bin/python bench/prometheus_peer.py                                  # small: ~1 min
    /work/venv/bin/python bench/prometheus_peer.py --gpus 256 --hours 24            # the issue's day (by hand)

One deterministic generator (numpy, seeded) makes N GPUs x M metrics (DCGM fields, at NVML's resolution)
every `step` seconds for `hours` hours, ending at the last whole hour. Prometheus: the data written as
OpenMetrics text, loaded with `promtool tsdb create-blocks-from openmetrics` (timed), then `prometheus` started
on that directory at a free port, left to compact its blocks, and queried over its HTTP API. Headroom (in the
PostgreSQL database `--database`, dropped and created; DATABASE_URL's server): the same readings loaded four
ways. First three batch by batch in turn, so that a shared machine's load falls on them alike (bench/ingest.py):
(1) binary COPY of the rows encoded from numpy columns (telemetry.pgcopy), the write alone, the baseline of
the load ratios; (2) the push API, JSON batches of 10,000 in the item form (`gpu_readings`) and (3) the same
batches in the columnar form (`gpu_columns`), both through Django's test client (the whole request path in
process, no HTTP server). Each writes its readings offset by its own microsecond (0, 1, 2), so the three
share the table without meeting; what each stored, offset taken off, is summed up in `stored` (rows, md5).
Then the table is emptied and (4) telemetry.ingest() loads them in batches of 10,000, the fastest documented
path, which stays. Then the rollups (1 min, 5 min, 1 h; GPU and hall) are computed (timed) and sizes taken
after VACUUM ANALYZE. The queries
(a)-(d) are timed on these rows; then every hour is sealed into GPU-hour blocks by the live sealer
(telemetry.sealing, as it does days that are over: blocks written, partition truncated, the sealed hours'
1-minute GPU rollups dropped), sizes are taken again, and (b') and (e) read the blocks.

Printed, as Headroom / Prometheus: load time, bytes per value on disk (raw; raw + rollups;
pg_total_relation_size incl. indexes against the TSDB directory after compaction), and p50/p95 over `--runs`
runs of the issue's four queries and two on sealed data, each shown with its PromQL and its Headroom call.
Prometheus times are the client's: HTTP request + JSON decode; Headroom's are the server-side calls (SQL +
DataFrame). `--json FILE` writes every figure. Needs `promtool` and `prometheus` on PATH (Debian's
`prometheus` package).
"""

import argparse
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import orjson
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BATCH = 10_000
GPUS_PER_NODE = 8
# Headroom metric -> DCGM exporter field, in the order --metrics takes them (util and power first: the
# queries need them).
DCGM = {
    "gpu_util": "DCGM_FI_DEV_GPU_UTIL",
    "gpu_power": "DCGM_FI_DEV_POWER_USAGE",
    "gpu_temp": "DCGM_FI_DEV_GPU_TEMP",
    "gpu_mem_temp": "DCGM_FI_DEV_MEMORY_TEMP",
    "gpu_sm_clock": "DCGM_FI_DEV_SM_CLOCK",
    "gpu_mem_used": "DCGM_FI_DEV_FB_USED",
    "gpu_energy": "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "gpu_throttle_reasons": "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
}
INTEGER = {"gpu_util", "gpu_temp", "gpu_mem_temp", "gpu_sm_clock", "gpu_mem_used", "gpu_throttle_reasons"}


# --- the data -------------------------------------------------------------------------------------------


class Fleet:
    """GPU i sits in node i // 8, hall (i // 8) % halls; UUIDs and names are what both systems are told."""

    def __init__(self, gpus):
        self.gpus = gpus
        self.halls = max(1, min(4, gpus // GPUS_PER_NODE))
        self.uuid = [
            f"GPU-{i // GPUS_PER_NODE:08x}-{i % GPUS_PER_NODE:04x}-4000-8000-000000000000" for i in range(gpus)
        ]
        self.node = [f"n{i // GPUS_PER_NODE:05d}" for i in range(gpus)]
        self.hall = [f"hall{(i // GPUS_PER_NODE) % self.halls}" for i in range(gpus)]


def generate(gpus, metrics, steps, step_s, seed=14):
    """{metric: float64 array (steps, gpus)} at each metric's real resolution: integer percent, C, MHz and
    bytes (whole MiB), power in mW steps, energy in mJ steps (a counter), throttle reasons a bitmask."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None] * step_s
    job = rng.uniform(20, 95, gpus)  # each GPU's job load, changed every few hours
    phase = rng.uniform(0, 2 * np.pi, gpus)
    load = job + 10 * np.sin(2 * np.pi * t / 86_400 + phase) + rng.normal(0, 4, (steps, gpus)).cumsum(0) * 0.05
    idle = rng.random((steps, gpus)) < 0.02
    util = np.clip(np.rint(np.where(idle, 0, load + rng.normal(0, 3, (steps, gpus)))), 0, 100)
    power = np.round(np.clip(70 + 6.2 * util + rng.normal(0, 8, (steps, gpus)), 60, 700), 3)
    out = {
        "gpu_util": util,
        "gpu_power": power,
        "gpu_temp": np.rint(32 + 0.35 * util + rng.normal(0, 0.7, (steps, gpus))),
        "gpu_mem_temp": np.rint(38 + 0.3 * util + rng.normal(0, 0.7, (steps, gpus))),
        "gpu_sm_clock": np.where(power > 650, 1755.0, 1980.0),
        "gpu_mem_used": (np.floor(job * 800)[None, :] + np.zeros((steps, 1))) * 2**20,
        "gpu_energy": np.round(1e6 + np.cumsum(power * step_s, axis=0), 3),
        "gpu_throttle_reasons": np.where(power > 650, 4.0, 0.0),  # SW power cap
    }
    return {m: out[m] for m in list(DCGM)[:metrics]}


def openmetrics(path, fleet, data, stamps):
    """The data as one OpenMetrics file, each family's samples together, each series in time order; then two
    samples of `bench_marker` 60 and 120 days later. Prometheus never compacts the blocks of its newest
    range (it waits for more data), so without them nothing loaded would ever be compacted; their blocks are
    not counted."""
    seconds = [str(s) for s in stamps.tolist()]
    with open(path, "w") as out:
        for metric, values in data.items():
            name = DCGM[metric]
            out.write(f"# TYPE {name} gauge\n")
            for g in range(fleet.gpus):
                labels = (
                    f'{name}{{gpu="{g % GPUS_PER_NODE}",UUID="{fleet.uuid[g]}",Hostname="{fleet.node[g]}",'
                    f'modelName="NVIDIA H100 80GB HBM3",hall="{fleet.hall[g]}"}} '
                )
                column = values[:, g]
                texts = column.astype(np.int64).astype(str) if metric in INTEGER else map(repr, column.tolist())
                out.write("".join(f"{labels}{v} {s}\n" for v, s in zip(texts, seconds, strict=True)))
        last = int(stamps[-1])
        out.write(
            f"# TYPE bench_marker gauge\nbench_marker 1 {last + 60 * 86_400}\nbench_marker 1 {last + 120 * 86_400}\n"
        )
        out.write("# EOF\n")


# --- Prometheus -----------------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_bytes(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def blocks(path):
    return sorted(p.name for p in Path(path).iterdir() if (p / "meta.json").exists())


def data_block_bytes(path, before_ms):
    """Bytes of the blocks holding the data (those starting before `before_ms`: not the markers'), and how many."""
    found = [p for p in Path(path).iterdir() if (p / "meta.json").exists()]
    found = [p for p in found if json.loads((p / "meta.json").read_text())["minTime"] < before_ms]
    return sum(tree_bytes(p) for p in found), len(found)


class Prometheus:
    def __init__(self, tsdb, workdir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = Path(workdir) / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1h\n")
        self.log = open(Path(workdir) / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tsdb}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.session = requests.Session()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}")
            try:
                if self.session.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError("prometheus did not get ready in 60 s")

    def compactions(self):
        text = self.session.get(f"{self.url}/metrics", timeout=10).text
        line = next(ln for ln in text.splitlines() if ln.startswith("prometheus_tsdb_compactions_total"))
        return float(line.split()[-1])

    def query(self, path, **params):
        response = self.session.get(f"{self.url}/api/v1/{path}", params=params, timeout=60)
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"PromQL {params}: {body}")
        return body["data"]["result"]

    def stop(self):
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


def wait_for_compaction(prometheus, tsdb, timeout_s):
    """Until a compaction has run and the block list has stayed the same for 10 s (Prometheus compacts a
    minute after it starts), or timeout_s; returns whether it compacted."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and prometheus.compactions() == 0:
        time.sleep(1)
    last, stable_since = blocks(tsdb), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - stable_since < 10:
        time.sleep(1)
        if (now := blocks(tsdb)) != last:
            last, stable_since = now, time.monotonic()
    return prometheus.compactions() > 0


# --- Headroom -------------------------------------------------------------------------------------------


def setup_database(name):
    parts = urlsplit(BASE_URL)
    with psycopg_admin(parts) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = parts._replace(path=f"/{name}").geturl()
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("DEBUG", "true")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    call_command("migrate", verbosity=0)


def psycopg_admin(parts):
    import psycopg

    return psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True)


def build_inventory(fleet):
    from telemetry.models import Gpu, GpuModel, Hall, Node, Organization, Rack, Site, Source

    org = Organization.objects.create(name="Peer", slug="peer")
    site = Site.objects.create(organization=org, name="s1")
    model = GpuModel.objects.get(name="H100 SXM 80GB")
    halls = {
        name: Hall.objects.create(site=site, name=name, it_power_capacity_kw=4000, cooling_capacity_kw=4400)
        for name in sorted(set(fleet.hall))
    }
    nodes = {}
    for g in range(fleet.gpus):
        if fleet.node[g] not in nodes:
            rack, _ = Rack.objects.get_or_create(
                hall=halls[fleet.hall[g]], name=f"r{len(nodes) // 4}", defaults={"power_budget_kw": 80}
            )
            nodes[fleet.node[g]] = Node.objects.create(rack=rack, hostname=fleet.node[g])
    Gpu.objects.bulk_create(
        [
            Gpu(node=nodes[fleet.node[g]], index=g % GPUS_PER_NODE, uuid=fleet.uuid[g], model=model)
            for g in range(fleet.gpus)
        ]
    )
    ids = dict(Gpu.objects.filter(node__rack__hall__site=site).values_list("uuid", "id"))
    source = Source.objects.create(organization=org, name="push", kind="push")
    return org, source, source.issue_ingest_token(), halls, np.array([ids[u] for u in fleet.uuid], np.int64)


def empty_samples():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE telemetry_gpusample")


def copy_columns(gpu_ids, data, micros):
    """The rows as numpy columns in GPU_COLUMNS order and which values are present (COPY's input)."""
    from telemetry import pgcopy
    from telemetry.ingest.gpu import GPU_COLUMNS

    steps, gpus = micros.size, gpu_ids.size
    columns = [np.tile(gpu_ids, steps), np.repeat(micros - pgcopy.PG_EPOCH_US, gpus)]
    present = [None, None]
    for metric in GPU_COLUMNS[2:]:
        values = data.get(metric)
        columns.append(np.zeros(steps * gpus) if values is None else values.reshape(-1))
        present.append(np.full(steps * gpus, values is not None))
    return columns, present


def copy_batch(columns, present, part):
    """Seconds to encode these rows (binary COPY format) and write them by one COPY."""
    from django.db import connection

    from telemetry import pgcopy
    from telemetry.ingest.gpu import GPU_COLUMNS, GPU_COPY_TYPES

    t = time.perf_counter()
    buffer = pgcopy.encode(GPU_COPY_TYPES, [c[part] for c in columns], [p if p is None else p[part] for p in present])
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY telemetry_gpusample ({', '.join(GPU_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(buffer)
    return time.perf_counter() - t


def metric_lists(data):
    """Per metric the values of every (step, GPU) reading in order, integers as int."""
    return {m: (v.astype(np.int64) if m in INTEGER else v).reshape(-1).tolist() for m, v in data.items()}


def reading_dicts(data):
    """Per (step, GPU) the values dict a collector sends."""
    columns = metric_lists(data)
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def ingest_load(source, fleet, dicts, stamps_dt, now):
    from telemetry.ingest import ingest
    from telemetry.ingest.gpu import GpuReadingColumns
    from telemetry.vocabulary import Batch

    uuids = fleet.uuid * len(stamps_dt)
    stamps = [ts for ts in stamps_dt for _ in range(fleet.gpus)]
    gc.collect()
    t = time.perf_counter()
    for i in range(0, len(dicts), BATCH):
        part = GpuReadingColumns(uuids[i : i + BATCH], stamps[i : i + BATCH], dicts[i : i + BATCH])
        result = ingest(source, Batch(gpu_readings=part), now=now)
        assert result.rejected == 0, result.errors[:3]
    return time.perf_counter() - t


def item_bodies(fleet, dicts, iso):
    """Push bodies of BATCH readings in the item form (`gpu_readings`: an object per reading)."""
    items = [
        {"gpu_uuid": fleet.uuid[j % fleet.gpus], "ts": iso[j // fleet.gpus], "values": v} for j, v in enumerate(dicts)
    ]
    return [orjson.dumps({"gpu_readings": items[i : i + BATCH]}) for i in range(0, len(items), BATCH)]


def column_bodies(fleet, data, iso):
    """The same push bodies in the columnar form (`gpu_columns`: a list per field)."""
    uuids = fleet.uuid * len(iso)
    stamps = [ts for ts in iso for _ in range(fleet.gpus)]
    values = metric_lists(data)
    return [
        orjson.dumps(
            {
                "gpu_columns": {
                    "gpu_uuid": uuids[i : i + BATCH],
                    "ts": stamps[i : i + BATCH],
                    "values": {m: column[i : i + BATCH] for m, column in values.items()},
                }
            }
        )
        for i in range(0, len(uuids), BATCH)
    ]


def push_batch(client, body):
    t = time.perf_counter()
    response = client.post("/api/ingest/", body, content_type="application/json")
    spent = time.perf_counter() - t
    assert response.status_code == 202 and response.json()["rejected"] == 0, response.content[:300]
    return spent


# The loads taken in turn; each one's timestamps carry its index as their microsecond.
IN_TURN = ("copy", "push", "column_push")


def loads_in_turn(token, fleet, gpu_ids, data, seconds, dicts):
    """{load: seconds} of binary COPY, the item push and the column push, taken batch by batch in turn (a
    COPY of BATCH rows, the same readings pushed as items, then as columns): on a shared machine, load from
    other processes then falls on all three alike (bench/ingest.py). So that they write the same readings
    side by side without emptying the table between batches, each load's timestamps are offset by its own
    microsecond (0, 1, 2): same partitions, the table growing alike for all three."""
    from django.test import Client

    columns, present = copy_columns(gpu_ids, data, seconds * 1_000_000)
    pushes = []
    for offset in (1, 2):  # bodies encoded beforehand: that is the client's work
        iso = [datetime.fromtimestamp(s, UTC).replace(microsecond=offset).isoformat() for s in seconds.tolist()]
        pushes.append(item_bodies(fleet, dicts, iso) if offset == 1 else column_bodies(fleet, data, iso))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    # A running server has imported its views before the first push (bench/ingest.py says why).
    assert client.post("/api/ingest/", b"{}", content_type="application/json").status_code == 202
    spent = dict.fromkeys(IN_TURN, 0.0)
    gc.collect()
    for i, items, cols in zip(range(0, len(dicts), BATCH), *pushes, strict=True):
        spent["copy"] += copy_batch(columns, present, slice(i, i + BATCH))
        spent["push"] += push_batch(client, items)
        spent["column_push"] += push_batch(client, cols)
    return spent


def stored(microsecond):
    """[rows, md5 of them in order] of the readings whose timestamps carry this microsecond, the offset taken
    off: what one load stored, to compare with another's."""
    from django.db import connection

    from telemetry.ingest.gpu import GPU_COLUMNS

    fields = ", ".join(["gpu_id", "date_trunc('second', ts)", *GPU_COLUMNS[2:]])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), md5(string_agg(row({fields})::text, ';' ORDER BY gpu_id, ts)) "
            "FROM telemetry_gpusample WHERE ts - date_trunc('second', ts) = make_interval(secs => %s)",
            [microsecond / 1e6],
        )
        return list(cursor.fetchone())


def build_rollups(start, end):
    from telemetry.models import Resolution
    from telemetry.rollups import rollup_range

    t = time.perf_counter()
    for resolution in (Resolution.MINUTE, Resolution.FIVE_MINUTES, Resolution.HOUR):
        rollup_range(resolution, start, end)
    return time.perf_counter() - t


def seal_all(end):
    """Every stored hour sealed as the live sealer seals a day that is over (telemetry.sealing.seal with the
    clock a day on), untimed VACUUM FULL of the GPU rollups after: returns (seconds, blocks)."""
    from django.db import connection

    from telemetry import sealing

    t = time.perf_counter()
    done = sealing.seal(now=end + timedelta(days=1), after_hours=0)
    seconds = time.perf_counter() - t
    with connection.cursor() as cursor:
        # The dropped 1-minute rollups' space: live, the next hours' minutes reuse it; here nothing else would.
        cursor.execute("VACUUM FULL telemetry_gpurollup")
    return seconds, done["blocks"]


def rollup_tier_shares():
    """Each GpuRollup resolution's share of the table's tuple bytes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT resolution, sum(pg_column_size(r.*)) FROM telemetry_gpurollup r GROUP BY resolution")
        sizes = {int(res): int(size) for res, size in cursor.fetchall()}
    return {res: size / sum(sizes.values()) for res, size in sorted(sizes.items())}


def table_bytes(table):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s::regclass)", [table])
        return int(cursor.fetchone()[0])


def headroom_bytes():
    """(raw bytes: the row partitions and the sealed blocks, {rollup table: bytes})."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'telemetry_gpusample'::regclass"
        )
        raw = int(cursor.fetchone()[0]) + table_bytes("telemetry_gpublock")
    return raw, {table: table_bytes(table) for table in ("telemetry_gpurollup", "telemetry_hallrollup")}


# --- queries --------------------------------------------------------------------------------------------


def timed(function, runs):
    function()  # warm: plans, caches, connections
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        function()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(np.ceil(0.95 * len(times))) - 1)]


def queries(prometheus, fleet, org, halls, gpu_ids, data, end):
    """[(label, PromQL text, Headroom call text, prometheus fn, headroom fn)] for the issue's four queries."""
    from telemetry import fleet as inventory
    from telemetry import query
    from telemetry.models import Resolution

    day, hour, month = end - timedelta(hours=24), end - timedelta(hours=1), end - timedelta(days=30)
    hall0 = halls["hall0"].id
    ids = gpu_ids.tolist()
    metrics = list(data)
    uuid0 = fleet.uuid[0]
    s = {"day": day.timestamp(), "month": month.timestamp(), "end": end.timestamp()}
    util, power = DCGM["gpu_util"], DCGM["gpu_power"]
    q = [
        (
            "a: all GPUs' utilisation, 24 h at 5 min",
            f"query_range avg_over_time({util}[5m] offset 1ms) start=end-24h step=300",
            "query.gpu_series(all GPU ids, 'gpu_util', end-24h, end, resolution=Resolution.FIVE_MINUTES)",
            lambda: prometheus.query(
                "query_range", query=f"avg_over_time({util}[5m] offset 1ms)", start=s["day"], end=s["end"], step=300
            ),
            lambda: query.gpu_series(ids, "gpu_util", day, end, resolution=Resolution.FIVE_MINUTES),
        ),
        (
            "b: one GPU's raw hour, every metric",
            f'query {{UUID="{uuid0}"}}[1h] time=end',
            f"query.gpu_metric_series([gpu], the {len(metrics)} metrics, end-1h, end, resolution=query.RAW)",
            lambda: prometheus.query("query", query=f'{{UUID="{uuid0}"}}[1h]', time=s["end"]),
            lambda: query.gpu_metric_series([ids[0]], metrics, hour, end, resolution=query.RAW),
        ),
        (
            "c: a hall's 30-day power at 1 h",
            f'query_range sum(avg_over_time({power}{{hall="hall0"}}[1h] offset 1ms)) start=end-30d step=3600',
            "query.hall_series([hall], 'gpu_power_w', end-30d, end)  (picks the 1 h level)",
            lambda: prometheus.query(
                "query_range",
                query=f'sum(avg_over_time({power}{{hall="hall0"}}[1h] offset 1ms))',
                start=s["month"],
                end=s["end"],
                step=3600,
            ),
            lambda: query.hall_series([hall0], "gpu_power_w", month, end, now=end),
        ),
        (
            "d: fleet overview page's data (24 h)",
            f"query_range sum by (hall) (avg_over_time({power}[1m])) start=end-24h step=60; "
            f"query count by (hall, modelName) (last_over_time({util}[5m])) time=end",
            "fleet.hall_summaries(org); fleet.gpu_model_mix(org); "
            "query.hall_series(hall ids, 'it_power_w', end-24h, end)",
            lambda: (
                prometheus.query(
                    "query_range",
                    query=f"sum by (hall) (avg_over_time({power}[1m]))",
                    start=s["day"],
                    end=s["end"],
                    step=60,
                ),
                prometheus.query(
                    "query", query=f"count by (hall, modelName) (last_over_time({util}[5m]))", time=s["end"]
                ),
            ),
            lambda: (
                inventory.hall_summaries(org),
                inventory.gpu_model_mix(org),
                query.hall_series([h.id for h in halls.values()], "it_power_w", day, end, now=end),
            ),
        ),
    ]
    sealed = [
        (
            "b': the same, once sealed (a block)",
            f'query {{UUID="{uuid0}"}}[1h] time=end',
            "the same call as (b), after telemetry.sealing moved the hour into GPU-hour blocks",
            lambda: prometheus.query("query", query=f'{{UUID="{uuid0}"}}[1h]', time=s["end"]),
            lambda: query.gpu_metric_series([ids[0]], metrics, hour, end, resolution=query.RAW),
        ),
        (
            "e: one GPU's sealed day at 1 min, every metric",
            f'query_range avg_over_time(<metric>{{UUID="{uuid0}"}}[1m] offset 1ms) start=end-24h step=60, once per '
            "metric (over all of them at once PromQL drops the names, and the series collide)",
            f"query.gpu_metric_series([gpu], the {len(metrics)} metrics, end-24h, end, resolution=Resolution.MINUTE)"
            " (the GPU page's day; sealed hours' minutes derived from their blocks)",
            lambda: [
                prometheus.query(
                    "query_range",
                    query=f'avg_over_time({DCGM[m]}{{UUID="{uuid0}"}}[1m] offset 1ms)',
                    start=s["day"],
                    end=s["end"],
                    step=60,
                )
                for m in metrics
            ],
            lambda: query.gpu_metric_series([ids[0]], metrics, day, end, resolution=Resolution.MINUTE),
        ),
    ]
    return q, sealed


def same_frames(expected, got, *, rtol=0.0):
    """Whether two {metric: DataFrame(ts, gpu_id, value)} hold the same points (values within rtol)."""
    for metric, frame in expected.items():
        other = got[metric]
        stamps = np.array_equal(frame["ts"].to_numpy("datetime64[us]"), other["ts"].to_numpy("datetime64[us]"))
        if not stamps or not np.allclose(frame["value"], other["value"], rtol=rtol, atol=0):
            return False
    return True


def time_query(q, runs):
    label, promql, call, prom_fn, headroom_fn = q
    prom, head = timed(prom_fn, runs), timed(headroom_fn, runs)
    return {"query": label, "promql": promql, "headroom": call, "prometheus_ms": prom, "headroom_ms": head}


def largest_difference(prom_result, frame, key_of, shift_s):
    """Largest relative difference between a PromQL matrix and a Headroom frame (ts, key, value) whose
    bucket starting at ts is Prometheus's point at ts + shift_s; also how many points each has."""
    head = {(key, ts): v for ts, key, v in frame[["ts", frame.columns[1], "value"]].itertuples(index=False)}
    head = {(k, int(ts.timestamp()) + shift_s): v for (k, ts), v in head.items()}
    prom = {(key_of(r["metric"]), int(t)): float(v) for r in prom_result for t, v in r["values"]}
    if set(prom) != set(head):
        raise AssertionError(f"different points: {len(prom)} from Prometheus, {len(head)} from Headroom")
    return max(abs(v - head[k]) / max(abs(v), 1e-9) for k, v in prom.items()), len(prom)


# --- the run --------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", type=int, default=16)
    parser.add_argument("--metrics", type=int, default=8, choices=range(2, len(DCGM) + 1))
    parser.add_argument("--step", type=int, default=15, help="seconds between samples")
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per query")
    parser.add_argument("--database", default="bench_peer")
    parser.add_argument("--compaction-timeout", type=float, default=150, help="seconds to wait; 0: do not wait")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args(argv)
    for binary in ("promtool", "prometheus"):
        if shutil.which(binary) is None:
            sys.exit(f"{binary} is not on PATH (Debian: apt-get install prometheus)")

    fleet = Fleet(args.gpus)
    steps = args.hours * 3600 // args.step
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=args.hours)
    seconds = int(start.timestamp()) + np.arange(steps, dtype=np.int64) * args.step
    data = generate(args.gpus, args.metrics, steps, args.step)
    values = args.gpus * args.metrics * steps
    figures = {"gpus": args.gpus, "metrics": args.metrics, "step_s": args.step, "hours": args.hours, "values": values}
    print(f"{args.gpus} GPUs x {args.metrics} metrics every {args.step} s for {args.hours} h = {values:,} values")

    work = Path(tempfile.mkdtemp(prefix="prometheus-peer-"))
    prometheus = None
    try:
        # Prometheus: text file (the client's work, untimed), then promtool (timed), then the server.
        text = work / "data.om"
        openmetrics(text, fleet, data, seconds)
        tsdb = work / "tsdb"
        t = time.perf_counter()
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(text), str(tsdb)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        figures["prometheus_load_s"] = time.perf_counter() - t
        text.unlink()
        after_data_ms = (int(seconds[-1]) + 1) * 1000
        figures["prometheus_bytes_created"] = data_block_bytes(tsdb, after_data_ms)[0]
        prometheus = Prometheus(tsdb, work)
        figures["prometheus_compacted"] = args.compaction_timeout > 0 and wait_for_compaction(
            prometheus, tsdb, args.compaction_timeout
        )
        figures["prometheus_bytes"], figures["prometheus_blocks"] = data_block_bytes(tsdb, after_data_ms)
        figures["prometheus_dir_bytes"] = tree_bytes(tsdb)  # with the WAL, head chunks and the markers' blocks

        # Headroom
        setup_database(args.database)
        from telemetry import partitions

        org, source, token, halls, gpu_ids = build_inventory(fleet)
        partitions.ensure_partitions([(start + timedelta(days=d)).date() for d in range(args.hours // 24 + 2)])
        dicts = reading_dicts(data)
        spent = loads_in_turn(token, fleet, gpu_ids, data, seconds, dicts)
        figures.update({f"{load}_load_s": s for load, s in spent.items()})
        figures["stored"] = {load: stored(microsecond) for microsecond, load in enumerate(IN_TURN)}
        empty_samples()
        stamps_dt = [datetime.fromtimestamp(s, UTC) for s in seconds.tolist()]
        figures["ingest_load_s"] = ingest_load(source, fleet, dicts, stamps_dt, end)
        figures["stored"]["ingest"] = stored(0)
        del dicts
        figures["rollup_s"] = build_rollups(start, end)
        raw, rollup_sizes = headroom_bytes()
        figures["headroom_raw_bytes"], figures["headroom_rollup_bytes"] = raw, rollup_sizes
        figures["rollup_tier_shares"] = rollup_tier_shares()

        timed_queries, sealed_queries = queries(prometheus, fleet, org, halls, gpu_ids, data, end)
        # Both systems give the same answers (float4 rollups: ~1e-7 relative) for (a) and (c).
        id_of = dict(zip(fleet.uuid, gpu_ids.tolist(), strict=True))
        figures["same_answers"] = {
            "a": largest_difference(timed_queries[0][3](), timed_queries[0][4](), lambda m: id_of[m["UUID"]], 300),
            "c": largest_difference(timed_queries[2][3](), timed_queries[2][4](), lambda m: halls["hall0"].id, 3600),
        }
        rows_hour, stored_minutes = timed_queries[1][4](), sealed_queries[1][4]()
        figures["queries"] = [time_query(q, args.runs) for q in timed_queries]

        # The live layout: every hour sealed (a day that is over); then the same reads from the blocks.
        figures["seal_s"], figures["blocks"] = seal_all(end)
        figures["sealed_raw_bytes"], figures["sealed_rollup_bytes"] = headroom_bytes()
        assert same_frames(rows_hour, sealed_queries[0][4]()), "the sealed hour differs from its rows"
        # Minutes derived from blocks in float8 against the stored float4 rollups.
        assert same_frames(stored_minutes, sealed_queries[1][4](), rtol=1e-6), "derived minutes differ"
        figures["queries"][2:2] = [time_query(sealed_queries[0], args.runs)]
        figures["queries"].append(time_query(sealed_queries[1], args.runs))
    finally:
        if prometheus is not None:
            prometheus.stop()
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    report(figures, args.runs)
    return figures


def report(f, runs):
    values = f["values"]
    rollups = sum(f["headroom_rollup_bytes"].values())
    prom = f["prometheus_bytes"] / values
    compacted = "after compaction" if f["prometheus_compacted"] else "as created, NOT compacted"
    rows = [
        ("load: promtool create-blocks", f"{f['prometheus_load_s']:.2f} s", ""),
        (
            "load: Headroom binary COPY (baseline)",
            f"{f['copy_load_s']:.2f} s",
            f"{f['copy_load_s'] / f['prometheus_load_s']:.2f}",
        ),
        (
            "load: Headroom ingest()",
            f"{f['ingest_load_s']:.2f} s",
            f"{f['ingest_load_s'] / f['prometheus_load_s']:.2f}",
        ),
        (
            "load: Headroom push API, items (test client)",
            f"{f['push_load_s']:.2f} s",
            f"{f['push_load_s'] / f['prometheus_load_s']:.2f}",
        ),
        (
            "load: Headroom push API, columns (test client)",
            f"{f['column_push_load_s']:.2f} s",
            f"{f['column_push_load_s'] / f['prometheus_load_s']:.2f}",
        ),
        ("load: Headroom rollups 1m+5m+1h", f"{f['rollup_s']:.2f} s", ""),
        (f"bytes/value: Prometheus TSDB dir, {compacted} ({f['prometheus_blocks']} blocks)", f"{prom:.2f}", ""),
        (
            "bytes/value: Headroom raw",
            f"{f['headroom_raw_bytes'] / values:.2f}",
            f"{f['headroom_raw_bytes'] / values / prom:.1f}",
        ),
        (
            "bytes/value: Headroom raw + rollups",
            f"{(f['headroom_raw_bytes'] + rollups) / values:.2f}",
            f"{(f['headroom_raw_bytes'] + rollups) / values / prom:.1f}",
        ),
    ]
    for table, size in f["headroom_rollup_bytes"].items():
        rows.append((f"  of which {table}", f"{size / values:.2f}", f"{size / f['headroom_raw_bytes']:.0%} of raw"))
    gpu_rollups = f["headroom_rollup_bytes"]["telemetry_gpurollup"]
    for resolution, share in f["rollup_tier_shares"].items():
        rows.append(
            (f"    GPU rollups at {resolution} s (share of tuple bytes)", f"{share * gpu_rollups / values:.2f}", "")
        )
    sealed, sealed_rollups = f["sealed_raw_bytes"], sum(f["sealed_rollup_bytes"].values())
    rows += [
        (
            f"bytes/value: sealed raw, GPU-hour blocks ({f['blocks']} sealed in {f['seal_s']:.1f} s)",
            f"{sealed / values:.2f}",
            f"{sealed / values / prom:.2f}",
        ),
        (
            "bytes/value: sealed raw + rollups (no 1 min GPU rollups of sealed hours)",
            f"{(sealed + sealed_rollups) / values:.2f}",
            f"{(sealed + sealed_rollups) / values / prom:.2f}",
        ),
    ]
    for table, size in f["sealed_rollup_bytes"].items():
        rows.append((f"  of which {table}", f"{size / values:.2f}", ""))
    print(f"{'':64s} {'figure':>12s} {'Headroom/Prometheus':>20s}")
    for label, figure, ratio in rows:
        print(f"{label:64s} {figure:>12s} {ratio:>20s}")
    print(
        f"push API / COPY throughput, batch by batch in turn: items (gpu_readings) "
        f"{f['copy_load_s'] / f['push_load_s']:.2f}, "
        f"columns (gpu_columns) {f['copy_load_s'] / f['column_push_load_s']:.2f}; "
        f"ingest() / COPY: {f['copy_load_s'] / f['ingest_load_s']:.2f} (one after the other)"
    )
    for name, (difference, points) in f["same_answers"].items():
        print(f"same answers, query {name}: {points} points, largest relative difference {difference:.1e}")
    print(f"\nquery latency over {runs} runs, ms: Prometheus p50/p95, Headroom p50/p95, ratio of p50s and p95s")
    for q in f["queries"]:
        (pp50, pp95), (hp50, hp95) = q["prometheus_ms"], q["headroom_ms"]
        times = f"{pp50:8.1f} {pp95:8.1f}   {hp50:8.1f} {hp95:8.1f}"
        print(f"{q['query']:40s} {times}   {hp50 / pp50:6.2f} {hp95 / pp95:6.2f}")
        print(f"    PromQL:   {q['promql']}\n    Headroom: {q['headroom']}")


if __name__ == "__main__":
    main()
