"""bench/faults.py at a small size in the suite: push load through gunicorn (2 workers) while, in turn, a gunicorn
worker is SIGKILLed, PostgreSQL drops every connection of the app (pg_terminate_backend, as a server restart or
failover does), and the Celery worker refreshing rollups is SIGKILLed (and another started); then every
acknowledged sample is stored exactly once and the rollups the restarted worker computes count each once. With
Redis unreachable, the push API answers 503 with Retry-After and stores nothing it did not acknowledge."""

import os
import signal
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.db.models import Sum

from bench import faults
from telemetry.models import Gpu, GpuModel, GpuRollup, GpuSample, Source
from telemetry.tasks import refresh_rollups
from tests.conftest import _database_url

from .test_gunicorn_chunked import free_port

GPUS = 8


@pytest.fixture
def fleet(transactional_db, world):
    model = GpuModel.objects.get(name="H100 SXM 80GB")
    gpus = [world.a.gpu] + [
        Gpu.objects.create(node=world.a.node, index=i, uuid=f"GPU-{i:08d}-fa17-0000-0000-000000000000", model=model)
        for i in range(1, GPUS)
    ]
    source = Source.objects.create(organization=world.a.org, name="faults", kind="push")
    return [g.uuid for g in gpus], source.issue_ingest_token()


@pytest.fixture
def start_web(transactional_db, tmp_path):
    """gunicorn (config/gunicorn.py, 2 workers) on the test database; extra environment per call."""
    started = []

    def start(**env):
        port = free_port()
        log = open(tmp_path / f"gunicorn-{len(started)}.log", "w+")  # noqa: SIM115 - closed below
        env = {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "TEST_DATABASE_URL": _database_url(connection.settings_dict),
            "API_THROTTLE_INGEST": "100000/min",
            "DEBUG": "false",  # as deployed: the 503 handler, not the debug page
            **env,
        }
        master = faults.start_gunicorn(port, env=env, log=log)
        started.append((master, log))
        url = f"http://127.0.0.1:{port}"
        try:
            faults.wait_up(url, timeout=60)
        except RuntimeError:
            log.seek(0)
            pytest.fail(f"gunicorn did not start:\n{log.read()[-3000:]}")
        return master, url

    yield start
    for master, log in started:
        master.terminate()
        master.wait(timeout=30)
        log.close()


def terminate_app_connections():
    """What a PostgreSQL restart does to the app: every other session of the test database is ended."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return f"pg_terminate_backend of {cursor.fetchone()[0]} app connections"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_terminate_backend is PostgreSQL's")
def test_no_acknowledged_sample_is_lost_or_doubled_under_faults(fleet, start_web, start_celery_worker):
    uuids, token = fleet
    master, url = start_web()
    workers = [start_celery_worker()]

    def kill_celery_worker():
        refresh_rollups.delay()  # let it be busy when it dies
        os.kill(workers[-1].pid, signal.SIGKILL)
        workers[-1].wait(timeout=30)
        workers.append(start_celery_worker())
        refresh_rollups.delay()
        return f"SIGKILL Celery worker {workers[-2].pid}, started {workers[-1].pid}"

    load = [lambda: faults.kill_web_worker(master), terminate_app_connections, kill_celery_worker]
    # Sample times within the rollup lag, so that the last refresh folds in every one of them.
    start_ts = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    acked, answers = faults.run_load(url, token, uuids, load, seconds=9, every=3, start_ts=start_ts, log=print)

    connection.close()  # terminated above
    with connection.cursor() as cursor:
        lost, doubled, stored = faults.lost_and_doubled(cursor, acked)
    print(f"acknowledged {len(acked)}, stored {len(stored)}, answers {dict(answers)}")
    assert len(acked) > 10 * GPUS and not lost and not doubled
    assert set(stored) == acked  # nothing stored that was not acknowledged in the end

    refresh_rollups.delay().get(timeout=120)  # by the worker started after the kill
    minutes = GpuRollup.objects.filter(resolution=60, gpu__uuid__in=uuids)
    assert minutes.aggregate(n=Sum("gpu_util_n"))["n"] == GpuSample.objects.count() == len(acked)


def test_push_answers_503_with_retry_after_while_redis_is_unreachable(fleet, start_web):
    uuids, token = fleet
    _, url = start_web(REDIS_URL="redis://127.0.0.1:1/0")  # a port nothing listens on
    ts = datetime.now(UTC) - timedelta(minutes=1)
    body = {"gpu_readings": [{"gpu_uuid": u, "ts": ts.isoformat(), "values": {"gpu_util": 5}} for u in uuids]}
    response = requests.post(f"{url}/api/ingest/", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(settings.OUTAGE_RETRY_AFTER_S)
    assert "cache is unavailable" in response.json()["detail"]
    assert not GpuSample.objects.exists()  # not acknowledged, not stored: the client sends it again
    health = requests.get(f"{url}/healthz", timeout=30)
    assert health.status_code == 503 and health.json()["cache"].startswith("error")
