"""HTTP to the raw-sample store: its query API (through the Prometheus API collector's call) and remote write."""

from datetime import datetime

import requests
from django.conf import settings

from telemetry.collectors.common import CollectorError, TransientCollectorError
from telemetry.collectors.prometheus_api import api_call

from . import RawStoreError, RawStoreRefused, RawStoreUnavailable
from .remote_write import CONTENT_HEADERS, compress, write_request

_session = requests.Session()  # keeps connections open between requests of a worker


def _base():
    return settings.TELEMETRY_PROMETHEUS_URL.rstrip("/")


def query(promql: str, **params) -> list:
    """The result of a PromQL query (``step`` given: /query_range, else /query) of the store; raises
    RawStoreUnavailable when it cannot be reached, RawStoreError when it refuses the query."""
    endpoint = "query_range" if "step" in params else "query"
    form = {k: v.timestamp() if isinstance(v, datetime) else v for k, v in params.items()}
    try:
        answer = api_call(
            _session,
            f"{_base()}/api/v1/{endpoint}",
            {"query": promql, **form},
            what="raw-sample store (TELEMETRY_PROMETHEUS_URL)",
            timeout_s=settings.TELEMETRY_PROMETHEUS_TIMEOUT_S,
            method="POST",  # the GPUs' UUIDs make long selectors
        )
    except TransientCollectorError as exc:
        raise RawStoreUnavailable(str(exc)) from None
    except CollectorError as exc:
        raise RawStoreError(str(exc)) from None
    return answer["data"]["result"]


def remote_write(series) -> None:
    """POST [(labels, Unix ms, values)] as one remote-write request; raises RawStoreUnavailable (unreachable,
    5xx, 429) or RawStoreRefused (a 4xx refusal: out of order, out of bounds, a bad label)."""
    url = settings.TELEMETRY_PROMETHEUS_WRITE_URL or f"{_base()}/api/v1/write"
    body = compress(write_request(series))
    timeout_s = settings.TELEMETRY_PROMETHEUS_TIMEOUT_S
    try:
        response = _session.post(url, data=body, headers=CONTENT_HEADERS, timeout=timeout_s)
    except requests.RequestException as exc:
        raise RawStoreUnavailable(f"raw-sample store: cannot remote-write to {url}: {exc}") from None
    # Prometheus 2.42 answers a sample older than its out-of-order window with 500 "too old sample": a refusal
    # that retrying cannot cure.
    refused = "too old sample" in response.text
    if (response.status_code >= 500 or response.status_code == 429) and not refused:
        raise RawStoreUnavailable(
            f"raw-sample store: remote write to {url} answered HTTP {response.status_code}: {response.text[:200]!r}"
        )
    if not response.ok:
        raise RawStoreRefused(
            f"raw-sample store: remote write to {url} refused (HTTP {response.status_code}): {response.text[:300]}"
        )
