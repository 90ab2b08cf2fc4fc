"""Real peers for the collectors, all on 127.0.0.1 at free ports, stopped after each test.

- ``http_peer``: a threaded http.server answering from a route table the test fills (exposition text, Redfish
  mockup trees, errors, slow answers).
- ``prometheus_server``: Debian's ``prometheus`` binary scraping given targets every second.
- ``snmp_agent``: ``snmpsim-command-responder`` serving the APC Rack PDU recordings.
A missing binary fails the test under REQUIRE_SERVICES=1 (CI) and skips it otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from django.conf import settings

FIXTURES = Path(__file__).parents[2] / "fixtures"


def require_binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path:
        return path
    message = f"{name} is not installed (Debian/PyPI package listed in .ci/run and pyproject.toml)"
    if settings.REQUIRE_SERVICES or os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpPeer:
    """Routes: path -> callable(handler) returning (status, content_type, body bytes)."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        self.credentials = None  # (user, password) to demand HTTP basic auth
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                peer.requests.append(self.path)
                if peer.credentials and not self._authorized():
                    return self._send(401, "text/plain", b"unauthorized", {"WWW-Authenticate": 'Basic realm="bmc"'})
                route = peer.routes.get(self.path.split("?")[0].rstrip("/")) or peer.routes.get("*")
                if route is None:
                    return self._send(404, "application/json", b'{"error": "not found"}')
                self._send(*route(self.path))

            def _authorized(self):
                user, password = peer.credentials
                expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                return self.headers.get("Authorization") == expected

            def _send(self, status, content_type, body, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def text(self, path, body, status=200, content_type="text/plain; version=0.0.4"):
        self.routes[path] = lambda _: (status, content_type, body.encode() if isinstance(body, str) else body)

    def slow(self, path, seconds):
        def answer(_):
            time.sleep(seconds)
            return 200, "text/plain", b"late"

        self.routes[path] = answer

    def mockup(self, root: Path):
        """Serve a DMTF mockup tree: /redfish/v1/X answers X/index.json."""

        def answer(path):
            rel = path.split("?")[0].rstrip("/").removeprefix("/redfish/v1").strip("/")
            index = root / rel / "index.json"
            if not index.is_file():
                return 404, "application/json", json.dumps({"error": f"no resource {path}"}).encode()
            return 200, "application/json", index.read_bytes()

        self.routes["*"] = answer

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_peer():
    peer = HttpPeer()
    yield peer
    peer.close()


class PrometheusServer:
    def __init__(self, binary, workdir: Path, targets: list[str], *, config_extra="", args=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: test\n    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n" + config_extra
        )
        self.log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_for_samples(self, query: str, at_least: int = 1, timeout_s: float = 30):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}: {self._log_tail()}")
            try:
                answer = requests.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=2).json()
                if len(answer["data"]["result"]) >= at_least:
                    return
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(0.3)
        raise TimeoutError(f"prometheus had no samples for {query} after {timeout_s} s: {self._log_tail()}")

    def _log_tail(self):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-1500:]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def prometheus_server(tmp_path):
    """A factory: prometheus_server(targets) starts Debian's prometheus scraping ``targets`` every second."""
    binary = require_binary("prometheus")
    started = []

    def start(targets):
        server = PrometheusServer(binary, tmp_path, targets)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def node_exporter():
    """Debian's prometheus-node-exporter on a free port, with only cheap collectors on."""
    binary = require_binary("prometheus-node-exporter")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.loadavg",
            "--collector.hwmon",
            "--collector.uname",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/metrics", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def snmp_agent(tmp_path):
    """snmpsim serving the three APC Rack PDU recordings; yields (host, port). Communities = file stems."""
    binary = require_binary("snmpsim-command-responder")
    data = tmp_path / "snmp-data"
    data.mkdir()
    for rec in (FIXTURES / "snmp").glob("*.snmprec"):
        shutil.copy(rec, data / rec.name)
    port = free_port(socket.SOCK_DGRAM)
    log = tmp_path / "snmpsim.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--data-dir={data}",
                f"--agent-udpv4-endpoint=127.0.0.1:{port}",
                f"--cache-dir={tmp_path / 'snmp-cache'}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},  # CI runs as root; snmpsim refuses that otherwise
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"snmpsim exited with {process.returncode}: {log.read_text()[-1500:]}")
        if "SNMPv3 EngineID" in log.read_text(errors="replace"):
            break
        time.sleep(0.2)
    # The log line can come before snmpsim answers, and it indexes a recording on its first query: on a busy
    # machine that took longer than the tests' 1 s timeout. Ask each recording until it answers.
    from telemetry.collectors import snmp
    from telemetry.collectors.common import TransientCollectorError
    from telemetry.models import Source

    for rec in data.glob("*.snmprec"):
        warm_up = Source(
            name="warm-up", kind=Source.Kind.SNMP, endpoint=f"127.0.0.1:{port}", timeout_s=1, token=rec.stem
        )
        while True:
            try:
                snmp.collect(warm_up)
                break
            except TransientCollectorError as exc:
                if time.monotonic() > deadline:
                    pytest.fail(f"snmpsim does not answer for {rec.stem}: {exc}; {log.read_text()[-1500:]}")
    yield "127.0.0.1", port
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
