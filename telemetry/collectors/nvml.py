"""NVML collector: read every GPU of this host through ``pynvml`` (NVIDIA's nvidia-ml-py).

This module runs on GPU hosts, so it stays plain Python: no Django. Every function takes the
NVML binding as its first argument (normally the ``pynvml`` module itself) so that tests can pass
a :class:`ReplayNvml` built from a recording of a real GPU instead.

Public API
    read_gpus(nvml, ts, problems=None) -> list[GpuReading]
    read_inventory(nvml) -> list[GpuInventory]
    open_event_set(nvml) -> NvmlEventSet
    poll_events(nvml, event_set, timeout_ms, clock=...) -> list[EventReading]
    record(nvml, rounds=..., interval=..., out=...)       # writes a JSON-lines recording
    RecordingNvml(nvml)    # pass-through proxy that logs every raw NVML call
    ReplayNvml(recording, round=0)  # answers the same calls from a recording, strictly
    NvmlRecording.load(path), ReplayMissError
    read_trace_csv(path, start=..., gpu_uuid=...) -> TraceImport   # the h100-nvml-trace format

Command line (run on a GPU host)
    python -m telemetry.collectors.nvml read
    python -m telemetry.collectors.nvml record --seconds 60 --interval 1 --out rec.jsonl [--redact]

A field the board or driver does not report (NVMLError_NotSupported, FunctionNotFound,
NoPermission, NoData, ...) is left out of ``GpuReading.values``; it is never an error. Any other
NVML error (GPU lost, uninitialized, unknown) propagates to the caller.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import fcntl
import functools
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from telemetry.vocabulary import GPU_METRICS, Batch, EventReading, GpuReading

RECORDING_FORMAT = "headroom-nvml-recording/1"
SETUP = "setup"  # ReplayNvml.select(SETUP): the calls made before the first sample round

# NVML return codes that mean "this board/driver does not report that": the field is absent.
MISSING_ERROR_NAMES = (
    "NVML_ERROR_NOT_SUPPORTED",
    "NVML_ERROR_FUNCTION_NOT_FOUND",
    "NVML_ERROR_NO_PERMISSION",
    "NVML_ERROR_NO_DATA",
    "NVML_ERROR_NOT_FOUND",
    "NVML_ERROR_ARGUMENT_VERSION_MISMATCH",
    "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED",
    "NVML_ERROR_DEPRECATED",
)

# nvmlFieldValue_t.valueType -> the member of the value union that holds it
_FIELD_VALUE_MEMBER = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _error_code(nvml, name: str) -> int | None:
    return getattr(nvml, name, None)


def is_missing_error(nvml, exc: BaseException) -> bool:
    """True when ``exc`` is an NVML error meaning "not reported by this board/driver"."""
    if not isinstance(exc, nvml.NVMLError):
        return False
    codes = {_error_code(nvml, n) for n in MISSING_ERROR_NAMES}
    return getattr(exc, "value", None) in codes


# --------------------------------------------------------------------------------------------
# Field readers: each returns {metric: value} in vocabulary units, or raises an NVMLError.


def _read_util(nvml, h):
    return {"gpu_util": float(nvml.nvmlDeviceGetUtilizationRates(h).gpu)}


def _read_mem_used(nvml, h):
    return {"gpu_mem_used": float(nvml.nvmlDeviceGetMemoryInfo(h).used)}


def _read_power(nvml, h):
    return {"gpu_power": nvml.nvmlDeviceGetPowerUsage(h) / 1000.0}  # mW -> W


def _read_energy(nvml, h):
    return {"gpu_energy": nvml.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0}  # mJ -> J


def _read_temp(nvml, h):
    sensor = nvml.NVML_TEMPERATURE_GPU
    get_v = getattr(nvml, "nvmlDeviceGetTemperatureV", None)
    if get_v is not None:
        try:
            return {"gpu_temp": float(get_v(h, sensor))}
        except nvml.NVMLError as exc:
            if not is_missing_error(nvml, exc):
                raise
    return {"gpu_temp": float(nvml.nvmlDeviceGetTemperature(h, sensor))}


def _field_value(nvml, fv) -> float:
    if fv.nvmlReturn != nvml.NVML_SUCCESS:
        raise nvml.NVMLError(fv.nvmlReturn)
    member = _FIELD_VALUE_MEMBER.get(int(fv.valueType))
    if member is None:
        raise nvml.NVMLError(nvml.NVML_ERROR_NOT_SUPPORTED)
    return float(getattr(fv.value, member))


def _read_mem_temp(nvml, h):
    (fv,) = nvml.nvmlDeviceGetFieldValues(h, [nvml.NVML_FI_DEV_MEMORY_TEMP])
    return {"gpu_mem_temp": _field_value(nvml, fv)}


def _read_sm_clock(nvml, h):
    return {"gpu_sm_clock": float(nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM))}


def _read_clock_reasons(nvml, h):
    get_events = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
    if get_events is not None:
        try:
            return {"gpu_throttle_reasons": float(get_events(h))}
        except nvml.NVMLError as exc:
            if not is_missing_error(nvml, exc):
                raise
    return {"gpu_throttle_reasons": float(nvml.nvmlDeviceGetCurrentClocksThrottleReasons(h))}


def _read_ecc_sbe(nvml, h):
    n = nvml.nvmlDeviceGetTotalEccErrors(h, nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, nvml.NVML_VOLATILE_ECC)
    return {"gpu_ecc_sbe": float(n)}


def _read_ecc_dbe(nvml, h):
    n = nvml.nvmlDeviceGetTotalEccErrors(h, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC)
    return {"gpu_ecc_dbe": float(n)}


def _read_retired_pages(nvml, h):
    causes = (
        nvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
        nvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,
    )
    return {"gpu_retired_pages": float(sum(len(nvml.nvmlDeviceGetRetiredPages(h, c)) for c in causes))}


def _read_remapped_rows(nvml, h):
    _corr, _unc, pending, failure = nvml.nvmlDeviceGetRemappedRows(h)
    return {"gpu_remap_pending": 1.0 if pending else 0.0, "gpu_remap_failure": 1.0 if failure else 0.0}


def _read_pcie_replay(nvml, h):
    return {"gpu_pcie_replay": float(nvml.nvmlDeviceGetPcieReplayCounter(h))}


# (group name, reader): the group names a problem in read_gpus(problems=...)
FIELD_READERS: tuple[tuple[str, Callable], ...] = (
    ("utilization", _read_util),
    ("memory_info", _read_mem_used),
    ("power", _read_power),
    ("energy", _read_energy),
    ("temperature", _read_temp),
    ("memory_temperature", _read_mem_temp),
    ("sm_clock", _read_sm_clock),
    ("clock_event_reasons", _read_clock_reasons),
    ("ecc_sbe", _read_ecc_sbe),
    ("ecc_dbe", _read_ecc_dbe),
    ("retired_pages", _read_retired_pages),
    ("remapped_rows", _read_remapped_rows),
    ("pcie_replay", _read_pcie_replay),
)

# which vocabulary metrics each group yields (for summaries of what a board supports)
FIELD_METRICS = {
    "utilization": ("gpu_util",),
    "memory_info": ("gpu_mem_used",),
    "power": ("gpu_power",),
    "energy": ("gpu_energy",),
    "temperature": ("gpu_temp",),
    "memory_temperature": ("gpu_mem_temp",),
    "sm_clock": ("gpu_sm_clock",),
    "clock_event_reasons": ("gpu_throttle_reasons",),
    "ecc_sbe": ("gpu_ecc_sbe",),
    "ecc_dbe": ("gpu_ecc_dbe",),
    "retired_pages": ("gpu_retired_pages",),
    "remapped_rows": ("gpu_remap_pending", "gpu_remap_failure"),
    "pcie_replay": ("gpu_pcie_replay",),
}


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """Why a field group is absent from a reading (only "missing"-class NVML errors)."""

    gpu_uuid: str
    group: str
    error: str  # the pynvml exception class name, e.g. NVMLError_NotSupported


def read_gpus(nvml, ts: datetime, problems: list | None = None) -> list[GpuReading]:
    """One GpuReading per device NVML sees, values in vocabulary units (W, J, C, MHz, bytes).

    Fields the board does not report are absent from ``values``; when ``problems`` is a list,
    a FieldProblem naming the group and the NVML error is appended for each.
    """
    readings = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        uuid = _text(nvml.nvmlDeviceGetUUID(handle))
        values: dict[str, float] = {}
        for group, reader in FIELD_READERS:
            try:
                values.update(reader(nvml, handle))
            except nvml.NVMLError as exc:
                if not is_missing_error(nvml, exc):
                    raise
                if problems is not None:
                    problems.append(FieldProblem(uuid, group, type(exc).__name__))
        readings.append(GpuReading(gpu_uuid=uuid, ts=ts, values=values))
    return readings


@dataclass(frozen=True, slots=True)
class GpuInventory:
    uuid: str
    index: int
    serial: str  # "" where the board does not report one
    name: str
    memory_total_bytes: int
    power_limit_w: float | None  # enforced limit; None where not reported


def _optional(nvml, fn: Callable, *args, default=None):
    try:
        return fn(*args)
    except nvml.NVMLError as exc:
        if not is_missing_error(nvml, exc):
            raise
        return default


def read_inventory(nvml) -> list[GpuInventory]:
    out = []
    for index in range(nvml.nvmlDeviceGetCount()):
        h = nvml.nvmlDeviceGetHandleByIndex(index)
        limit_mw = _optional(nvml, nvml.nvmlDeviceGetEnforcedPowerLimit, h)
        if limit_mw is None:
            limit_mw = _optional(nvml, nvml.nvmlDeviceGetPowerManagementLimit, h)
        out.append(
            GpuInventory(
                uuid=_text(nvml.nvmlDeviceGetUUID(h)),
                index=int(_optional(nvml, nvml.nvmlDeviceGetIndex, h, default=index)),
                serial=_text(_optional(nvml, nvml.nvmlDeviceGetSerial, h, default="")),
                name=_text(nvml.nvmlDeviceGetName(h)),
                memory_total_bytes=int(nvml.nvmlDeviceGetMemoryInfo(h).total),
                power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
            )
        )
    return out


def match_catalog_model(gpu: GpuInventory, catalog: Iterable[tuple[str, float, float]]) -> str:
    """The catalog model (name, memory_gb, tdp_w) that an NVML board is.

    NVML names boards by product ("NVIDIA H100 80GB HBM3"), the catalog by product and form factor
    ("H100 SXM 80GB"), so the family token must appear in the NVML name, the memory must agree within 5 %
    (the catalog's "80GB" is what NVML counts in GiB: 79.6 on an H100), and of what is left the TDP nearest
    the enforced power limit wins (700 W is SXM, 350-400 W PCIe/NVL). Raises LookupError naming the candidates
    when the board cannot be told apart."""
    words = set(gpu.name.upper().replace("-", " ").split())
    memory_gib = gpu.memory_total_bytes / 2**30
    fits = [
        (name, tdp_w)
        for name, catalog_gb, tdp_w in catalog
        if name.split()[0].upper() in words and abs(memory_gib - catalog_gb) <= 0.05 * catalog_gb
    ]
    if len(fits) > 1 and gpu.power_limit_w is not None:
        best = min(abs(tdp_w - gpu.power_limit_w) for _, tdp_w in fits)
        fits = [(name, tdp_w) for name, tdp_w in fits if abs(tdp_w - gpu.power_limit_w) == best]
    if len(fits) != 1:
        candidates = ", ".join(name for name, _ in fits) or "none"
        raise LookupError(
            f"GPU {gpu.index} ({gpu.name}, {memory_gib:.1f} GiB, power limit {gpu.power_limit_w} W) matches "
            f"{len(fits)} catalog models ({candidates}); name the model"
        )
    return fits[0][0]


# --------------------------------------------------------------------------------------------
# Events (XID, ECC)


@dataclass
class NvmlEventSet:
    handle: Any  # the raw nvmlEventSet_t
    registered: dict[str, int] = field(default_factory=dict)  # gpu uuid -> event-type mask
    unsupported: dict[str, str] = field(default_factory=dict)  # gpu uuid -> why none registered
    sbe_events: int = 0  # single-bit ECC events seen (counted, not emitted: gpu_ecc_sbe has them)


def _wanted_event_types(nvml) -> int:
    return (
        nvml.nvmlEventTypeXidCriticalError | nvml.nvmlEventTypeDoubleBitEccError | nvml.nvmlEventTypeSingleBitEccError
    )


def open_event_set(nvml) -> NvmlEventSet:
    """Create an event set and register XID (+ DBE, SBE where supported) on every device.

    A device that supports none of them is listed in ``unsupported``; that is not an error.
    """
    es = NvmlEventSet(handle=nvml.nvmlEventSetCreate())
    xid = nvml.nvmlEventTypeXidCriticalError
    wanted = _wanted_event_types(nvml)
    for index in range(nvml.nvmlDeviceGetCount()):
        h = nvml.nvmlDeviceGetHandleByIndex(index)
        uuid = _text(nvml.nvmlDeviceGetUUID(h))
        supported = _optional(nvml, nvml.nvmlDeviceGetSupportedEventTypes, h, default=xid)
        mask = wanted & supported
        if not mask:
            es.unsupported[uuid] = f"supported event types 0x{supported:x} include none wanted"
            continue
        for attempt in dict.fromkeys((mask, mask & xid)):  # all wanted, then XID alone
            if not attempt:
                continue
            try:
                nvml.nvmlDeviceRegisterEvents(h, attempt, es.handle)
            except nvml.NVMLError as exc:
                if not is_missing_error(nvml, exc):
                    raise
                es.unsupported[uuid] = type(exc).__name__
                continue
            es.registered[uuid] = attempt
            es.unsupported.pop(uuid, None)
            break
    return es


def poll_events(
    nvml,
    event_set: NvmlEventSet,
    timeout_ms: int,
    clock: Callable[[], datetime] = _utcnow,
    max_events: int = 1024,
) -> list[EventReading]:
    """Wait up to ``timeout_ms`` for the first event, then drain what is queued (no wait).

    XID -> EventReading(kind="xid", code=XID number); double-bit ECC -> kind "ecc_dbe".
    Single-bit ECC events are only counted in ``event_set.sbe_events``. At most ``max_events``
    are taken per call (an error storm cannot hold the collector); the rest wait for the next.
    """
    events: list[EventReading] = []
    wait = int(timeout_ms)
    for _ in range(max_events):
        try:
            data = nvml.nvmlEventSetWait(event_set.handle, wait)
        except nvml.NVMLError as exc:
            if exc.value == nvml.NVML_ERROR_TIMEOUT:
                return events
            raise
        wait = 0
        ts = clock()
        uuid = _text(nvml.nvmlDeviceGetUUID(data.device))
        etype = int(data.eventType)
        if etype & nvml.nvmlEventTypeXidCriticalError:
            events.append(
                EventReading(
                    kind="xid", ts=ts, gpu_uuid=uuid, code=int(data.eventData), detail="NVML XID critical error"
                )
            )
        elif etype & nvml.nvmlEventTypeDoubleBitEccError:
            events.append(EventReading(kind="ecc_dbe", ts=ts, gpu_uuid=uuid, detail="NVML double-bit ECC error event"))
        elif etype & nvml.nvmlEventTypeSingleBitEccError:
            event_set.sbe_events += 1
    return events


class NvmlSession:
    """NVML initialised once per worker process, with one event set kept open so that XID and
    ECC events queue between collections instead of being missed.

    Every event set on a host receives every event, so with several worker processes on the host each
    XID would be stored once per process. Only the process holding ``event_lock`` (an exclusive flock,
    released by the kernel when its holder dies) opens the event set; the others read samples alone and
    try for the lock again at each collection, so a successor takes over when the holder exits."""

    def __init__(self, nvml, event_lock: str | None = None):
        self.nvml = nvml
        self.event_lock = event_lock
        self._lock_file = None
        self.event_set: NvmlEventSet | None = None
        nvml.nvmlInit()

    def _hold_event_lock(self) -> bool:
        if self.event_lock is None:
            return True
        if self._lock_file is None:
            lock_file = open(self.event_lock, "a")  # noqa: SIM115 - held open for the process's life
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock_file.close()
                return False
            self._lock_file = lock_file
        return True

    def collect(self, ts: datetime, poll_timeout_ms: int = 0) -> Batch:
        if self.event_set is None and self._hold_event_lock():
            self.event_set = open_event_set(self.nvml)
        events = [] if self.event_set is None else poll_events(self.nvml, self.event_set, poll_timeout_ms)
        return Batch(gpu_readings=read_gpus(self.nvml, ts), events=events)


_session: NvmlSession | None = None
EVENT_LOCK = Path(tempfile.gettempdir()) / "headroom-nvml-events.lock"


def collect(source) -> Batch:
    """Collector entry point (kind "nvml"), run by a worker on the GPU host's own queue."""
    global _session
    if _session is None:
        import pynvml

        _session = NvmlSession(pynvml, event_lock=source.options.get("event_lock", str(EVENT_LOCK)))
    return _session.collect(_utcnow(), poll_timeout_ms=int(source.options.get("poll_timeout_ms", 0)))


# --------------------------------------------------------------------------------------------
# Recording and replay


class ReplayMissError(LookupError):
    """ReplayNvml was asked for a call the recording does not hold (never an NVMLError)."""


@dataclass(frozen=True)
class _Handle:
    """A device or event-set handle in a replay; recorded as {"$h": token}."""

    token: str

    def __repr__(self) -> str:
        return f"<nvml handle {self.token}>"


class _Struct:
    """An NVML result structure in a replay: attributes as recorded."""

    def __init__(self, type_name: str, fields: dict):
        self._type_name = type_name
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "_type_name")
        return f"{self._type_name}({inner})"


