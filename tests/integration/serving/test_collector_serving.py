"""A replica's /metrics scraped over real HTTP through the collection path (telemetry.sources.collect):
samples with deltas, a restart, an endpoint that is down or answers garbage (recorded, nothing lost)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telemetry import sources
from telemetry.collectors.common import CollectorError, TransientCollectorError
from telemetry.models import CollectorRun, Deployment, GpuModel, ServingSample, Source
from telemetry.serving.store import add_replica
from tests.base import PASSWORD

FIXTURES = Path(__file__).parents[2] / "fixtures" / "serving-metrics"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def replica(world, http_peer):
    deployment = Deployment.objects.create(
        organization=world.a.org,
        name="llama-70b",
        llm_model="Llama-3.3-70B",
        engine="sglang",
        gpu_model=GpuModel.objects.get(name="H100 SXM 80GB"),
        tensor_parallel_size=4,
    )
    return add_replica(deployment, name="r0", metrics_url=f"{http_peer.url}/metrics", gpus=[world.a.gpu])


def serve(http_peer, name):
    http_peer.text("/metrics", (FIXTURES / name).read_text())


def collect(replica, now):
    source = Source.objects.get(pk=replica.source_id)
    return sources.collect(source, now=now)


def test_two_scrapes_store_gauges_then_deltas(replica, http_peer):
    serve(http_peer, "sglang-0.5-t0.prom")
    assert collect(replica, T0).accepted == 1
    serve(http_peer, "sglang-0.5-t1.prom")
    assert collect(replica, T0 + timedelta(seconds=15)).accepted == 1
    first, second = ServingSample.objects.filter(replica=replica).order_by("ts")
    assert first.interval_s is None and first.generation_tokens is None and first.requests_running == 12
    assert second.generation_tokens > 0 and second.ttft_p95 >= second.ttft_p50 > 0
    run = CollectorRun.objects.filter(source=replica.source).first()
    assert run.status == "ok" and run.accepted == 1


def test_down_or_garbage_endpoint_is_recorded_on_the_source_and_keeps_what_was_stored(replica, http_peer):
    serve(http_peer, "sglang-0.5-t0.prom")
    collect(replica, T0)
    http_peer.text("/metrics", "<html>upstream connect error</html>", content_type="text/html")
    with pytest.raises(CollectorError, match="not a Prometheus exposition"):
        collect(replica, T0 + timedelta(seconds=15))
    http_peer.text("/metrics", "overloaded", status=503)
    with pytest.raises(TransientCollectorError, match="HTTP 503"):
        collect(replica, T0 + timedelta(seconds=30))
    source = Source.objects.get(pk=replica.source_id)
    assert source.consecutive_failures == 2 and "HTTP 503" in source.last_error
    assert ServingSample.objects.filter(replica=replica).count() == 1
    # The state of the last good scrape is kept: the next good one gets its deltas against it.
    serve(http_peer, "sglang-0.5-t1.prom")
    collect(replica, T0 + timedelta(seconds=45))
    latest = ServingSample.objects.filter(replica=replica).order_by("ts").last()
    assert latest.generation_tokens == EXPECTED["sglang-0.5"]["t0_to_t1"]["generation_tokens"]


def test_binary_garbage_and_impossible_values_show_on_the_sources_page(replica, http_peer, client, world):
    serve(http_peer, "sglang-0.5-t0.prom")
    collect(replica, T0)
    # Bytes that are no text: the failure is recorded (PostgreSQL stores no NUL byte in the error) ...
    http_peer.text("/metrics", b"\x00\x01\x02\x89PNG garbage\n", content_type="application/octet-stream")
    with pytest.raises(CollectorError, match="not a Prometheus exposition"):
        collect(replica, T0 + timedelta(seconds=15))
    source = Source.objects.get(pk=replica.source_id)
    assert source.consecutive_failures == 1 and "not a Prometheus exposition" in source.last_error
    # ... and an exposition whose KV-cache use is 37 (of 0-1) and whose token counter is infinite stores the
    # rest of the sample, leaves those out and names them in the run.
    text = (FIXTURES / "sglang-0.5-t1.prom").read_text()
    text = "\n".join(
        line.rsplit(" ", 1)[0] + (" 37" if "token_usage" in line else " +Inf")
        if line.startswith(("sglang:token_usage{", "sglang:prompt_tokens_total{"))
        else line
        for line in text.splitlines()
    )
    http_peer.text("/metrics", text + "\n")
    assert collect(replica, T0 + timedelta(seconds=30)).rejected == 2
    latest = ServingSample.objects.filter(replica=replica).order_by("ts").last()
    assert latest.kv_cache_usage is None and latest.prompt_tokens is None and latest.generation_tokens > 0
    run = CollectorRun.objects.filter(source=replica.source).order_by("-started").first()
    assert "kv_cache_usage: sglang:token_usage = 37 is outside 0-1" in run.error and "prompt_tokens" in run.error
    assert client.login(username=world.a.users["viewer"].username, password=PASSWORD)
    page = client.get("/sources/").content.decode()
    assert "llama-70b / r0" in page and "not a Prometheus exposition" in page
    assert "sglang:token_usage = 37 is outside 0-1" in page
