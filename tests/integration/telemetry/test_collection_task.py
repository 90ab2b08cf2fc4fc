"""Scheduled collection: the tick fans out, a real worker collects and ingests, runs and failures are recorded."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from telemetry import sources
from telemetry.models import CollectorRun, Event, GpuSample, Source
from telemetry.tasks import collection_tick

FAKE = {"simulator": "tests.integration.telemetry.fake_collector"}


@pytest.fixture
def fake_collector_env(monkeypatch):
    """Must come before celery_worker: the worker process reads it from its environment."""
    monkeypatch.setenv("HEADROOM_COLLECTOR_MODULES", "simulator=tests.integration.telemetry.fake_collector")


def test_a_scheduled_collection_runs_in_a_real_worker_and_its_samples_land(fake_collector_env, celery_worker, world):
    source = Source.objects.create(
        organization=world.a.org, name="sim", kind="simulator", interval_s=60, options={"gpu_uuid": world.a.gpu.uuid}
    )
    Source.objects.create(organization=world.a.org, name="pushed", kind="push")  # never collected
    assert collection_tick.delay().get(timeout=30) == 1
    deadline = time.monotonic() + 30
    while not CollectorRun.objects.filter(source=source).exclude(status="running").exists():
        assert time.monotonic() < deadline, "the worker did not record a run"
        time.sleep(0.2)
    run = CollectorRun.objects.get(source=source)
    assert (run.status, run.accepted, run.rejected) == ("ok", 1, 0)
    assert GpuSample.objects.get(gpu=world.a.gpu).gpu_util == 42.0
    source.refresh_from_db()
    assert source.last_success_at is not None and source.last_run_samples == 1
    assert collection_tick.delay().get(timeout=30) == 0  # not due again within its interval


@override_settings(TELEMETRY_COLLECTOR_MODULES=FAKE, TELEMETRY_COLLECTOR_FAILURE_EVENT_AFTER=3)
def test_repeated_failures_raise_one_event_not_a_storm(world):
    source = Source.objects.create(organization=world.a.org, name="bad", kind="simulator", options={"fail": "bad JSON"})
    start = datetime(2025, 3, 10, tzinfo=UTC)
    for n in range(6):
        with pytest.raises(ValueError, match="bad JSON"):
            sources.collect(source, now=start + timedelta(minutes=n))
    source.refresh_from_db()
    assert source.consecutive_failures == 6 and "bad JSON" in source.last_error and source.last_success_at is None
    assert set(CollectorRun.objects.filter(source=source).values_list("status", flat=True)) == {"failed"}
    event = Event.objects.get(kind="collector_failure")
    assert event.entity == "bad" and event.code == 3

    source.options = {"gpu_uuid": world.a.gpu.uuid}
    source.save()
    sources.collect(source, now=start + timedelta(minutes=10))
    source.refresh_from_db()
    assert source.consecutive_failures == 0 and source.healthy


def test_push_sources_are_not_collectable():
    with pytest.raises(sources.NotCollectable):
        sources.collector_for("push")
