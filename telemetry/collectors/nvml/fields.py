"""NVML field mapping: one reader per field group, each returning {metric: value} in vocabulary units
(docs/collectors.md has the table), and ``read_gpus``, one sample of every GPU."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from telemetry.vocabulary import GpuReading

from .binding import as_text, is_missing_error

# nvmlFieldValue_t.valueType -> the member of the value union that holds it
_FIELD_VALUE_MEMBER = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}


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
        uuid = as_text(nvml.nvmlDeviceGetUUID(handle))
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
