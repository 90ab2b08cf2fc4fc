"""NVML collector: read_gpus/read_inventory/events against a recording of a real H100, the
recorder/replay round trip against a fake binding built from pynvml's own ctypes types, and the
h100-nvml-trace CSV.

Plain pytest, no database: run with ``pytest tests/unit/telemetry -p no:django``.
"""

from __future__ import annotations

import ctypes
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pynvml
import pytest

from telemetry.collectors import nvml as col
from telemetry.models.inventory import gpu_uuid_validator
from telemetry.vocabulary import GPU_METRICS, EventReading, GpuReading

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RECORDING = FIXTURES / "nvml-recording" / "h100-load.jsonl"
TRACE_DIR = FIXTURES / "h100-nvml-trace"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------------
# A fake binding: pynvml's constants, error classes and ctypes result types, canned values.


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


# ------------------------------------------------------------------------------------------
# read_gpus and friends on the fake


def test_read_gpus_converts_units_and_leaves_unsupported_fields_out():
    problems = []
    gpu0, gpu1 = col.read_gpus(FakeNvml(), T0, problems)
    assert (gpu0.gpu_uuid, gpu0.ts) == ("GPU-fake-0", T0)
    v = gpu0.values
    assert v["gpu_power"] == pytest.approx(689.123)  # mW -> W
    assert v["gpu_energy"] == pytest.approx(3179.416)  # mJ -> J
    assert v["gpu_util"] == 97 and v["gpu_mem_used"] == 1326252032
    assert v["gpu_temp"] == 72 and v["gpu_mem_temp"] == 64 and v["gpu_sm_clock"] == 1455
    assert v["gpu_throttle_reasons"] == 4  # via the older throttle-reasons call
    assert (v["gpu_ecc_sbe"], v["gpu_ecc_dbe"]) == (3, 0)
    assert (v["gpu_remap_pending"], v["gpu_remap_failure"]) == (1, 0)
    assert "gpu_retired_pages" not in v and "gpu_pcie_replay" not in v
    assert set(v) <= set(GPU_METRICS)
    # gpu1: TemperatureV not in the driver -> the older call; the rest absent, not errors
    assert gpu1.values["gpu_temp"] == 55
    for absent in ("gpu_mem_temp", "gpu_ecc_sbe", "gpu_ecc_dbe", "gpu_remap_pending"):
        assert absent not in gpu1.values
    assert ("GPU-fake-1", "memory_temperature", "NVMLError_NotSupported") in {
        (p.gpu_uuid, p.group, p.error) for p in problems
    }


def test_other_nvml_errors_propagate():
    fake = FakeNvml()
    fake.nvmlDeviceGetPowerUsage = lambda h: FakeNvml._raise(pynvml.NVML_ERROR_GPU_IS_LOST)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        col.read_gpus(fake, T0)


def test_read_inventory():
    inv = col.read_inventory(FakeNvml())
    assert [(g.index, g.uuid, g.serial, g.power_limit_w) for g in inv] == [
        (0, "GPU-fake-0", "1650000000001", 700.0),
        (1, "GPU-fake-1", "", 700.0),
    ]
    assert inv[0].memory_total_bytes == 85520809984


def test_events_register_and_poll():
    fake = FakeNvml()
    es = col.open_event_set(fake)
    xid, dbe, sbe = (
        pynvml.nvmlEventTypeXidCriticalError,
        pynvml.nvmlEventTypeDoubleBitEccError,
        pynvml.nvmlEventTypeSingleBitEccError,
    )
    assert es.registered == {"GPU-fake-0": xid | dbe | sbe, "GPU-fake-1": xid}
    fake._queued = [(1, xid, 79), (0, sbe, 0), (0, dbe, 0)]
    events = col.poll_events(fake, es, 100, clock=lambda: T0)
    assert events == [
        EventReading("xid", T0, "GPU-fake-1", code=79, detail="NVML XID critical error"),
        EventReading("ecc_dbe", T0, "GPU-fake-0", detail="NVML double-bit ECC error event"),
    ]
    assert es.sbe_events == 1
    assert col.poll_events(fake, es, 0) == []


def test_event_storm_is_capped_and_other_wait_errors_propagate():
    fake = FakeNvml()
    es = col.open_event_set(fake)
    fake._queued = [(0, pynvml.nvmlEventTypeXidCriticalError, 13)] * 5
    assert [e.code for e in col.poll_events(fake, es, 0, max_events=3)] == [13, 13, 13]
    assert len(col.poll_events(fake, es, 0)) == 2
    fake.nvmlEventSetWait = lambda s, t: FakeNvml._raise(pynvml.NVML_ERROR_GPU_IS_LOST)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        col.poll_events(fake, es, 0)


# ------------------------------------------------------------------------------------------
# record -> replay round trip


