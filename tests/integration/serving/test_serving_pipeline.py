"""The serving pipeline on the real database: the demo's deployment and serving history built from its GPUs'
1-minute rollups, serving rollups, measured efficiency joined with the GPUs' energy, the anomaly detector
finding the injected queue build-up, acknowledge/mute by role, pages and API (CSV/XLSX), isolation, and the
demo's replicas going on live after the seed."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from telemetry import sources
from telemetry.collectors import serving as serving_collector
from telemetry.ingest import ingest
from telemetry.models import Anomaly, AnomalyMute, Deployment, Replica, ServingRollup, ServingSample, Source
from telemetry.serving import anomalies as serving_anomalies
from telemetry.serving import demo as serving_demo
from telemetry.serving import rollups as serving_rollups
from telemetry.vocabulary import Batch, GpuReading
from tests.base import PASSWORD

from .demo_world import POWER_W, serve_demo


@pytest.fixture
def served(world):
    return world, serve_demo(world)


def test_demo_seed_creates_the_deployment_its_history_and_rollups(served):
    world, now = served
    deployment = Deployment.objects.get(organization=world.a.org)
    assert (deployment.name, deployment.engine, deployment.replica_count) == ("llama-8b-chat", "vllm", 4)
    assert ServingSample.objects.filter(replica__deployment=deployment).count() == 4 * 26 * 60
    hourly = ServingRollup.objects.filter(resolution=3600, replica__deployment=deployment)
    raw_tokens = ServingSample.objects.filter(replica__deployment=deployment).aggregate(t=Sum("generation_tokens"))
    assert hourly.aggregate(t=Sum("generation_tokens"))["t"] == pytest.approx(raw_tokens["t"])
    # Re-running the refresh replaces the buckets instead of adding to them.
    serving_rollups.refresh_serving_rollups(now=now, since=now - timedelta(hours=26))
    assert hourly.aggregate(t=Sum("generation_tokens"))["t"] == pytest.approx(raw_tokens["t"])


def test_measured_efficiency_joins_tokens_with_the_gpus_energy(served):
    world, now = served
    deployment = Deployment.objects.get(organization=world.a.org)
    start, end = now - timedelta(hours=24), now
    e = serving_rollups.measured_efficiency(deployment, start, end, now=now)
    tokens = ServingSample.objects.filter(replica__deployment=deployment, ts__gte=start, ts__lt=end).aggregate(
        t=Sum("generation_tokens")
    )["t"]
    assert e.gpu_hours == pytest.approx(4 * 24, rel=0.01)
    assert e.energy_kwh == pytest.approx(4 * 24 * POWER_W / 1000, rel=0.01)
    assert e.tokens_per_gpu_hour == pytest.approx(tokens / e.gpu_hours)
    assert e.tokens_per_kwh == pytest.approx(tokens / e.energy_kwh)
    price = float(world.a.site.electricity_price_usd_per_kwh)
    assert e.usd_per_million_tokens_energy == pytest.approx(e.energy_kwh * price / tokens * 1e6)
    assert e.usd_per_million_tokens_rented > e.usd_per_million_tokens_energy > 0


def test_detector_finds_the_injected_queue_on_that_replica_only(served):
    world, now = served
    found = Anomaly.objects.filter(organization=world.a.org)
    assert found.exists()
    assert {a.replica.name for a in found if a.replica} == {"r2"}
    assert {a.metric for a in found} <= {"requests_waiting", "ttft_p95"}
    assert all(a.explanation and a.expected_high is not None for a in found)
    # A second run a minute later extends what is open instead of adding rows.
    before = found.count()
    serving_anomalies.detect_organization(world.a.org, end=now + timedelta(minutes=1))
    assert found.count() == before


def test_viewer_cannot_mute_planner_can_and_muted_raises_nothing(served, client):
    world, now = served
    anomaly = Anomaly.objects.filter(organization=world.a.org).first()
    client.login(username=world.a.users["viewer"].username, password=PASSWORD)
    assert client.post(reverse("anomaly-mute", args=[anomaly.pk]), {"hours": 8}).status_code == 403
    client.login(username=world.a.users["planner"].username, password=PASSWORD)
    assert client.post(reverse("anomaly-mute", args=[anomaly.pk]), {"hours": 8}).status_code == 302
    assert client.post(reverse("anomaly-acknowledge", args=[anomaly.pk])).status_code == 302
    assert AnomalyMute.objects.filter(replica=anomaly.replica, metric=anomaly.metric).exists()
    Anomaly.objects.all().delete()
    serving_anomalies.detect_organization(world.a.org, end=now)
    assert not Anomaly.objects.filter(replica=anomaly.replica, metric=anomaly.metric).exists()


def test_pages_and_api_render_and_other_organizations_see_nothing(served, client):
    world, _ = served
    deployment = Deployment.objects.get(organization=world.a.org)
    client.login(username=world.a.users["viewer"].username, password=PASSWORD)
    for url in (
        reverse("deployment-list"),
        reverse("deployment-detail", args=[deployment.pk]),
        reverse("anomaly-list"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    assert b"llama-8b-chat" in client.get(reverse("deployment-list")).content
    assert b"llama-8b-chat/r2" in client.get(reverse("anomaly-list")).content
    csv = client.get(reverse("api-deployment-efficiency"), {"format": "csv"})
    assert csv.status_code == 200 and b"llama-8b-chat" in csv.content
    xlsx = client.get(reverse("api-anomaly-merged"), {"format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    series = client.get(reverse("api-deployment-series", args=[deployment.pk]))
    assert series.status_code == 200 and series.json()["tables"]["Series"]
    client.login(username=world.b.users["admin"].username, password=PASSWORD)
    assert client.get(reverse("deployment-detail", args=[deployment.pk])).status_code == 404
    assert client.get(reverse("api-deployment-detail", args=[deployment.pk])).status_code == 404
    assert client.get(reverse("api-anomaly-list")).json()["results"] == []


def test_the_demo_replicas_go_on_live_from_their_gpus_and_r2_builds_a_queue_every_six_hours(served):
    world, now = served
    replicas = {r.name: r for r in Replica.objects.filter(deployment__name="llama-8b-chat").select_related("source")}
    assert all(r.source.enabled and r.source.options["simulated"] for r in replicas.values())
    # A collection round as the beat runs it (at the current minute, the one after the seeded history).
    for replica in replicas.values():
        assert sources.collect(replica.source, now=timezone.now()).accepted == 1
    live = ServingSample.objects.filter(replica__in=replicas.values(), ts__gte=now)
    assert live.count() == 4 and all(s.interval_s == 60 and s.generation_tokens > 0 for s in live)
    assert Source.objects.get(pk=replicas["r0"].source_id).healthy
    # Later minutes, after the one just collected (else a peak at that minute is a resent row): r2's
    # build-up at its height, and two hours after it.
    after = max(s.ts for s in live) + timedelta(minutes=1)
    minute = int((after - serving_demo.EPOCH).total_seconds() // 60)
    peak = after + timedelta(minutes=(19 - minute) % serving_demo.LIVE_ANOMALY_EVERY_MIN)
    calm = peak + timedelta(minutes=120)
    for at in (peak, calm):
        for replica in replicas.values():
            sample = serving_demo.simulated_scrape(replica.source, at + timedelta(seconds=7))
            assert serving_collector.ingest(replica.source, sample, now=at).accepted == 1
    samples = {
        (s.replica.name, s.ts): s for s in ServingSample.objects.filter(ts__in=[peak, calm]).select_related("replica")
    }
    assert samples[("r2", peak)].requests_waiting >= 70 > samples[("r0", peak)].requests_waiting
    assert samples[("r2", calm)].requests_waiting < 30


def test_a_live_replica_reads_its_gpus_raw_utilization_in_the_step(served):
    """The mean of its GPUs' raw samples in (start, end], read through the query layer."""
    world, now = served
    replica = Replica.objects.get(deployment__name="llama-8b-chat", name="r0")
    gpu = replica.gpus.first()
    start = now + timedelta(minutes=1)
    utils = {0: 10, 30: 50, 60: 70}  # the first at `start`, left out
    readings = [GpuReading(gpu.uuid, start + timedelta(seconds=s), {"gpu_util": u}) for s, u in utils.items()]
    assert ingest(world.a.org, Batch(gpu_readings=readings), now=start + timedelta(minutes=1)).accepted == 3
    assert serving_demo._live_load(replica, start, start + timedelta(minutes=1)) == pytest.approx(0.6)
