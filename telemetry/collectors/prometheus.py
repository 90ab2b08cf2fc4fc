"""Prometheus exposition scrape: dcgm-exporter (``DCGM_FI_*``) and node-exporter/ipmi-exporter endpoints.

Public API
    collect(source) -> Batch                       GET source.endpoint (a /metrics URL) and parse it
    parse_exposition(text, ts, *, node="", xid_tracker=None, parser=parse_samples) -> Batch
    parse_samples(text) -> list[ExpositionSample]  fast parser, falls back to the library outside its subset
    parse_samples_library(text) -> list[ExpositionSample]   prometheus_client's parser, same output shape

``source.options``: ``hostname`` names the node for node-level metrics (default: the endpoint's host).

dcgm-exporter prints a field the GPU does not support as DCGM's "blank" sentinels (e.g. 9223372036854775794);
those values are dropped, never stored. ``DCGM_FI_DEV_XID_ERRORS`` is the *last* XID seen by the GPU, not a
count: an event is raised when it changes (a scrape cannot see two XIDs that happen between scrapes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from prometheus_client.parser import text_string_to_metric_families

from telemetry.vocabulary import Batch, EventReading, GpuReading, PointReading

from .common import ChangeTracker, CollectorError, http_get, source_label

MIB = 1024 * 1024

# DCGM field -> (vocabulary metric, scale to the vocabulary unit, DCGM value type).
# The value type decides which "blank" sentinels apply (dcgm_structs.h: DCGM_INT32_BLANK, DCGM_INT64_BLANK,
# DCGM_FP64_BLANK and the NOT_FOUND/NOT_SUPPORTED/NOT_PERMISSIONED values just above each).
DCGM_FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": ("gpu_util", 1.0, "i32"),
    "DCGM_FI_DEV_FB_USED": ("gpu_mem_used", MIB, "i32"),  # MiB
    "DCGM_FI_DEV_POWER_USAGE": ("gpu_power", 1.0, "f64"),  # W
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": ("gpu_energy", 1e-3, "i64"),  # mJ
    "DCGM_FI_DEV_GPU_TEMP": ("gpu_temp", 1.0, "i32"),
    "DCGM_FI_DEV_MEMORY_TEMP": ("gpu_mem_temp", 1.0, "i32"),
    "DCGM_FI_DEV_SM_CLOCK": ("gpu_sm_clock", 1.0, "i32"),
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": ("gpu_throttle_reasons", 1.0, "i64"),  # DCGM < 3.3
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": ("gpu_throttle_reasons", 1.0, "i64"),  # DCGM >= 3.3 name
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": ("gpu_ecc_sbe", 1.0, "i64"),
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": ("gpu_ecc_dbe", 1.0, "i64"),
    "DCGM_FI_DEV_ROW_REMAP_PENDING": ("gpu_remap_pending", 1.0, "i32"),
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": ("gpu_remap_failure", 1.0, "i32"),
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": ("gpu_pcie_replay", 1.0, "i64"),
}
# Retired pages are reported per cause; the vocabulary keeps their sum.
DCGM_RETIRED_PAGES = ("DCGM_FI_DEV_RETIRED_SBE", "DCGM_FI_DEV_RETIRED_DBE")
DCGM_XID = "DCGM_FI_DEV_XID_ERRORS"

INT32_BLANK = 0x7FFFFFF0
INT64_BLANK = 0x7FFFFFFFFFFFFFF0
FP64_BLANK = 140737488355328.0  # 2**47


def is_dcgm_blank(value: float, value_type: str = "i64") -> bool:
    """True when ``value`` is one of DCGM's "blank / not found / not supported / no permission" sentinels."""
    if value != value:  # NaN
        return True
    if value >= INT64_BLANK:
        return True  # any field: the int64 sentinels (≈ 9.223372036854775e18) are never real readings
    if value_type == "i32":
        return INT32_BLANK <= value <= INT32_BLANK + 3
    if value_type == "f64":
        return FP64_BLANK <= value <= FP64_BLANK + 3
    return False


@dataclass(frozen=True, slots=True)
class ExpositionSample:
    """One sample line. ``name`` is normalized without a ``_total`` suffix: the library adds one to counters."""

    name: str
    labels: dict
    value: float
    timestamp: float | None  # seconds, when the line carries one


def _normalized(name: str) -> str:
    return name.removesuffix("_total")


