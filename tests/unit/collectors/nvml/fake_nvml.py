"""A fake NVML binding for the collector tests: pynvml's constants, error classes and ctypes result
types, canned values."""

from __future__ import annotations

import ctypes
from datetime import UTC, datetime

import pynvml

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeNvml:
    """Two GPUs. gpu0 reports everything but retired pages and the PCIe replay counter; gpu1
    lacks nvmlDeviceGetTemperatureV in the driver, HBM temperature, ECC and remapping. The
    binding has no nvmlDeviceGetCurrentClocksEventReasons (an older nvidia-ml-py)."""

    def __init__(self):
        self._devices = [pynvml.struct_c_nvmlDevice_t(), pynvml.struct_c_nvmlDevice_t()]
        self._evset = pynvml.struct_c_nvmlEventSet_t()
        self._tick = 0
        self._queued = []  # (device index, type, data)
        self.registered = {}

    def __getattr__(self, name):
        if name == "nvmlDeviceGetCurrentClocksEventReasons":
            raise AttributeError(name)
        value = getattr(pynvml, name)
        if callable(value) and name.startswith("nvml"):
            raise AttributeError(f"FakeNvml does not implement {name}")
        return value

    def _idx(self, h):
        addr = ctypes.cast(h, ctypes.c_void_p).value
        for i, d in enumerate(self._devices):
            if ctypes.addressof(d) == addr:
                return i
        raise AssertionError("unknown handle")

    @staticmethod
    def _raise(code):
        raise pynvml.NVMLError(code)

    def nvmlInit(self):
        return None

    def nvmlShutdown(self):
        return None

    def nvmlSystemGetDriverVersion(self):
        return "580.159.04"

    def nvmlSystemGetNVMLVersion(self):
        return "13.580.159.04"

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return ctypes.pointer(self._devices[i])

    def nvmlDeviceGetUUID(self, h):
        return f"GPU-fake-{self._idx(h)}"

    def nvmlDeviceGetIndex(self, h):
        return self._idx(h)

    def nvmlDeviceGetSerial(self, h):
        if self._idx(h) == 1:
            self._raise(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return "1650000000001"

    def nvmlDeviceGetName(self, h):
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return 700000

    def nvmlDeviceGetPowerManagementLimit(self, h):
        return 700000

    def nvmlDeviceGetUtilizationRates(self, h):
        u = pynvml.c_nvmlUtilization_t()
        u.gpu, u.memory = 97, 60
        return u

    def nvmlDeviceGetMemoryInfo(self, h):
        m = pynvml.c_nvmlMemory_t()
        m.total, m.used = 85520809984, 1326252032
        m.free = m.total - m.used
        return m

    def nvmlDeviceGetPowerUsage(self, h):
        return 689123

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        self._tick += 1
        return 2479416 + 700000 * self._tick

    def nvmlDeviceGetTemperatureV(self, h, sensor):
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        if self._idx(h) == 1:
            self._raise(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        return 72

    def nvmlDeviceGetTemperature(self, h, sensor):
        return 55

    def nvmlDeviceGetFieldValues(self, h, ids):
        arr = (pynvml.c_nvmlFieldValue_t * len(ids))()
        for i, fid in enumerate(ids):
            arr[i].fieldId = fid
            if self._idx(h) == 1:
                arr[i].nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
            else:
                arr[i].valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
                arr[i].value.uiVal = 64
        return arr

    def nvmlDeviceGetClockInfo(self, h, clock):
        assert clock == pynvml.NVML_CLOCK_SM
        return 1455

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h):
        return pynvml.nvmlClocksThrottleReasonSwPowerCap

    def nvmlDeviceGetTotalEccErrors(self, h, error_type, counter):
        assert counter == pynvml.NVML_VOLATILE_ECC
        if self._idx(h) == 1:
            self._raise(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return 3 if error_type == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED else 0

    def nvmlDeviceGetRetiredPages(self, h, cause):
        self._raise(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetRemappedRows(self, h):
        if self._idx(h) == 1:
            self._raise(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return (0, 0, 1, 0)

    def nvmlDeviceGetPcieReplayCounter(self, h):
        self._raise(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlEventSetCreate(self):
        return ctypes.pointer(self._evset)

    def nvmlDeviceGetSupportedEventTypes(self, h):
        if self._idx(h) == 1:
            return pynvml.nvmlEventTypeXidCriticalError
        return (
            pynvml.nvmlEventTypeXidCriticalError
            | pynvml.nvmlEventTypeDoubleBitEccError
            | pynvml.nvmlEventTypeSingleBitEccError
            | pynvml.nvmlEventTypePState
        )

    def nvmlDeviceRegisterEvents(self, h, types, evset):
        self.registered[self._idx(h)] = types

    def nvmlEventSetWait(self, evset, timeout_ms):
        if not self._queued:
            self._raise(pynvml.NVML_ERROR_TIMEOUT)
        index, etype, data = self._queued.pop(0)
        ev = pynvml.c_nvmlEventData_t()
        ev.device = ctypes.pointer(self._devices[index])
        ev.eventType, ev.eventData = etype, data
        return ev

    def nvmlEventSetFree(self, evset):
        return None