def _pointer_address(obj) -> int | None:
    return ctypes.cast(obj, ctypes.c_void_p).value


class _Codec:
    """Turns pynvml arguments and results into JSON and back; handles become stable tokens."""

    def __init__(self):
        self.tokens: dict[int, str] = {}  # pointer address -> token

    def token_for(self, ptr, hint: str) -> str:
        addr = _pointer_address(ptr)
        if addr is None:
            return "null"
        if addr not in self.tokens:
            token = hint if hint not in self.tokens.values() else f"{hint}.{len(self.tokens)}"
            self.tokens[addr] = token
        return self.tokens[addr]

    def encode(self, obj, hint: str = "h"):
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        if isinstance(obj, _Handle):
            return {"$h": obj.token}
        if isinstance(obj, _Struct):
            return {"$s": obj._type_name, "f": {k: self.encode(v) for k, v in vars(obj).items() if k != "_type_name"}}
        if isinstance(obj, bytes):
            return {"$b": obj.decode("latin-1")}
        if isinstance(obj, ctypes._Pointer):
            return {"$h": self.token_for(obj, hint)}
        if isinstance(obj, ctypes.Structure | ctypes.Union):
            return {
                "$s": type(obj).__name__,
                "f": {f[0]: self.encode(getattr(obj, f[0]), hint=f[0]) for f in obj._fields_},
            }
        if isinstance(obj, ctypes.Array):
            return [self.encode(x) for x in obj]
        if isinstance(obj, ctypes._SimpleCData):
            return self.encode(obj.value)
        if isinstance(obj, list | tuple):
            return [self.encode(x) for x in obj]
        if isinstance(obj, dict):
            return {"$d": {str(k): self.encode(v) for k, v in obj.items()}}
        return {"$repr": repr(obj)}

    @staticmethod
    def decode(obj):
        if isinstance(obj, list):
            return [_Codec.decode(x) for x in obj]
        if isinstance(obj, dict):
            if "$h" in obj:
                return _Handle(obj["$h"])
            if "$s" in obj:
                return _Struct(obj["$s"], {k: _Codec.decode(v) for k, v in obj["f"].items()})
            if "$b" in obj:
                return obj["$b"].encode("latin-1")
            if "$d" in obj:
                return {k: _Codec.decode(v) for k, v in obj["$d"].items()}
            if "$repr" in obj:
                return obj["$repr"]
        return obj