def parse_samples_library(text: str) -> list[ExpositionSample]:
    """All samples of an exposition, parsed by ``prometheus_client`` (raises ValueError on malformed text)."""
    return [
        ExpositionSample(_normalized(s.name), s.labels, float(s.value), s.timestamp)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


# The subset the fast parser reads itself: what dcgm-exporter and node-exporter print. Any other line makes it
# hand the whole text to the library, so its output is the library's by construction or by proof
# (tests/unit/collectors/test_exposition_parser.py compares the two on fixtures and generated expositions).
# Exporters repeat one label set for every field of a GPU, so each distinct label text is parsed once.
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
_LABEL_LIST = re.compile(rf"(?:{_LABEL}(?:, *{_LABEL})*,?)?")
_LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
_HELP_OR_TYPE = re.compile(r"# (?:HELP [a-zA-Z_:][a-zA-Z0-9_:]*(?: .*)?|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* [^ \t]+)")
_ESCAPE = re.compile(r'\\[\\n"]')
_ESCAPES = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}


class _OutsideSubset(Exception):
    pass


def _parse_labels(label_text: str) -> dict:
    if not _LABEL_LIST.fullmatch(label_text):
        raise _OutsideSubset
    labels = {}
    for key, value in _LABEL_PAIR.findall(label_text):
        if key in labels or key.startswith("__"):
            raise _OutsideSubset  # the library rejects these; let it say so
        labels[key] = _ESCAPE.sub(lambda e: _ESCAPES[e.group(0)], value) if "\\" in value else value
    return labels


def _number(token: str):
    # Exactly prometheus_client's _parse_value: int first (exact for huge integers), then float.
    if "_" in token:
        raise _OutsideSubset
    try:
        return int(token)
    except ValueError:
        return float(token)


def _fast_samples(text: str) -> list[ExpositionSample]:
    samples = []
    append = samples.append
    label_sets: dict[str, dict] = {}
    names: dict[str, str] = {}
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line[0] == "#":
            if (line.startswith("# HELP") or line.startswith("# TYPE")) and not _HELP_OR_TYPE.fullmatch(line):
                raise _OutsideSubset
            continue
        brace = line.find("{")
        if brace == -1:
            name, _, rest = line.partition(" ")
            labels = {}
        else:
            close = line.rfind("}")
            if close < brace or line[close + 1 : close + 2] != " ":
                raise _OutsideSubset
            name, label_text, rest = line[:brace], line[brace + 1 : close], line[close + 2 :]
            labels = label_sets.get(label_text)
            if labels is None:
                labels = label_sets[label_text] = _parse_labels(label_text)
            labels = labels.copy()
        normalized = names.get(name)
        if normalized is None:
            if not _NAME.fullmatch(name):
                raise _OutsideSubset
            normalized = names[name] = _normalized(name)
        value_token, _, ts_token = rest.partition(" ")
        # float(token) equals float(int(token)) for any token int() accepts, short of 300+ digit numbers.
        if not value_token or "_" in value_token or "\t" in rest or len(value_token) > 300:
            raise _OutsideSubset
        try:
            value = float(value_token)
            timestamp = _number(ts_token) / 1000 if ts_token else None
        except (ValueError, OverflowError):
            raise _OutsideSubset from None
        append(ExpositionSample(normalized, labels, value, timestamp))
    return samples


def parse_samples(text: str) -> list[ExpositionSample]:
    """All samples of an exposition: the library's output, about 5-10x faster on exporter output."""
    try:
        return _fast_samples(text)
    except _OutsideSubset:
        return parse_samples_library(text)


