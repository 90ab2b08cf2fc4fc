"""Raw GPU samples in a Prometheus-compatible store (TELEMETRY_RAW_STORE = "prometheus"; docs/operations.md).

Inventory, rollups, forecasts and plans stay in the database; raw GPU samples are remote-written to
Prometheus (or VictoriaMetrics, Mimir, Thanos receive) and read back through its query API. Everything else
(node and facility series, events, serving samples) stays in the database in both modes.

Public API
    enabled() -> bool
    write_gpu(pieces) -> (written, written)     ingest's GPU write (GpuRows pieces) in this mode
    read_raw(gpu_ids, metrics, start, end) -> (gpu ids, Unix µs, {metric: values})   telemetry.query's raw read
    latest_values(gpu_ids, metrics, start, end) -> {gpu_id: (ts, *values)}            the GPU explorer's
    minute_rollups(start, end, org) -> DataFrame of 1-minute GPU rollups, as telemetry.rollups writes them
    RawStoreError, RawStoreUnavailable (an outage: the push API answers 503 with Retry-After),
    RawStoreRefused (samples refused: the push API answers 409 naming the store's reason)
"""

import importlib

from django.conf import settings


class RawStoreError(Exception):
    """The raw-sample store refused a write or a query (the message says what it answered)."""


class RawStoreUnavailable(RawStoreError):
    """The raw-sample store cannot be reached or answers 5xx: an outage, retry later."""


class RawStoreRefused(RawStoreError):
    """The store refused samples (4xx): an instant re-sent with another value, a sample too old for it."""


def enabled() -> bool:
    return settings.TELEMETRY_RAW_STORE == "prometheus"


# The Django parts load on first use, so that the encoder (remote_write, names) imports without Django.
_LAZY = {"read_raw": "reader", "latest_values": "reader", "minute_rollups": "rollups", "write_gpu": "writer"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