def _record_fake(tmp_path, rounds=3, queue=()):
    fake = FakeNvml()
    fake._queued = list(queue)
    out = tmp_path / "rec.jsonl"
    ticks = iter(range(100))
    col.record(
        fake,
        rounds=rounds,
        interval=0.0,
        out=out,
        note="fake",
        clock=lambda: T0.replace(second=next(ticks)),
        echo=lambda s: None,
    )
    return fake, col.NvmlRecording.load(out)


def test_record_then_replay_gives_the_same_readings(tmp_path):
    _, rec = _record_fake(tmp_path)
    assert rec.header["driver"] == "580.159.04" and len(rec.rounds) == 3
    assert [g["uuid"] for g in rec.header["inventory"]] == ["GPU-fake-0", "GPU-fake-1"]
    for i in range(3):
        replay = col.ReplayNvml(rec, round=i)
        ts = rec.round_ts(i)
        assert col.read_gpus(replay, ts) == rec.recorded_readings(i)
    # energy was a counter on the fake: the replay reproduces each round's own value
    energies = [col.read_gpus(col.ReplayNvml(rec, round=i), T0)[0].values["gpu_energy"] for i in range(3)]
    assert energies == sorted(energies) and len(set(energies)) == 3
    # the missing binding function was recorded as missing and is missing in the replay
    assert not hasattr(col.ReplayNvml(rec, round=0), "nvmlDeviceGetCurrentClocksEventReasons")
    calls = rec.rounds[0]["calls"]
    assert {"fn": "nvmlDeviceGetCurrentClocksEventReasons", "missing": True} in calls
    assert any(c.get("err_name") == "NVMLError_NotSupported" for c in calls)


def test_replay_of_setup_gives_inventory_and_event_set(tmp_path):
    _, rec = _record_fake(tmp_path)
    replay = col.ReplayNvml(rec, round=col.SETUP)
    assert [g.uuid for g in col.read_inventory(replay)] == ["GPU-fake-0", "GPU-fake-1"]
    es = col.open_event_set(replay)
    assert es.registered == rec.header["event_set"]["registered"]


def test_recorded_events_replay(tmp_path):
    xid = pynvml.nvmlEventTypeXidCriticalError
    _, rec = _record_fake(tmp_path, rounds=2, queue=[(1, xid, 31), (0, xid, 13)])
    assert [(e["kind"], e["code"], e["gpu_uuid"]) for e in rec.rounds[0]["events"]] == [
        ("xid", 31, "GPU-fake-1"),
        ("xid", 13, "GPU-fake-0"),
    ]
    assert rec.rounds[1]["events"] == []
    es = col.open_event_set(col.ReplayNvml(rec, round=col.SETUP))
    events = col.poll_events(col.ReplayNvml(rec, round=0), es, 0, clock=lambda: T0)
    assert [(e.kind, e.code, e.gpu_uuid) for e in events] == [("xid", 31, "GPU-fake-1"), ("xid", 13, "GPU-fake-0")]
    assert col.poll_events(col.ReplayNvml(rec, round=1), es, 0) == []


def test_replay_is_strict(tmp_path):
    _, rec = _record_fake(tmp_path, rounds=1)
    replay = col.ReplayNvml(rec, round=0)
    with pytest.raises(col.ReplayMissError, match=r"nvmlDeviceGetFanSpeed\(.*not in record 0"):
        replay.nvmlDeviceGetFanSpeed(replay.nvmlDeviceGetHandleByIndex(0))
    with pytest.raises(col.ReplayMissError, match="nvmlDeviceGetHandleByIndex"):
        replay.nvmlDeviceGetHandleByIndex(7)  # other arguments than recorded
    with pytest.raises(col.ReplayMissError):  # inventory calls live in the setup record only
        col.read_inventory(replay)
    assert not issubclass(col.ReplayMissError, pynvml.NVMLError)  # never taken for "missing"


def test_redacted_recording_is_consistent(tmp_path):
    fake = FakeNvml()
    out = tmp_path / "r.jsonl"
    col.record(fake, rounds=2, interval=0.0, out=out, redact=True, echo=lambda s: None)
    text = out.read_text()
    assert "GPU-fake-0" not in text and "1650000000001" not in text
    rec = col.NvmlRecording.load(out)
    uuid0 = rec.header["inventory"][0]["uuid"]
    assert uuid0.startswith(col.REDACTED_UUID_PREFIX)
    gpu_uuid_validator(uuid0)  # still a UUID the inventory accepts
    assert col.read_gpus(col.ReplayNvml(rec, round=1), T0)[0].gpu_uuid == uuid0


# ------------------------------------------------------------------------------------------
# The recording of a real H100 (tests/fixtures/nvml-recording)


@pytest.fixture(scope="module")
def real():
    return col.NvmlRecording.load(RECORDING)