def _call_key(fn: str, encoded_args: list) -> str:
    return json.dumps([fn, encoded_args], sort_keys=True)


class RecordingNvml:
    """Pass-through proxy around pynvml that logs every ``nvml*`` call and its result or error.

    ``take_calls()`` returns and clears the log. A function the binding lacks is logged as
    ``{"fn": name, "missing": true}`` so that the replay lacks it too.
    """

    def __init__(self, nvml):
        self._nvml = nvml
        self._calls: list[dict] = []
        self._codec = _Codec()

    def take_calls(self) -> list[dict]:
        calls, self._calls = self._calls, []
        return calls

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            value = getattr(self._nvml, name)
        except AttributeError:
            if name.startswith("nvml"):
                self._calls.append({"fn": name, "missing": True})
            raise
        if name.startswith("nvml") and callable(value):
            return functools.partial(self._call, name, value)
        return value

    def _call(self, name, fn, *args):
        entry: dict[str, Any] = {"fn": name, "args": [self._codec.encode(a) for a in args]}
        try:
            result = fn(*args)
        except self._nvml.NVMLError as exc:
            entry["err"] = exc.value
            entry["err_name"] = type(exc).__name__
            self._calls.append(entry)
            raise
        hint = (
            f"gpu{args[0]}"
            if name.startswith("nvmlDeviceGetHandleByIndex")
            else ("evset" if name == "nvmlEventSetCreate" else "h")
        )
        entry["ok"] = self._codec.encode(result, hint=hint)
        self._calls.append(entry)
        return result


