"""Raw GPU samples in a Prometheus-compatible store (TELEMETRY_RAW_STORE = "prometheus"; docs/operations.md).

Inventory, rollups, forecasts and plans stay in the database; raw GPU samples are remote-written to
Prometheus (or VictoriaMetrics, Mimir, Thanos receive) and read back through its query API. Everything else
(node and facility series, events, serving samples) stays in the database in both modes.

Public API
    enabled() -> bool
    write_gpu(pieces) -> (written, written)     ingest's GPU write (GpuRows pieces) in this mode
    read_raw(gpu_ids, metrics, start, end) -> (gpu ids, Unix µs, {metric: values})   telemetry.query's raw read
    minute_rollups(start, end, org) -> DataFrame of 1-minute GPU rollups, as telemetry.rollups writes them
    RawStoreError, RawStoreUnavailable (an outage: the push API answers 503 with Retry-After)
"""

from django.conf import settings


class RawStoreError(Exception):
    """The raw-sample store refused a write or a query (the message says what it answered)."""


class RawStoreUnavailable(RawStoreError):
    """The raw-sample store cannot be reached or answers 5xx: an outage, retry later."""


def enabled() -> bool:
    return settings.TELEMETRY_RAW_STORE == "prometheus"


from .reader import read_raw  # noqa: E402 - the modules raise the errors above
from .rollups import minute_rollups  # noqa: E402
from .writer import write_gpu  # noqa: E402

__all__ = [
    "RawStoreError",
    "RawStoreUnavailable",
    "enabled",
    "minute_rollups",
    "read_raw",
    "write_gpu",
]
