"""Push load through gunicorn while faults happen; asserts 0 acknowledged samples lost or duplicated.

    .venv/bin/python bench/faults.py [--seconds 60] [--fault CMD ...]

Drops and creates the database `headroom_faults` on DATABASE_URL's server (default 127.0.0.1:5432), starts
gunicorn (config/gunicorn.py, 2 workers) on it and pushes JSON batches (16 GPUs x 1 instant, a new instant per
batch) from 4 client threads. A client that gets no answer, a 5xx or a 429 sends the same batch again, as an
agent would: re-sent rows must count as duplicates, never be stored twice. Faults, taken in turn every
`--every` seconds: `kill-web-worker` (SIGKILL one gunicorn worker mid-load; its master starts another) is built
in; `--fault CMD` adds shell commands, e.g. on a host you own:

    --fault "sudo systemctl restart postgresql" --fault "sudo systemctl stop redis; sleep 10; systemctl start redis"

(docker-compose: "docker compose restart postgres", "docker compose kill worker", ...). At the end every (GPU,
instant) acknowledged with 202 must be in the database exactly once; the script exits 1 otherwise.
tests/integration/safety/test_faults.py runs the same load (run_load, lost_and_doubled) at a small size in CI.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.database import fresh_postgres  # noqa: E402

GPUS = 16
CLIENTS = 4


def setup_database():
    # As in production: an outage answers 503 with Retry-After (DEBUG shows Django's 500 page instead);
    # plain HTTP on the loopback.
    fresh_postgres(
        "headroom_faults", SECRET_KEY="faults-only", DEBUG="false", HTTPS="false", API_THROTTLE_INGEST="100000/min"
    )


def build_fleet():
    from telemetry.models import GpuModel, Organization, Source
    from tests.base import build_site

    org = Organization.objects.create(name="Faults", slug="faults")
    place = build_site(org, "faults")
    model = GpuModel.objects.get(name="H100 SXM 80GB")
    uuids = [place.gpu.uuid]
    for index in range(1, GPUS):
        gpu = type(place.gpu).objects.create(
            node=place.node, index=index, uuid=f"GPU-{index:08d}-fa17-0000-0000-000000000000", model=model
        )
        uuids.append(gpu.uuid)
    source = Source.objects.create(organization=org, name="faults", kind="push")
    return uuids, source.issue_ingest_token()


def start_gunicorn(port, env=None, log=subprocess.DEVNULL):
    env = {**os.environ, **(env or {}), "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2"}
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_up(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/healthz", timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer at {url} within {timeout} s")


class Pusher(threading.Thread):
    def __init__(self, n, url, token, uuids, stop, start_ts):
        super().__init__(daemon=True)
        self.n, self.url, self.uuids, self.stop, self.start_ts = n, url, uuids, stop, start_ts
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.acked, self.outcomes = set(), Counter()

    def run(self):
        step = 0
        while not self.stop.is_set():
            ts = self.start_ts + timedelta(milliseconds=step * CLIENTS + self.n)
            readings = [{"gpu_uuid": u, "ts": ts.isoformat(), "values": {"gpu_util": 50}} for u in self.uuids]
            body = json.dumps({"gpu_readings": readings})
            while True:  # the same batch until the server acknowledges it
                try:
                    response = requests.post(f"{self.url}/api/ingest/", data=body, headers=self.headers, timeout=30)
                    self.outcomes[response.status_code] += 1
                    if response.status_code == 202:
                        self.acked.update((u, ts) for u in self.uuids)
                        break
                except requests.RequestException as exc:
                    self.outcomes[type(exc).__name__] += 1
                time.sleep(0.2)
            step += 1


def kill_web_worker(master):
    children = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split()
    if children:
        os.kill(int(children[0]), signal.SIGKILL)
    return f"SIGKILL gunicorn worker {children[0] if children else '(none)'}"


def run_load(url, token, uuids, faults, *, seconds, every, start_ts=None, log=print):
    """Push from CLIENTS threads for `seconds`, calling the next of `faults` (callables returning what they did,
    or shell commands) every `every` seconds; returns (acknowledged (uuid, ts) set, answers Counter)."""
    stop = threading.Event()
    start_ts = start_ts or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    pushers = [Pusher(n, url, token, uuids, stop, start_ts) for n in range(CLIENTS)]
    for p in pushers:
        p.start()
    began, n = time.monotonic(), 0
    while time.monotonic() - began < seconds:
        time.sleep(every)
        fault = faults[n % len(faults)]
        n += 1
        done = fault() if callable(fault) else subprocess.run(fault, shell=True).args
        log(f"{time.monotonic() - began:5.1f} s  fault: {done}")
    stop.set()
    for p in pushers:
        p.join(timeout=120)
    return set().union(*(p.acked for p in pushers)), sum((p.outcomes for p in pushers), Counter())


def lost_and_doubled(cursor, acked):
    """Acknowledged (GPU uuid, instant) pairs not stored, and stored pairs with more than one row."""
    cursor.execute(
        "SELECT g.uuid, s.ts, count(*) FROM telemetry_gpusample s JOIN telemetry_gpu g ON g.id = s.gpu_id "
        "GROUP BY g.uuid, s.ts"
    )
    stored = {(u, ts): c for u, ts, c in cursor.fetchall()}
    return acked - stored.keys(), [k for k, c in stored.items() if c > 1], stored


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--every", type=float, default=10, help="seconds between faults")
    parser.add_argument("--fault", action="append", default=[], help="a shell command that causes a fault")
    parser.add_argument("--log", help="write gunicorn's output (tracebacks of any 5xx) to this file")
    args = parser.parse_args()

    setup_database()
    uuids, token = build_fleet()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    master = start_gunicorn(port, log=open(args.log, "w") if args.log else subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_up(url)
    faults = [lambda: kill_web_worker(master), *args.fault]
    acked, outcomes = run_load(url, token, uuids, faults, seconds=args.seconds, every=args.every)
    master.terminate()
    master.wait(timeout=30)

    from django.db import connection

    connection.close()  # opened before the load: a PostgreSQL restart among the faults has ended it
    with connection.cursor() as cursor:
        lost, doubled, stored = lost_and_doubled(cursor, acked)
    print(f"acknowledged samples {len(acked):,}, stored {len(stored):,}, lost {len(lost)}, duplicated {len(doubled)}")
    print("answers:", dict(outcomes))
    sys.exit(1 if lost or doubled else 0)


if __name__ == "__main__":
    main()