class NvmlRecording:
    """A recording file: a header (inventory, versions, setup calls) and one line per round."""

    def __init__(self, header: dict, rounds: list[dict], source: str = "<memory>"):
        if header.get("format") != RECORDING_FORMAT:
            raise ValueError(f"{source}: not a {RECORDING_FORMAT} recording")
        self.header = header
        self.rounds = rounds
        self.source = source

    @classmethod
    def load(cls, path) -> NvmlRecording:
        lines = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
        return cls.from_lines(lines, source=str(path))

    @classmethod
    def from_lines(cls, lines: list[dict], source: str = "<memory>") -> NvmlRecording:
        if not lines or lines[0].get("type") != "header":
            raise ValueError(f"{source}: first line must be the header")
        return cls(lines[0], [x for x in lines[1:] if x.get("type") == "round"], source)

    def round_ts(self, i: int) -> datetime:
        return datetime.fromisoformat(self.rounds[i]["ts"])

    def recorded_readings(self, i: int) -> list[GpuReading]:
        ts = self.round_ts(i)
        return [GpuReading(gpu_uuid=r["gpu_uuid"], ts=ts, values=r["values"]) for r in self.rounds[i]["readings"]]


class ReplayNvml:
    """Answers pynvml calls from a recording, exactly as the driver answered them.

    Calls are answered from the selected record: a sample round (``round=i``, default 0) or the
    setup record (``round=SETUP``: nvmlInit, inventory, event registration). Repeated identical
    calls get the recorded answers in order, the last one repeating. A call the selected record
    does not hold raises ReplayMissError. Constants and the NVMLError classes come from pynvml.
    """

    def __init__(self, recording, round: int | str = 0, pynvml_module=None):
        if pynvml_module is None:
            import pynvml as pynvml_module
        self._pynvml = pynvml_module
        self._recording = recording if isinstance(recording, NvmlRecording) else NvmlRecording.load(recording)
        self._codec = _Codec()
        self.select(round)

    @property
    def recording(self) -> NvmlRecording:
        return self._recording

    def select(self, which: int | str) -> ReplayNvml:
        if which == SETUP:
            record = self._recording.header
        else:
            record = self._recording.rounds[which]
        self._selected = which
        self._answers: dict[str, list[dict]] = {}
        self._missing: set[str] = set()
        self._recorded_fns: set[str] = set()
        for call in record.get("calls", []):
            if call.get("missing"):
                self._missing.add(call["fn"])
                continue
            self._recorded_fns.add(call["fn"])
            self._answers.setdefault(_call_key(call["fn"], call["args"]), []).append(call)
        self._next: dict[str, int] = {}
        return self

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._missing:
            raise AttributeError(f"{name}: absent from the binding when this was recorded")
        value = getattr(self._pynvml, name, None)
        if name.startswith("nvml") and (callable(value) or name in self._recorded_fns):
            return functools.partial(self._answer, name)
        if value is None:
            raise AttributeError(name)
        return value

    def _answer(self, name, *args):
        encoded = [self._codec.encode(a) for a in args]
        key = _call_key(name, encoded)
        entries = self._answers.get(key)
        if not entries:
            raise ReplayMissError(
                f"ReplayNvml: {name}({', '.join(map(json.dumps, encoded))}) is not in record "
                f"{self._selected!r} of {self._recording.source}; that record holds calls to: "
                f"{', '.join(sorted(self._recorded_fns)) or 'nothing'}"
            )
        i = self._next.get(key, 0)
        self._next[key] = i + 1
        entry = entries[min(i, len(entries) - 1)]
        if "err" in entry:
            raise self._pynvml.NVMLError(entry["err"])
        return self._codec.decode(entry["ok"])