def parse_exposition(
    text: str,
    ts: datetime,
    *,
    node: str = "",
    xid_tracker: ChangeTracker | None = None,
    xid_scope: str = "",
    parser: Callable[[str], list[ExpositionSample]] = parse_samples,
) -> Batch:
    """Map an exposition to readings at ``ts``: GPU metrics by UUID, node metrics under ``node``.

    Without an ``xid_tracker`` every non-zero XID value becomes an event; with one, only a changed value does.
    Raises ValueError (from the parser) on text that is not the Prometheus exposition format.
    """
    gpu_values: dict[str, dict] = {}
    retired: dict[str, float] = {}
    node_values: dict[str, list[float]] = {}
    batch = Batch()
    for sample in parser(text):
        name, labels, value = sample.name, sample.labels, sample.value
        if name.startswith("DCGM_FI_"):
            uuid = labels.get("UUID") or labels.get("uuid")
            if not uuid:
                continue  # per-host DCGM fields (driver version, device count) carry no GPU
            if name == DCGM_XID:
                if is_dcgm_blank(value, "i32"):
                    continue
                code = int(value)
                key = (xid_scope, uuid)
                is_new = xid_tracker.changed(key, code) if xid_tracker is not None else True
                if code and is_new:
                    batch.events.append(EventReading("xid", ts, gpu_uuid=uuid, code=code, detail="last XID (dcgm)"))
                continue
            if name in DCGM_RETIRED_PAGES:
                if not is_dcgm_blank(value, "i64"):
                    retired[uuid] = retired.get(uuid, 0.0) + value
                continue
            field = DCGM_FIELDS.get(name)
            if field is None or is_dcgm_blank(value, field[2]):
                continue
            metric, scale, _ = field
            gpu_values.setdefault(uuid, {})[metric] = value * scale
        else:
            metric = _node_metric(name, labels)
            if metric and value == value and abs(value) != float("inf"):
                node_values.setdefault(metric, []).append(value)
    for uuid, pages in retired.items():
        gpu_values.setdefault(uuid, {})["gpu_retired_pages"] = pages
    batch.gpu_readings = [GpuReading(uuid, ts, values) for uuid, values in gpu_values.items()]
    if node:
        for metric, values in node_values.items():
            # Several fans or power meters on one host: the hardest-working fan and the sum of meters.
            value = sum(values) if metric == "node_power" else max(values)
            batch.point_readings.append(PointReading("node", node, metric, ts, value))
    return batch


_INLET = re.compile(r"inlet|intake|ambient|front", re.IGNORECASE)


def is_mapped(sample: ExpositionSample) -> bool:
    """Whether parse_exposition reads this sample into a reading or event (blank or not)."""
    name = sample.name
    if name.startswith("DCGM_FI_"):
        return name in DCGM_FIELDS or name in DCGM_RETIRED_PAGES or name == DCGM_XID
    return _node_metric(name, sample.labels) is not None


def non_finite_errors(samples: list[ExpositionSample], item: str = "prometheus") -> list[dict]:
    """Errors ({item, index, field, message}) for the samples of mapped metrics that are NaN or infinite (the
    mapping skips them as blank), so that the client or the collector run learns which readings were not stored."""
    errors = []
    for index, sample in enumerate(samples):
        if math.isfinite(sample.value) or not is_mapped(sample):
            continue
        where = sample.labels.get("UUID") or sample.labels.get("uuid") or sample.labels.get("name", "")
        message = f"{sample.value} is not a finite number (NaN or infinity)" + (f" for {where}" if where else "")
        errors.append({"item": item, "index": index, "field": sample.name, "message": message + "; not stored"})
    return errors


def _node_metric(name: str, labels: dict) -> str | None:
    """node-exporter / ipmi-exporter series that carry vocabulary metrics (power, inlet, fans)."""
    if name == "ipmi_dcmi_power_consumption_watts":
        return "node_power"
    if name == "node_hwmon_power_average_watt" and labels.get("chip", "").startswith("power_meter"):
        return "node_power"  # ACPI power meter: the server's input power
    if name in ("node_hwmon_fan_rpm", "ipmi_fan_speed_rpm"):
        return "node_fan"
    if name == "ipmi_temperature_celsius" and _INLET.search(labels.get("name", "")):
        return "node_inlet_temp"
    return None


_xid_seen = ChangeTracker()


def collect(source, *, session: requests.Session | None = None, now: datetime | None = None) -> Batch:
    """Scrape ``source.endpoint`` once; raises CollectorError naming the source on any failure."""
    ts = now or datetime.now(UTC)
    options = source.options or {}
    node = options.get("hostname") or urlsplit(source.endpoint).hostname or ""
    session = session or requests.Session()
    if source.username:
        session.auth = (source.username, source.password)
    if source.token:
        session.headers["Authorization"] = f"Bearer {source.token}"
    what = f"Prometheus scrape of {source_label(source)}"
    response = http_get(session, source.endpoint, timeout_s=source.timeout_s, what=what)
    try:
        samples = parse_samples(response.text)
        batch = parse_exposition(
            "", ts, node=node, xid_tracker=_xid_seen, xid_scope=source.endpoint, parser=lambda _: samples
        )
    except ValueError as exc:
        raise CollectorError(f"{what}: not the Prometheus text format: {exc}") from None
    batch.rejected = non_finite_errors(samples)
    return batch
