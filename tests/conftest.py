import os
import subprocess
import sys
import time

import pytest
from django.conf import settings


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    where = db["NAME"] if db["ENGINE"].endswith("sqlite3") else f"{db.get('HOST')}:{db.get('PORT')}/{db['NAME']}"
    broker = settings.CELERY_BROKER_URL
    lines = [
        f"headroom database: {db['ENGINE'].rsplit('.', 1)[-1]} ({where})",
        f"headroom celery broker: {broker}" + (" (services required)" if settings.REQUIRE_SERVICES else ""),
    ]
    if config.getoption("numprocesses", None):  # tests/settings.py: one Redis database per worker
        lines.append("headroom xdist workers: test database suffix _gwN, Redis database N below the broker's")
    return lines


@pytest.hookimpl(trylast=True)  # after pytest-django's own ordering (plain db tests, then transactional)
def pytest_collection_modifyitems(items):
    """Browser tests last: Playwright's event loop keeps running in the main thread once started."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: API throttle counts are kept per user id, which SQLite hands out
    again after a test's rollback, so one test's requests would count against the next one's user."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def world(db):
    from tests.base import build_world

    return build_world()


@pytest.fixture
def redis_url():
    """The tests' Redis database, emptied; a missing Redis fails under REQUIRE_SERVICES, else skips."""
    import redis

    try:
        client = redis.Redis.from_url(settings.TEST_REDIS_URL)
        client.ping()
    except redis.RedisError as exc:
        if settings.REQUIRE_SERVICES:
            pytest.fail(f"Redis is required but does not answer: {exc}")
        pytest.skip(f"Redis not available: {exc}")
    client.flushdb()
    return settings.TEST_REDIS_URL


def _database_url(settings_dict):
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    return f"postgres://{user}@{host}:{settings_dict.get('PORT') or 5432}/{settings_dict['NAME']}"


@pytest.fixture
def start_celery_worker(transactional_db, redis_url, tmp_path):
    """Starts real Celery worker processes on the Redis broker, using the test database (a test that kills
    one can start the next); each is stopped at the end unless the test ended it."""
    from django.db import connection

    from config.celery import app

    started = []

    def start():
        env = {
            **os.environ,  # read now: a test may set what the worker reads (e.g. TEST_EMAIL_URL) before
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "TEST_DATABASE_URL": _database_url(connection.settings_dict),
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
        }
        hostname = f"test-{os.getpid()}-{len(started)}@localhost"
        log = open(tmp_path / f"worker-{len(started)}.log", "w+")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                f"--hostname={hostname}",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
        )
        started.append((proc, log))
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"Celery worker did not start:\n{log.read()[-3000:]}")
        return proc

    yield start
    for proc, log in started:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        log.close()


@pytest.fixture
def celery_worker(start_celery_worker):
    """A real Celery worker process on the Redis broker, using the test database."""
    return start_celery_worker()