REDACTED_UUID_PREFIX = "GPU-00000000-0000-0000-0000-"


def _redactor(inventory: Iterable[GpuInventory]) -> Callable[[str], str]:
    """Replace each UUID and serial (4+ characters) by a stable hashed alias, everywhere. UUID aliases keep
    NVML's format (all-zero leading groups, hash in the last) so the inventory still accepts them."""
    pairs = []
    for g in inventory:
        for secret, prefix, length in ((g.uuid, REDACTED_UUID_PREFIX, 12), (g.serial, "serial-redacted-", 8)):
            if len(secret) >= 4:
                pairs.append((secret, prefix + hashlib.sha256(secret.encode()).hexdigest()[:length]))

    def redact(line: str) -> str:
        for secret, alias in pairs:
            line = line.replace(secret, alias)
        return line

    return redact


def _summary_line(reading: GpuReading) -> str:
    v = reading.values

    def f(metric, fmt):
        return format(v[metric], fmt) if metric in v else "-"

    reasons = f"0x{int(v['gpu_throttle_reasons']):x}" if "gpu_throttle_reasons" in v else "-"
    return (
        f"util={f('gpu_util', '.0f')}% mem={f('gpu_mem_used', '.3g')}B "
        f"P={f('gpu_power', '.1f')}W E={f('gpu_energy', '.1f')}J T={f('gpu_temp', '.0f')}C "
        f"Tmem={f('gpu_mem_temp', '.0f')}C sm={f('gpu_sm_clock', '.0f')}MHz reasons={reasons}"
    )


