"""PromQL mode (TELEMETRY_RAW_STORE = "prometheus") against a real Prometheus started here: pushed GPU samples
are remote-written, read back through telemetry.query and the GPU page, and the rollup job builds from them
the same rollups as postgres mode from the same samples. A Prometheus that does not answer: the push API
answers 503 with Retry-After and stores nothing."""

import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import requests
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from telemetry import query, rollups
from telemetry.models import Gpu, GpuRollup, GpuSample, HallRollup, RollupWatermark, Source
from telemetry.pages import gpus as gpu_pages
from telemetry.promstore import RawStoreUnavailable
from tests.base import PASSWORD
from tests.integration.collectors.conftest import PrometheusServer, free_port, require_binary

STEP_S = 10


def ready(url):
    try:
        return requests.get(f"{url}/-/ready", timeout=1).ok
    except requests.RequestException:
        return False


@pytest.fixture
def prometheus_store(tmp_path):
    """Debian's prometheus with the remote-write receiver on, scraping nothing, accepting samples 30 days late."""
    server = PrometheusServer(
        require_binary("prometheus"),
        tmp_path,
        [],
        config_extra="storage:\n  tsdb:\n    out_of_order_time_window: 30d\n",
        args=["--web.enable-remote-write-receiver"],
    )
    deadline = time.monotonic() + 30
    while not ready(server.url):
        if server.process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"prometheus did not start: {server._log_tail()}")
        time.sleep(0.2)
    with override_settings(TELEMETRY_RAW_STORE="prometheus", TELEMETRY_PROMETHEUS_URL=server.url):
        yield server
    server.stop()


def push_client(organization):
    source = Source.objects.create(organization=organization, name="push", kind="push")
    client = APIClient(raise_request_exception=False)  # a 503 is answered, not raised
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {source.issue_ingest_token()}")
    return client


@pytest.fixture
def fleet(world):
    """Organization a with two GPUs on one node and a push client; b's one GPU shares the store."""
    a = world.a
    uuid = "GPU-00000002-0000-4000-8000-000000000002"
    second = Gpu.objects.create(node=a.node, index=1, uuid=uuid, model=a.gpu.model)
    return world, [a.gpu, second], push_client(a.org)


def readings(gpus, start, steps):
    """Deterministic readings at each metric's real resolution: {(gpu id, ts): values}."""
    rng = np.random.default_rng(14)
    out = {}
    for k in range(steps):
        ts = start + timedelta(seconds=k * STEP_S)
        for n, gpu in enumerate(gpus):
            if k % 7 == 3 and n == 1:
                continue  # a missed sample: counts differ between GPUs
            util = int(rng.integers(0, 101))
            out[gpu.id, ts] = {
                "gpu_util": util,
                "gpu_power": round(70 + 6.2 * util + float(rng.normal(0, 8)), 3),
                "gpu_mem_used": int(rng.integers(1, 80_000)) * 2**20,
                "gpu_energy": round(1e6 + 700.0 * k, 3),
                "gpu_temp": 30 + util // 3,
                "gpu_throttle_reasons": 4 if util > 90 else 0,
                "gpu_retired_pages": n,
            }
    return out


def push(client, gpus, samples):
    uuid_of = {g.id: g.uuid for g in gpus}
    items = [{"gpu_uuid": uuid_of[g], "ts": ts.isoformat(), "values": v} for (g, ts), v in samples.items()]
    return client.post("/api/ingest/", json.dumps({"gpu_readings": items}), content_type="application/json")


def window():
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    return end - timedelta(minutes=40), end


