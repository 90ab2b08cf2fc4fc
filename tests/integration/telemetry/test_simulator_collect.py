"""The simulator collector against the real database: one round for the organization's fleet through
ingest, and a scheduled collection in a real Celery worker."""

import time

from django.utils import timezone

from telemetry import sources
from telemetry.collectors import simulator
from telemetry.models import CollectorRun, GpuSample, Sample, Source
from telemetry.tasks import collection_tick


def test_a_collection_round_ingests_the_whole_fleet_without_rejects(world):
    source = Source.objects.create(organization=world.a.org, name="sim", kind="simulator", interval_s=60)
    result = sources.collect(source, now=timezone.now())
    assert result.rejected == 0, result.errors
    sample = GpuSample.objects.get(gpu=world.a.gpu)
    assert 0 <= sample.gpu_util <= 100 and 0 < sample.gpu_power <= world.a.gpu.model.tdp_w
    metrics = set(Sample.objects.filter(series__organization=world.a.org).values_list("series__metric", flat=True))
    assert {"node_power", "node_inlet_temp", "rack_power", "site_outdoor_temp", "facility_power"} <= metrics
    assert not GpuSample.objects.filter(gpu=world.b.gpu).exists()
    # The same round again adds nothing.
    again = sources.collect(source, now=timezone.now())
    assert again.accepted == 0 or GpuSample.objects.filter(gpu=world.a.gpu).count() == 2


def test_fleet_from_inventory_follows_the_organization(world):
    fleet = simulator.fleet_from_inventory(world.a.org)
    assert [g.uuid for g in fleet.gpus()] == [world.a.gpu.uuid]
    assert fleet.sites[0].halls[0].racks[0].nodes[0].hostname == world.a.node.hostname


def test_scheduled_simulator_collection_in_a_real_worker(celery_worker, world):
    source = Source.objects.create(organization=world.a.org, name="sim", kind="simulator", interval_s=60)
    assert collection_tick.delay().get(timeout=30) == 1
    deadline = time.monotonic() + 60
    while not CollectorRun.objects.filter(source=source).exclude(status="running").exists():
        assert time.monotonic() < deadline, "the worker did not record a run"
        time.sleep(0.2)
    run = CollectorRun.objects.get(source=source)
    assert run.status == "ok" and run.rejected == 0 and run.accepted > 5, run.error
    assert GpuSample.objects.filter(gpu=world.a.gpu).exists()
