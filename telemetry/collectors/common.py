"""What the network collectors (Prometheus, Redfish, SNMP) and CSV import share: errors, HTTP, change tracking.

Plain Python, no Django: a collector gets a ``source`` (anything with ``name``, ``endpoint``, ``timeout_s``,
``options``, ``username``, ``password``, ``token``) and returns a :class:`telemetry.vocabulary.Batch`.
"""

from __future__ import annotations

import json
import threading

import requests


class CollectorError(Exception):
    """A source could not be read or its answer was not what we expect; the message says which and why."""


class TransientCollectorError(CollectorError):
    """The source may answer if asked again: a timeout, a refused or dropped connection, an HTTP 5xx.
    The collection task retries these with backoff; other CollectorErrors (bad answer, bad config) it does not."""


def source_label(source) -> str:
    name = getattr(source, "name", "") or ""
    endpoint = getattr(source, "endpoint", "") or ""
    return f"{name} ({endpoint})" if name and endpoint else name or endpoint or "source"


def http_request(session: requests.Session, method: str, url: str, *, timeout_s: float, what: str, **kwargs):
    """``session.request``; a timeout or refused connection becomes a TransientCollectorError, any other network
    failure a CollectorError, each naming ``what`` and the URL."""
    try:
        return session.request(method, url, timeout=timeout_s, **kwargs)
    except requests.Timeout:
        raise TransientCollectorError(f"{what}: no answer from {url} within {timeout_s:g} s") from None
    except requests.ConnectionError as exc:
        raise TransientCollectorError(f"{what}: cannot reach {url}: {exc}") from None
    except requests.RequestException as exc:
        raise CollectorError(f"{what}: cannot reach {url}: {exc}") from None


def http_get(
    session: requests.Session, url: str, *, timeout_s: float, what: str, missing_ok: bool = False
) -> requests.Response | None:
    """GET ``url``; any network failure or non-2xx status becomes a CollectorError naming ``what`` and the URL.
    With ``missing_ok``, a 404 (an optional resource that is absent) returns None instead."""
    response = http_request(session, "GET", url, timeout_s=timeout_s, what=what)
    if missing_ok and response.status_code == 404:
        return None
    if response.status_code in (401, 403):
        raise CollectorError(f"{what}: {url} refused the credentials (HTTP {response.status_code})")
    if not response.ok:
        body = response.text[:200].strip()
        error = TransientCollectorError if response.status_code >= 500 else CollectorError
        raise error(f"{what}: {url} answered HTTP {response.status_code}" + (f": {body}" if body else ""))
    return response


def http_get_json(session: requests.Session, url: str, *, timeout_s: float, what: str, missing_ok: bool = False):
    response = http_get(session, url, timeout_s=timeout_s, what=what, missing_ok=missing_ok)
    if response is None:
        return None
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError) as exc:
        raise CollectorError(f"{what}: {url} did not answer JSON ({exc}): {response.text[:120]!r}") from None


class ChangeTracker:
    """Remembers the last value seen per key, so that a state scraped every interval becomes one event per change.

    It lives in the worker process: after a restart, the first non-zero value seen is reported again
    (an event may repeat; none is lost).
    """

    def __init__(self):
        self._last = {}
        self._lock = threading.Lock()

    def changed(self, key, value) -> bool:
        with self._lock:
            previous = self._last.get(key)
            self._last[key] = value
        return previous != value


def printable(text, limit=300):
    """An error message safe to store and show: control characters escaped (PostgreSQL refuses NUL), cut short."""
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
