"""Scheduled collection: the tick fans out, a real worker collects and ingests, runs and failures are recorded."""

import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from telemetry import sources
from telemetry.collectors.common import CollectorError
from telemetry.models import CollectorRun, Event, GpuSample, Source
from telemetry.tasks import collect_source, collection_tick

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


def test_a_failure_with_control_characters_is_recorded_printable(world):
    """A device's garbage in an error (PostgreSQL refuses a NUL) must not make recording the failure fail."""
    source = Source.objects.create(organization=world.a.org, name="garbage", kind="simulator")
    now = datetime(2025, 3, 10, tzinfo=UTC)
    run = CollectorRun.objects.create(source=source, started=now)
    sources.record_failure(source, run, "CollectorError: bad \x00\x1b[31m bytes", now=now)
    source.refresh_from_db()
    assert source.last_error == "CollectorError: bad \\x00\\x1b[31m bytes" and source.consecutive_failures == 1
    assert CollectorRun.objects.get(source=source).error == source.last_error


def test_push_sources_are_not_collectable():
    with pytest.raises(sources.NotCollectable):
        sources.collector_for("push")


@pytest.fixture
def flaky_exporter(world):
    """A real HTTP server on 127.0.0.1: /metrics answers 503 first, then a dcgm-exporter page for world.a's
    GPU; any other path 404."""
    page = f'DCGM_FI_DEV_GPU_UTIL{{gpu="0",UUID="{world.a.gpu.uuid}",Hostname="{world.a.node.hostname}"}} 61\n'
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if self.path != "/metrics":
                status, body = 404, b"no such page"
            elif hits.count("/metrics") == 1:
                status, body = 503, b"exporter restarting"
            else:
                status, body = 200, page.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def _statuses(source):
    return list(CollectorRun.objects.filter(source=source).order_by("started", "id").values_list("status", flat=True))


def test_a_5xx_from_a_collector_is_retried_and_the_retry_lands(world, flaky_exporter):
    """The scrape collector turns HTTP 503 into TransientCollectorError and collect_source autoretries it
    (run eagerly here: the backoff countdown is skipped, the retry is not)."""
    base, hits = flaky_exporter
    source = Source.objects.create(organization=world.a.org, name="dcgm", kind="prometheus", endpoint=base + "/metrics")
    outcome = collect_source.apply((source.pk,))
    assert outcome.successful(), outcome.traceback
    assert outcome.result["accepted"] == 1 and hits == ["/metrics", "/metrics"]
    assert _statuses(source) == ["failed", "ok"]
    assert "HTTP 503" in CollectorRun.objects.get(source=source, status="failed").error
    assert GpuSample.objects.get(gpu=world.a.gpu).gpu_util == 61.0


def test_a_refused_connection_is_retried_up_to_max_retries_and_a_404_not_at_all(world, flaky_exporter):
    base, hits = flaky_exporter
    refused = Source.objects.create(
        organization=world.a.org, name="gone", kind="prometheus", endpoint="http://127.0.0.1:9/"
    )
    assert not collect_source.apply((refused.pk,)).successful()
    assert _statuses(refused) == ["failed"] * (1 + collect_source.max_retries)

    missing = Source.objects.create(organization=world.a.org, name="typo", kind="prometheus", endpoint=base + "/metric")
    outcome = collect_source.apply((missing.pk,))
    assert not outcome.successful() and isinstance(outcome.result, CollectorError)
    assert _statuses(missing) == ["failed"] and hits == ["/metric"]


def test_nvml_collections_go_to_the_queue_of_the_gpu_host_they_read(world, redis_url):
    """Only a worker on the GPU host can read its NVML: the tick routes each NVML source to nvml.<hostname>
    (what runall's worker and a GPU host's `celery worker -Q nvml.<hostname>` consume), the rest stay on the
    default queue or the one their options name."""
    import redis

    org = world.a.org
    Source.objects.create(organization=org, name="nvml a", kind="nvml", endpoint="gpu-host-a", interval_s=10)
    Source.objects.create(organization=org, name="nvml b", kind="nvml", endpoint="gpu-host-b", interval_s=10)
    Source.objects.create(organization=org, name="scrape", kind="prometheus", endpoint="http://x:9400/metrics")
    Source.objects.create(
        organization=org, name="site", kind="redfish", endpoint="https://bmc", options={"queue": "collect.site-1"}
    )
    assert collection_tick() == 4  # run here; it only enqueues
    queued = redis.Redis.from_url(redis_url)
    assert {q: queued.llen(q) for q in ("nvml.gpu-host-a", "nvml.gpu-host-b", "celery", "collect.site-1")} == {
        "nvml.gpu-host-a": 1,
        "nvml.gpu-host-b": 1,
        "celery": 1,
        "collect.site-1": 1,
    }