def test_pushed_samples_are_read_back_through_promql(prometheus_store, fleet, client):
    world, gpus, pusher = fleet
    start, end = window()
    samples = readings(gpus, start, 240)
    response = push(pusher, gpus, samples)
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == len(samples)
    assert not GpuSample.objects.exists()  # the raw table is not written in this mode

    ids = [g.id for g in gpus]
    for metric in ("gpu_util", "gpu_power", "gpu_mem_used", "gpu_energy", "gpu_throttle_reasons", "gpu_retired_pages"):
        frame = query.gpu_series(ids, metric, start, end, resolution=query.RAW)
        expected = sorted((g, ts, v[metric]) for (g, ts), v in samples.items() if ts < end)
        got = sorted(zip(frame["gpu_id"], frame["ts"].dt.to_pydatetime(), frame["value"], strict=True))
        assert [(g, ts) for g, ts, _ in got] == [(g, ts) for g, ts, _ in expected], metric
        np.testing.assert_allclose([v for *_, v in got], [v for *_, v in expected], rtol=1e-12, err_msg=metric)

    # the GPU page's utilization chart: the raw level over the last hour
    client.login(username=world.a.users["viewer"].username, password=PASSWORD)
    page = client.get(reverse("gpu-detail", args=[gpus[1].pk]), {"range": "1h"})
    assert page.status_code == 200
    traces = {t.name: t for _, fig, _ in page.context["figures"] for t in fig.data}
    shown = [y for y in traces["gpu_util"].y if y is not None]
    assert shown == [v["gpu_util"] for (g, _), v in sorted(samples.items(), key=lambda i: i[0][1]) if g == gpus[1].id]

    # the GPU explorer's current values: each GPU's latest sample of the last 5 minutes
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    assert push(pusher, gpus, {(gpus[0].id, recent): {"gpu_util": 55, "gpu_power": 300.5}}).status_code == 202
    assert gpu_pages.current_gpu_values(ids, datetime.now(UTC)) == {gpus[0].id: (recent, 55.0, 300.5, None)}
    # the same again is accepted (Prometheus keeps one); another value for that instant is refused, said why
    assert push(pusher, gpus, {(gpus[0].id, recent): {"gpu_util": 55, "gpu_power": 300.5}}).status_code == 202
    refused = push(pusher, gpus, {(gpus[0].id, recent): {"gpu_util": 56}})
    assert refused.status_code == 409
    assert "duplicate sample" in refused.json()["detail"]
    assert gpu_pages.current_gpu_values(ids, datetime.now(UTC))[gpus[0].id][1] == 55.0

    # a hall's rack aggregate on raw samples (the heatmap's), grouped like the table's GROUP BY
    frame = query.aggregate_gpus(ids, "gpu_power", start, end, how="max", group_by="rack", resolution=query.RAW)
    by_ts = {}
    for (_, ts), v in samples.items():
        by_ts[ts] = max(by_ts.get(ts, -1.0), v["gpu_power"])
    assert set(frame["rack"]) == {world.a.rack.id}
    assert dict(zip(frame["ts"].dt.to_pydatetime(), frame["value"], strict=True)) == by_ts


def rollup_rows():
    """Every GPU and hall rollup row by its key."""
    gpu = {(r["resolution"], r["gpu_id"], r["ts"]): r for r in GpuRollup.objects.values()}
    hall = {(r["resolution"], r["hall_id"], r["ts"]): r for r in HallRollup.objects.values()}
    return gpu, hall


def assert_same_rows(got, expected):
    assert got.keys() == expected.keys()
    assert got, "no rollups were built"
    for key, row in expected.items():
        for column, value in row.items():
            other = got[key][column]
            if isinstance(value, float):  # float4 columns: the database's sum and Prometheus's differ in the last bits
                assert other == pytest.approx(value, rel=1e-6), (key, column)
            else:
                assert other == value, (key, column)


def test_rollups_from_promql_equal_those_from_the_table(prometheus_store, fleet):
    world, gpus, pusher = fleet
    start, end = window()
    samples = readings(gpus, start, 240)
    now = end + timedelta(minutes=3)

    other = push_client(world.b.org), [world.b.gpu], readings([world.b.gpu], start, 240)

    assert push(pusher, gpus, samples).status_code == 202
    assert push(*other).status_code == 202
    rollups.refresh_rollups(now=now)
    from_promql = rollup_rows()

    GpuRollup.objects.all().delete()
    HallRollup.objects.all().delete()
    RollupWatermark.objects.all().delete()
    with override_settings(TELEMETRY_RAW_STORE="postgres"):
        assert push(pusher, gpus, samples).status_code == 202
        assert push(*other).status_code == 202
        assert GpuSample.objects.count() == len(samples) + len(other[2])
        rollups.refresh_rollups(now=now)
    from_table = rollup_rows()

    for got, expected in zip(from_promql, from_table, strict=True):
        assert_same_rows(got, expected)
    minute = {k: r for k, r in from_table[0].items() if k[0] == 60}
    assert sum(r["gpu_util_n"] for r in minute.values()) == len(samples) + len(other[2])
    assert {k[1] for k in minute} == {g.id for g in [*gpus, world.b.gpu]}


def test_an_unreachable_prometheus_is_an_outage_and_nothing_is_lost_silently(fleet):
    world, gpus, pusher = fleet
    start, _ = window()
    closed = f"http://127.0.0.1:{free_port()}"
    with override_settings(TELEMETRY_RAW_STORE="prometheus", TELEMETRY_PROMETHEUS_URL=closed):
        response = push(pusher, gpus, readings(gpus, start, 3))
        assert response.status_code == 503
        assert int(response["Retry-After"]) > 0
        assert "raw-sample store" in response.json()["detail"]
        with pytest.raises(RawStoreUnavailable, match="cannot reach"):
            query.gpu_series([g.id for g in gpus], "gpu_util", start, start + timedelta(minutes=1), resolution=0)
    assert not GpuSample.objects.exists()