def record(
    nvml,
    *,
    rounds: int,
    interval: float,
    out,
    note: str = "",
    redact: bool = False,
    poll_timeout_ms: int = 0,
    clock: Callable[[], datetime] = _utcnow,
    sleep: Callable[[float], None] = time.sleep,
    echo: Callable[[str], None] = print,
) -> Path:
    """Sample ``rounds`` times every ``interval`` s through ``nvml``, logging every raw call.

    Line 1 is the header (versions, inventory, event registration and the calls that made them);
    each further line is one round: its raw calls, the readings and events derived from them.
    """
    out = Path(out)
    rec = RecordingNvml(nvml)
    rec.nvmlInit()
    inventory = read_inventory(rec)
    versions = {}
    for key, fn in (("driver", "nvmlSystemGetDriverVersion"), ("nvml", "nvmlSystemGetNVMLVersion")):
        try:
            versions[key] = _text(getattr(rec, fn)())
        except (AttributeError, nvml.NVMLError):
            versions[key] = None
    try:
        event_set = open_event_set(rec)
    except nvml.NVMLError as exc:
        if not is_missing_error(nvml, exc):
            raise
        event_set = None
        echo(f"events: not available ({type(exc).__name__})")
    scrub = _redactor(inventory) if redact else (lambda s: s)
    header = {
        "type": "header",
        "format": RECORDING_FORMAT,
        "recorded_at": clock().isoformat(),
        "pynvml": _binding_version(nvml),
        **versions,
        "interval_s": interval,
        "rounds": rounds,
        "poll_timeout_ms": poll_timeout_ms,
        "note": note,
        "redacted": redact,
        "inventory": [asdict(g) for g in inventory],
        "event_set": None
        if event_set is None
        else {"registered": event_set.registered, "unsupported": event_set.unsupported},
        "calls": rec.take_calls(),
    }
    echo(
        scrub(
            f"driver {versions['driver']} nvml {versions['nvml']} pynvml {header['pynvml']}; "
            f"{len(inventory)} GPU(s): " + ", ".join(f"{g.index}:{json.dumps(g.uuid)} {g.name}" for g in inventory)
        )
    )
    if event_set is not None:
        echo(
            scrub(
                f"events registered {json.dumps(event_set.registered)} unsupported {json.dumps(event_set.unsupported)}"
            )
        )
    start = time.monotonic()
    with out.open("w") as fh:
        fh.write(scrub(json.dumps(header)) + "\n")
        for i in range(rounds):
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                sleep(delay)
            ts = clock()
            readings = read_gpus(rec, ts)
            events = [] if event_set is None else poll_events(rec, event_set, poll_timeout_ms, clock=clock)
            line = {
                "type": "round",
                "i": i,
                "ts": ts.isoformat(),
                "calls": rec.take_calls(),
                "readings": [{"gpu_uuid": r.gpu_uuid, "values": r.values} for r in readings],
                "events": [
                    {"kind": e.kind, "ts": e.ts.isoformat(), "gpu_uuid": e.gpu_uuid, "code": e.code, "detail": e.detail}
                    for e in events
                ],
            }
            fh.write(scrub(json.dumps(line)) + "\n")
            fh.flush()
            for index, r in enumerate(readings):
                echo(f"{i:4d} {ts:%H:%M:%S} gpu{index} {_summary_line(r)}")
            for e in events:
                echo(
                    scrub(f"{i:4d} {ts:%H:%M:%S} EVENT {e.kind} code={e.code} gpu={json.dumps(e.gpu_uuid)} {e.detail}")
                )
    if event_set is not None:
        try:
            nvml.nvmlEventSetFree(event_set.handle)
        except nvml.NVMLError:
            pass
    nvml.nvmlShutdown()
    return out


