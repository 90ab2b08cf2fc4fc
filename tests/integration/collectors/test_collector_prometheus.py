"""Prometheus collectors against real peers: an exposition served over HTTP, and a real Prometheus server."""

import time
from datetime import UTC, datetime

import pytest

from telemetry.collectors import prometheus, prometheus_api
from telemetry.collectors.common import CollectorError
from telemetry.models import Source

from .conftest import FIXTURES

H100 = (FIXTURES / "prometheus" / "dcgm-exporter-3.3-h100-8gpu.prom").read_text()
NODE = (FIXTURES / "prometheus" / "node-exporter-1.5.prom").read_text()


def scrape_source(url, **options):
    return Source(name="dcgm", kind=Source.Kind.PROMETHEUS, endpoint=url, timeout_s=2, options=options)


def test_scrape_dcgm_exporter_over_http(http_peer):
    http_peer.text("/metrics", H100)
    batch = prometheus.collect(scrape_source(f"{http_peer.url}/metrics"))
    assert len(batch.gpu_readings) == 8
    assert (
        sum(len(r.values) for r in batch.gpu_readings) == 8 * 14 - 1
    )  # all 14 GPU metrics, less GPU 6's remap sentinel dropped
    assert {e.code for e in batch.events} <= {48}


def test_scrape_node_exporter_names_the_node_from_options(http_peer):
    http_peer.text("/metrics", NODE)
    batch = prometheus.collect(scrape_source(f"{http_peer.url}/metrics", hostname="gpu-node-017"))
    assert {(p.entity, p.metric) for p in batch.point_readings} == {
        ("gpu-node-017", "node_power"),
        ("gpu-node-017", "node_fan"),
    }


def test_scrape_errors_name_the_source_and_the_problem(http_peer):
    http_peer.text("/boom", "internal error", status=500)
    http_peer.text("/html", "<html><body>login</body></html>", content_type="text/html")
    http_peer.slow("/slow", 3)
    with pytest.raises(CollectorError, match=r"dcgm \(http://127.0.0.1:\d+/boom\).*HTTP 500"):
        prometheus.collect(scrape_source(f"{http_peer.url}/boom"))
    with pytest.raises(CollectorError, match="not the Prometheus text format"):
        prometheus.collect(scrape_source(f"{http_peer.url}/html"))
    source = scrape_source(f"{http_peer.url}/slow")
    source.timeout_s = 1
    with pytest.raises(CollectorError, match="within 1 s"):
        prometheus.collect(source)
    closed = scrape_source("http://127.0.0.1:9/metrics")
    with pytest.raises(CollectorError, match="cannot reach"):
        prometheus.collect(closed)


def api_source(url, **options):
    return Source(
        name="prom",
        kind=Source.Kind.PROMETHEUS_API,
        endpoint=url,
        timeout_s=5,
        interval_s=60,
        options={"step_s": 1, "lookback_s": 30, **options},
    )


def test_query_range_from_a_real_prometheus_scraping_dcgm_and_node_exporter(
    http_peer, node_exporter, prometheus_server
):
    http_peer.text("/metrics", H100)
    dcgm_target = http_peer.url.removeprefix("http://")
    server = prometheus_server([dcgm_target, node_exporter.removeprefix("http://")])
    server.wait_for_samples("DCGM_FI_DEV_GPU_UTIL", at_least=8)
    server.wait_for_samples("node_load1")
    time.sleep(2.5)  # a few more 1 s scrapes, so the range holds several points per series

    source = api_source(
        server.url,
        queries=[{"query": "node_load1", "metric": "node_power", "entity_label": "instance", "scale": 100}],
    )
    batch = prometheus_api.collect(source)

    uuids = {r.gpu_uuid for r in batch.gpu_readings}
    assert len(uuids) == 8
    assert len({r.ts for r in batch.gpu_readings}) >= 2  # a range, not one instant
    reading = next(r for r in batch.gpu_readings if r.gpu_uuid == "GPU-6ecace3c-0490-ca26-561d-2417eb837ba8")
    assert reading.values["gpu_mem_used"] == 78611 * 1024 * 1024
    assert reading.values["gpu_energy"] == pytest.approx(986286437.646)
    assert reading.values["gpu_retired_pages"] == 3
    assert [e.code for e in batch.events if e.gpu_uuid == reading.gpu_uuid][:1] == [48]
    # The custom query: node-exporter's load through PromQL, entity from the instance label.
    loads = [p for p in batch.point_readings if p.metric == "node_power"]
    assert loads and {p.entity for p in loads} == {"127.0.0.1"}
    assert all(p.ts <= datetime.now(UTC) for p in loads)


def test_query_range_errors_name_the_query(prometheus_server, http_peer):
    server = prometheus_server([])
    server.wait_for_samples("vector(1)")
    source = api_source(server.url, defaults=False, queries=[{"query": "rate(", "metric": "node_power"}])
    with pytest.raises(CollectorError, match=r"query 'rate\(' failed \(HTTP 400\): bad_data"):
        prometheus_api.collect(source)
    http_peer.text("/api/v1/query_range", "{not json", content_type="application/json")
    with pytest.raises(CollectorError, match="not JSON"):
        prometheus_api.collect(api_source(http_peer.url))
    with pytest.raises(CollectorError, match=r"queries\[0\].*not a vocabulary metric"):
        prometheus_api.collect(api_source(server.url, queries=[{"query": "up", "metric": "cpu_load"}]))
