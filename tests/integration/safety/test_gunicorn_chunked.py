"""A push with a chunked body (Transfer-Encoding: chunked, no Content-Length) through gunicorn as deployed
(config/gunicorn.py): Django alone reads such a body as empty, "not JSON"."""

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.conf import settings
from django.db import connection

from telemetry.models import GpuSample, Source
from tests.conftest import _database_url


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TEST_DATABASE_URL": _database_url(connection.settings_dict),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
    }
    log = open(tmp_path / "gunicorn.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{url}/healthz", timeout=10)
            break
        except requests.RequestException:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"gunicorn did not start:\n{log.read()[-3000:]}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_a_chunked_push_is_read_whole(gunicorn, world):
    source = Source.objects.create(organization=world.a.org, name="chunked", kind="push")
    ts = datetime.now(UTC) - timedelta(minutes=1)
    readings = [
        {"gpu_uuid": world.a.gpu.uuid, "ts": (ts - timedelta(seconds=i)).isoformat(), "values": {"gpu_util": i}}
        for i in range(50)
    ]
    body = json.dumps({"gpu_readings": readings}).encode()
    pieces = (body[i : i + 100] for i in range(0, len(body), 100))  # a generator: requests sends it chunked
    response = requests.post(
        f"{gunicorn}/api/ingest/",
        data=pieces,
        headers={"Authorization": f"Bearer {source.issue_ingest_token()}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 50
    assert GpuSample.objects.filter(gpu=world.a.gpu).count() == 50