def _binding_version(nvml) -> str | None:
    try:
        from importlib.metadata import version

        if getattr(nvml, "__name__", "") == "pynvml":
            return version("nvidia-ml-py")
    except Exception:  # noqa: BLE001 - the version is informative only
        pass
    return None


# --------------------------------------------------------------------------------------------
# The h100-nvml-trace CSV (t_s relative seconds; NVML units as returned)

TRACE_COLUMNS = {  # column -> (metric, divisor to vocabulary units)
    "gpu_util_pct": ("gpu_util", 1),
    "mem_used_bytes": ("gpu_mem_used", 1),
    "power_mw": ("gpu_power", 1000),
    "energy_mj": ("gpu_energy", 1000),
    "temp_gpu_c": ("gpu_temp", 1),
    "temp_mem_c": ("gpu_mem_temp", 1),
    "sm_clock_mhz": ("gpu_sm_clock", 1),
    "clocks_event_reasons": ("gpu_throttle_reasons", 1),
    "ecc_sbe_volatile": ("gpu_ecc_sbe", 1),
    "ecc_dbe_volatile": ("gpu_ecc_dbe", 1),
    "remap_pending": ("gpu_remap_pending", 1),
    "remap_failure": ("gpu_remap_failure", 1),
}


class TraceImport(NamedTuple):
    readings: list[GpuReading]
    events: list[EventReading]


