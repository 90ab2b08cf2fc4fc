"""Gaps after an outage, against a real Prometheus: a prometheus_api source that could not be collected for a
while back-fills the span from the query API (chunked, a few chunks per run, nothing stored twice, progress on
the Sources page); a direct scrape target's missed span is recorded as lost."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from telemetry import gaps, sources
from telemetry.collectors import prometheus_api
from telemetry.collectors.common import TransientCollectorError
from telemetry.models import CollectionGap, Gpu, GpuModel, GpuSample, Node, Source

from .conftest import FIXTURES

H100 = (FIXTURES / "prometheus" / "dcgm-exporter-3.3-h100-8gpu.prom").read_text()
UUIDS = sorted(set(line.split('UUID="')[1].split('"')[0] for line in H100.splitlines() if 'UUID="' in line))


@pytest.fixture
def dcgm_node(world):
    """The fixture's 8 GPUs, in organization a's rack."""
    node = Node.objects.create(rack=world.a.rack, hostname="gpu-node-017")
    model = GpuModel.objects.get(name="H100 SXM 80GB")
    return [Gpu.objects.create(node=node, index=i, uuid=uuid, model=model) for i, uuid in enumerate(UUIDS)]


def collect(source_id):
    """One collection as the task runs it: the source read fresh from the database."""
    return sources.collect(Source.objects.get(pk=source_id), now=timezone.now())


def stored_seconds(gpu):
    return [int(ts.timestamp()) for ts in GpuSample.objects.filter(gpu=gpu).order_by("ts").values_list("ts", flat=True)]


def test_a_query_api_source_back_fills_the_span_it_missed(world, dcgm_node, http_peer, prometheus_server, client):
    http_peer.text("/metrics", H100)
    server = prometheus_server([http_peer.url.removeprefix("http://")])
    server.wait_for_samples("DCGM_FI_DEV_GPU_UTIL", at_least=8)
    time.sleep(4)  # history from before the first run's lookback
    options = {"step_s": 1, "lookback_s": 3, "backfill_chunk_s": 3, "backfill_chunks_per_run": 1}
    source = Source.objects.create(
        organization=world.a.org, name="prom", kind="prometheus_api", endpoint=server.url, interval_s=1, options=options
    )
    collect(source.pk)
    collect(source.pk)
    assert not CollectionGap.objects.exists()  # runs within the lookback leave no gap
    before_outage = Source.objects.get(pk=source.pk).last_success_at

    # Prometheus goes on scraping while Headroom cannot reach it.
    Source.objects.filter(pk=source.pk).update(endpoint="http://127.0.0.1:9")
    with pytest.raises(TransientCollectorError):
        collect(source.pk)
    time.sleep(10)
    Source.objects.filter(pk=source.pk).update(endpoint=server.url)

    collect(source.pk)
    gap = CollectionGap.objects.get(source=source)
    assert gap.start == before_outage and gap.state == "backfilling"
    assert 0 < gap.progress < 1 and gap.accepted > 0  # one 3 s chunk of a ~10 s span per run
    client.force_login(world.a.users["viewer"])
    page = client.get("/sources/").content.decode()
    assert "back-filling" in page and f"{round(gap.progress * 100)} %" in page

    for _ in range(5):
        collect(source.pk)
    gap.refresh_from_db()
    assert gap.state == "filled" and gap.filled_upto == gap.end
    # Every second from before the outage to now is stored, once, for every GPU.
    for gpu in dcgm_node:
        seconds = stored_seconds(gpu)
        assert seconds[0] <= before_outage.timestamp() and seconds == list(range(seconds[0], seconds[-1] + 1))
    assert "back-filled" in client.get("/sources/").content.decode()

    # Idempotent: the same span back-filled again stores nothing.
    rows = GpuSample.objects.count()
    CollectionGap.objects.filter(pk=gap.pk).update(state="backfilling", filled_upto=gap.start)
    refill = Source.objects.get(pk=source.pk)
    refill.options = {**options, "backfill_chunks_per_run": 10}
    gaps.backfill_pending(refill, prometheus_api, now=timezone.now())
    again = CollectionGap.objects.get(pk=gap.pk)
    assert again.state == "filled" and GpuSample.objects.count() == rows
    assert again.accepted == gap.accepted and again.duplicate > gap.duplicate


def test_a_back_fill_that_fails_stays_pending_with_its_error(world, dcgm_node):
    now = timezone.now()
    source = Source.objects.create(
        organization=world.a.org, name="prom", kind="prometheus_api", endpoint="http://127.0.0.1:9", timeout_s=1
    )
    gap = gaps.note_gap(source, prometheus_api, now - timedelta(hours=1), now=now)
    assert gap.state == "backfilling" and gap.end == now - prometheus_api.lookback(source)
    gaps.backfill_pending(source, prometheus_api, now=now)
    gap.refresh_from_db()
    assert gap.state == "backfilling" and gap.filled_upto == gap.start
    assert "failed, retried next run" in gap.detail and "cannot reach" in gap.detail
    # Older than raw retention is not asked for, and the gap says so.
    old = gaps.note_gap(source, prometheus_api, now - timedelta(days=30), now=now)
    assert old.filled_upto > now - timedelta(days=8) and "not back-filled before" in old.detail


def test_a_scrape_target_that_was_not_collected_records_a_lost_gap(world, dcgm_node, http_peer, client):
    http_peer.text("/metrics", H100)
    source = Source.objects.create(
        organization=world.a.org, name="dcgm", kind="prometheus", endpoint=f"{http_peer.url}/metrics", interval_s=60
    )
    collect(source.pk)
    collect(source.pk)
    assert not CollectionGap.objects.exists()
    outage_began = timezone.now() - timedelta(minutes=10)
    Source.objects.filter(pk=source.pk).update(last_success_at=outage_began)
    collect(source.pk)
    gap = CollectionGap.objects.get(source=source)
    assert gap.state == "lost" and gap.start == outage_began
    client.force_login(world.a.users["viewer"])
    page = client.get("/sources/").content.decode()
    assert "lost" in page and "keeps no history" in page


NAN_EXPOSITION = (
    f'DCGM_FI_DEV_GPU_UTIL{{gpu="0",UUID="{UUIDS[0]}",Hostname="gpu-node-017"}} 63\n'
    f'DCGM_FI_DEV_POWER_USAGE{{gpu="0",UUID="{UUIDS[0]}",Hostname="gpu-node-017"}} NaN\n'
    f'DCGM_FI_DEV_GPU_TEMP{{gpu="0",UUID="{UUIDS[0]}",Hostname="gpu-node-017"}} +Inf\n'
    "unrelated_metric NaN\n"
)


def test_nan_read_by_a_collector_is_counted_in_its_run_not_dropped(world, dcgm_node, http_peer, prometheus_server):
    http_peer.text("/metrics", NAN_EXPOSITION)
    scrape = Source.objects.create(
        organization=world.a.org, name="dcgm", kind="prometheus", endpoint=f"{http_peer.url}/metrics"
    )
    result = collect(scrape.pk)
    assert (result.accepted, result.rejected) == (1, 2)
    run = scrape.runs.get()
    assert run.rejected == 2 and "DCGM_FI_DEV_POWER_USAGE" in run.error and "NaN" in run.error

    server = prometheus_server([http_peer.url.removeprefix("http://")])
    server.wait_for_samples("DCGM_FI_DEV_POWER_USAGE")
    time.sleep(2)
    pull = Source.objects.create(
        organization=world.a.org, name="prom", kind="prometheus_api", endpoint=server.url, options={"step_s": 1}
    )
    result = collect(pull.pk)
    assert result.accepted >= 1 and result.rejected == 2  # one error per series, naming how many values
    run = pull.runs.get()
    assert "DCGM_FI_DEV_GPU_TEMP" in run.error and "values NaN or infinity" in run.error
