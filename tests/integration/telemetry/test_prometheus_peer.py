"""bench/prometheus_peer.py at a tiny size: both systems load the same data and answer the same."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.integration.collectors.conftest import require_binary

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.services
def test_peer_benchmark_runs_and_both_systems_agree(tmp_path):
    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith("postgresql"):
        pytest.skip("the peer benchmark loads PostgreSQL")
    for binary in ("promtool", "prometheus"):
        require_binary(binary)
    base = f"postgres://{db.get('USER') or ''}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/postgres"
    out = tmp_path / "peer.json"
    command = [sys.executable, "bench/prometheus_peer.py", "--gpus", "8", "--hours", "2", "--runs", "3"]
    command += ["--compaction-timeout", "0", "--database", f"{db['NAME']}_peer", "--json", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(command, cwd=ROOT, env={**env, "DATABASE_URL": base}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]

    figures = json.loads(out.read_text())
    assert figures["values"] == 8 * 8 * 480
    # COPY, both push forms and ingest() stored the same rows (count and md5 of them in order).
    stored = figures["stored"]
    assert set(stored) == {"copy", "push", "column_push", "ingest"} and stored["copy"][0] == 8 * 480
    assert stored["column_push"] == stored["copy"] == stored["push"] == stored["ingest"]
    # (a) is every GPU's 5-minute average, (c) the hall's hourly power: the same numbers from both systems.
    (a_difference, a_points), (c_difference, c_points) = figures["same_answers"]["a"], figures["same_answers"]["c"]
    assert a_points == 8 * 24 and a_difference < 1e-6
    assert c_points == 2 and c_difference < 1e-6
    assert 0 < figures["prometheus_bytes"] < figures["headroom_raw_bytes"]
    assert [q["query"].split(":")[0] for q in figures["queries"]] == ["a", "b", "b'", "c", "d", "e"]
    # Sealed into GPU-hour blocks, raw samples take less than the rows did (and the bench checked (b') = (b)).
    assert 0 < figures["sealed_raw_bytes"] < figures["headroom_raw_bytes"] and figures["blocks"] == 8 * 2
    assert all(min(q["prometheus_ms"] + q["headroom_ms"]) > 0 for q in figures["queries"])
    assert all(figures[f"{load}_load_s"] > 0 for load in ("copy", "push", "column_push", "ingest"))
    assert "push API / COPY throughput" in done.stdout and "columns (gpu_columns)" in done.stdout