def read_trace_csv(path, *, start: datetime, gpu_uuid: str) -> TraceImport:
    """Parse an NVML trace CSV (as in tests/fixtures/h100-nvml-trace) into vocabulary readings.

    ``t_s`` is seconds after ``start``; empty cells are absent values; a non-empty ``xid`` cell
    (codes separated by ';' or spaces) becomes xid EventReadings.
    """
    readings, events = [], []
    with Path(path).open(newline="") as fh:
        for row in csv.DictReader(fh):
            ts = start + timedelta(seconds=float(row["t_s"]))
            values = {}
            for column, (metric, divisor) in TRACE_COLUMNS.items():
                cell = (row.get(column) or "").strip()
                if cell:
                    values[metric] = float(cell) / divisor if divisor != 1 else float(cell)
            readings.append(GpuReading(gpu_uuid=gpu_uuid, ts=ts, values=values))
            for code in (row.get("xid") or "").replace(";", " ").split():
                events.append(EventReading(kind="xid", ts=ts, gpu_uuid=gpu_uuid, code=int(code), detail="from trace"))
    return TraceImport(readings, events)


# --------------------------------------------------------------------------------------------
# Command line


def _cmd_read(nvml, echo=print, redact: bool = False) -> int:
    nvml.nvmlInit()
    if redact:
        scrub = _redactor(read_inventory(nvml))
        raw_echo = echo

        def echo(line):
            raw_echo(scrub(line))

    try:
        echo(
            f"driver {_text(nvml.nvmlSystemGetDriverVersion())}  "
            f"NVML {_text(nvml.nvmlSystemGetNVMLVersion())}  pynvml {_binding_version(nvml)}"
        )
        inventory = read_inventory(nvml)
        for g in inventory:
            limit = "-" if g.power_limit_w is None else f"{g.power_limit_w:.0f} W"
            echo(
                f"GPU {g.index}: {g.name}  uuid {g.uuid}  serial {g.serial or '-'}  "
                f"memory {g.memory_total_bytes / 2**30:.1f} GiB  power limit {limit}"
            )
        try:
            es = open_event_set(nvml)
            echo(
                f"events: registered {json.dumps({k: hex(v) for k, v in es.registered.items()})}"
                f" unsupported {json.dumps(es.unsupported)}"
            )
        except nvml.NVMLError as exc:
            es = None
            echo(f"events: not available ({type(exc).__name__})")
        problems: list[FieldProblem] = []
        ts = _utcnow()
        for r in read_gpus(nvml, ts, problems):
            echo(f"\nGPU {r.gpu_uuid} at {ts.isoformat()}")
            echo(f"  {'metric':22} {'value':>18}  unit")
            for name, metric in GPU_METRICS.items():
                if name in r.values:
                    echo(f"  {name:22} {r.values[name]:>18.6g}  {metric.unit}")
            for p in problems:
                if p.gpu_uuid == r.gpu_uuid:
                    echo(f"  absent: {p.group} ({', '.join(FIELD_METRICS[p.group])}): {p.error}")
        if es is not None:
            events = poll_events(nvml, es, 0)
            echo(f"\nevents pending: {len(events)}")
            for e in events:
                echo(f"  {e.kind} code={e.code} gpu={e.gpu_uuid}")
            nvml.nvmlEventSetFree(es.handle)
    finally:
        nvml.nvmlShutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telemetry.collectors.nvml")
    sub = parser.add_subparsers(dest="cmd", required=True)
    read = sub.add_parser("read", help="print inventory and one reading of every GPU")
    read.add_argument("--redact", action="store_true", help="hide GPU UUIDs and serials")
    rec = sub.add_parser("record", help="record raw NVML calls to a JSON-lines file")
    rec.add_argument("--seconds", type=float, default=60.0)
    rec.add_argument("--interval", type=float, default=1.0)
    rec.add_argument("--out", required=True)
    rec.add_argument("--note", default="", help="free text stored in the header (e.g. the load)")
    rec.add_argument(
        "--redact", action="store_true", help="replace GPU UUIDs and serials by hashed aliases, consistently"
    )
    args = parser.parse_args(argv)
    import pynvml

    if args.cmd == "read":
        return _cmd_read(pynvml, redact=args.redact)
    rounds = max(1, round(args.seconds / args.interval))
    record(pynvml, rounds=rounds, interval=args.interval, out=args.out, note=args.note, redact=args.redact)
    return 0


if __name__ == "__main__":
    sys.exit(main())