@pytest.fixture(scope="module")
def real_readings(real):
    return [col.read_gpus(col.ReplayNvml(real, round=i), real.round_ts(i)) for i in range(len(real.rounds))]


def test_real_recording_replays_to_what_the_gpu_gave(real, real_readings):
    assert len(real.rounds) >= 30
    for i, readings in enumerate(real_readings):
        assert readings == real.recorded_readings(i)


def test_real_recording_values_are_plausible(real, real_readings):
    inventory = real.header["inventory"]
    assert len(inventory) == 1 and "H100" in inventory[0]["name"]
    tdp = inventory[0]["power_limit_w"]
    assert 300 <= tdp <= 1000
    series = [r[0].values for r in real_readings]
    for v in series:
        assert set(v) <= set(GPU_METRICS)
        assert 0 <= v["gpu_util"] <= 100
        assert 20 < v["gpu_power"] <= tdp * 1.05  # W, not mW
        assert 20 <= v["gpu_temp"] <= 100 and 20 <= v["gpu_mem_temp"] <= 100
        assert 0 < v["gpu_mem_used"] <= inventory[0]["memory_total_bytes"]
        assert 100 <= v["gpu_sm_clock"] <= 2100
        assert v["gpu_ecc_dbe"] == 0 and v["gpu_remap_failure"] == 0
    energy = [v["gpu_energy"] for v in series]
    assert all(b > a for a, b in zip(energy, energy[1:], strict=False))
    # the energy counter (mJ -> J) grows as the power readings (mW -> W) integrate over time;
    # a wrong unit on either side is off by 1000x, so 3 % is a sharp check (the run gave 0.2 %)
    times = [real.round_ts(i) for i in range(len(series))]
    integrated = sum(
        (a["gpu_power"] + b["gpu_power"]) / 2 * (tb - ta).total_seconds()
        for a, b, ta, tb in zip(series, series[1:], times, times[1:], strict=False)
    )
    assert (energy[-1] - energy[0]) == pytest.approx(integrated, rel=0.03)
    # the run was loaded: a clearly busy part and a clearly idle part
    assert max(v["gpu_util"] for v in series) >= 90 and max(energy) > 0
    assert max(v["gpu_power"] for v in series) > 2 * min(v["gpu_power"] for v in series)


def test_real_recording_unsupported_fields_are_absent_not_errors(real, real_readings):
    unsupported = {
        c["fn"]
        for c in real.rounds[0]["calls"]
        if c.get("err_name") in ("NVMLError_NotSupported", "NVMLError_NoPermission")
    }
    metrics_of = {
        "nvmlDeviceGetRetiredPages": "gpu_retired_pages",
        "nvmlDeviceGetPcieReplayCounter": "gpu_pcie_replay",
        "nvmlDeviceGetRemappedRows": "gpu_remap_pending",
        "nvmlDeviceGetPowerUsage": "gpu_power",
    }
    for fn in unsupported & set(metrics_of):
        assert metrics_of[fn] not in real_readings[0][0].values
    for fn in set(metrics_of) - unsupported:
        assert metrics_of[fn] in real_readings[0][0].values


def test_real_recording_events_replay(real):
    es = col.open_event_set(col.ReplayNvml(real, round=col.SETUP))
    uuid = real.header["inventory"][0]["uuid"]
    xid, dbe, sbe = (
        pynvml.nvmlEventTypeXidCriticalError,
        pynvml.nvmlEventTypeDoubleBitEccError,
        pynvml.nvmlEventTypeSingleBitEccError,
    )
    assert es.registered == {uuid: xid | dbe | sbe} == real.header["event_set"]["registered"]
    seen = []
    for i, rnd in enumerate(real.rounds):
        got = col.poll_events(col.ReplayNvml(real, round=i), es, real.header["poll_timeout_ms"])
        assert [(e.kind, e.code, e.gpu_uuid) for e in got] == [
            (e["kind"], e["code"], e["gpu_uuid"]) for e in rnd["events"]
        ]
        seen += [(i, e.kind, e.code) for e in got]
    # the load's deliberate out-of-bounds write was reported by the driver as XID 31 (MMU fault)
    assert [(kind, code) for _, kind, code in seen] == [("xid", 31)]


def test_real_recording_is_strict(real):
    replay = col.ReplayNvml(real, round=0)
    with pytest.raises(col.ReplayMissError):
        replay.nvmlDeviceGetPowerUsage(replay.nvmlDeviceGetHandleByIndex(1))


# ------------------------------------------------------------------------------------------
# tests/fixtures/h100-nvml-trace (a 0.5 s trace of an H100 under a stepped load)


@pytest.fixture(scope="module")
def trace():
    return col.read_trace_csv(TRACE_DIR / "trace.csv", start=T0, gpu_uuid="GPU-trace")


