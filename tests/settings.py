"""Test settings: real PostgreSQL and Redis when they answer (CI requires them), SQLite otherwise.

Set REQUIRE_SERVICES=1 to make a missing PostgreSQL or Redis fail the run instead of falling back.
"""

import os
import socket


def _answers(host, port):
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")
os.environ.setdefault("HTTPS", "false")
# Each pytest-xdist worker (gw0, gw1 ...) keeps its files (uploads, the filesystem broker without Redis) apart.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
# Set, not defaulted: xdist workers inherit the controller's environment.
_data_dir = os.environ["HEADROOM_DATA_DIR"] = "/tmp/headroom-test-data" + (f"-{_xdist_worker}" if _xdist_worker else "")

_db_url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
if not _db_url and _answers("127.0.0.1", 5432):
    _db_url = "postgres://postgres@127.0.0.1:5432/test"
if not _db_url and REQUIRE_SERVICES:
    raise RuntimeError("REQUIRE_SERVICES=1 but no PostgreSQL answers on 127.0.0.1:5432")
os.environ["DATABASE_URL"] = _db_url or f"sqlite:///{_data_dir}/test.sqlite3"

# Tests use their own Redis database; parallel runs pick another one with TEST_REDIS_URL. Each xdist worker
# takes the one that many below it, so workers never share a broker or a flushdb.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
if _xdist_worker.startswith("gw"):
    _base, _, _number = TEST_REDIS_URL.rpartition("/")
    TEST_REDIS_URL = f"{_base}/{(int(_number) - int(_xdist_worker[2:])) % 16}"
REDIS_AVAILABLE = _answers("127.0.0.1", 6379)
if REQUIRE_SERVICES and not REDIS_AVAILABLE:
    raise RuntimeError("REQUIRE_SERVICES=1 but no Redis answers on 127.0.0.1:6379")
if REDIS_AVAILABLE:
    os.environ["CELERY_BROKER_URL"] = os.environ["CELERY_RESULT_BACKEND"] = TEST_REDIS_URL

from config.settings import *  # noqa: E402,F403

# Parallel test runs (several checkouts on one server) must not share a test database.
# A file, not memory, for SQLite: a Celery worker process must see the same test database.
# (Decided by the engine, not by whether DATABASE_URL was set: xdist workers inherit the fallback's URL.)
_sqlite = DATABASES["default"]["ENGINE"].endswith("sqlite3")  # noqa: F405
_default_test_name = f"{_data_dir}/test-db.sqlite3" if _sqlite else None
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", _default_test_name)}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# A test that runs a real SMTP server hands its address to Celery worker processes this way.
if os.environ.get("TEST_EMAIL_URL"):
    vars().update(env.email_url("TEST_EMAIL_URL"))  # noqa: F405
# Tests log in with Client.login (no request for django-axes); tests/integration/safety re-enables it.
AXES_ENABLED = False