def test_trace_readings_agree_with_the_file(trace):
    rows = (TRACE_DIR / "trace.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert len(trace.readings) == len(rows) - 1 == 930
    for line, reading in zip(rows[1:], trace.readings, strict=True):
        row = dict(zip(header, line.split(","), strict=True))
        v = reading.values
        assert v["gpu_power"] == int(row["power_mw"]) / 1000
        assert v["gpu_energy"] == int(row["energy_mj"]) / 1000
        assert v["gpu_temp"] == int(row["temp_gpu_c"])
        assert v["gpu_mem_temp"] == int(row["temp_mem_c"])
        assert v["gpu_throttle_reasons"] == int(row["clocks_event_reasons"])
        assert (reading.ts - T0).total_seconds() == float(row["t_s"])
        assert "gpu_pcie_replay" not in v and "gpu_retired_pages" not in v  # no such columns
    assert trace.events == []  # the xid column is empty throughout


def test_trace_energy_counter_matches_integrated_power(trace):
    device = json.loads((TRACE_DIR / "device.json").read_text())
    r = trace.readings
    integrated = sum(a.values["gpu_power"] * (b.ts - a.ts).total_seconds() for a, b in zip(r, r[1:], strict=False))
    counted = r[-1].values["gpu_energy"] - r[0].values["gpu_energy"]
    assert counted == pytest.approx(integrated, rel=0.02)
    limit_w = device["power_limit_mw"] / 1000
    assert all(0 < x.values["gpu_power"] <= limit_w * 1.05 for x in r)
    full = [x for x, row in zip(r, _phases(), strict=True) if row == "full"]
    idle = [x for x, row in zip(r, _phases(), strict=True) if row == "idle"]
    mean = lambda xs, m: sum(x.values[m] for x in xs) / len(xs)  # noqa: E731
    assert mean(full, "gpu_power") > 600 and mean(idle, "gpu_power") < 200
    # at the 700 W cap the clocks are held down for the software power cap (reason bit 4)
    capped = sum(int(x.values["gpu_throttle_reasons"]) & 4 != 0 for x in full) / len(full)
    assert capped > 0.5


def _phases():
    rows = (TRACE_DIR / "trace.csv").read_text().splitlines()
    i = rows[0].split(",").index("phase")
    return [line.split(",")[i] for line in rows[1:]]


def test_trace_readings_are_gpu_readings(trace):
    assert all(isinstance(x, GpuReading) and x.ts.tzinfo is not None for x in trace.readings)


def test_session_collects_readings_and_queued_events():
    fake = FakeNvml()
    fake.nvmlInit = lambda: None  # the fake has no driver to initialise
    session = col.NvmlSession(fake)
    fake._queued = [(0, pynvml.nvmlEventTypeXidCriticalError, 48)]
    batch = session.collect(T0)
    assert [r.gpu_uuid for r in batch.gpu_readings] == ["GPU-fake-0", "GPU-fake-1"]
    assert [(e.kind, e.gpu_uuid, e.code) for e in batch.events] == [("xid", "GPU-fake-0", 48)]
    assert session.collect(T0).events == []


def test_one_session_per_host_reads_events(tmp_path):
    """Worker processes on one host share the lock: an XID is reported once, and a survivor takes over."""
    lock = tmp_path / "events.lock"
    fake = FakeNvml()
    fake.nvmlInit = lambda: None
    first, second = col.NvmlSession(fake, event_lock=lock), col.NvmlSession(fake, event_lock=lock)
    fake._queued = [(0, pynvml.nvmlEventTypeXidCriticalError, 31)]
    assert [e.code for e in first.collect(T0).events] == [31]
    batch = second.collect(T0)
    assert batch.events == [] and len(batch.gpu_readings) == 2  # samples still read
    assert second.event_set is None

    first._lock_file.close()  # the holder's process exits; the kernel drops its lock
    fake._queued = [(1, pynvml.nvmlEventTypeXidCriticalError, 79)]
    assert [(e.gpu_uuid, e.code) for e in second.collect(T0).events] == [("GPU-fake-1", 79)]


def test_samples_stored_on_the_gpu_host_keep_power_and_energy_consistent():
    """What the real H100 collection stored (collect_on_gpu.sh): energy counter delta = integral of power."""
    import pandas as pd

    stored = pd.read_csv(Path(__file__).parents[2] / "fixtures" / "nvml-recording" / "h100-collected-samples.csv")
    seconds = (pd.to_datetime(stored.ts) - pd.to_datetime(stored.ts[0])).dt.total_seconds().to_numpy()
    integral_j = np.trapezoid(stored.gpu_power.to_numpy(), seconds)
    assert integral_j == pytest.approx(stored.gpu_energy.iloc[-1] - stored.gpu_energy.iloc[0], rel=0.01)
    assert stored.gpu_power.max() > 600 and stored.gpu_retired_pages.isna().all()
