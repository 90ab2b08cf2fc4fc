"""read_gpus, read_inventory, events and the per-process session, against the fake binding (no database;
all but test_recording.py also run with ``-p no:django``)."""

from __future__ import annotations

import pynvml
import pytest

from telemetry.collectors import nvml as col
from telemetry.vocabulary import GPU_METRICS, EventReading
from tests.unit.collectors.nvml.fake_nvml import T0, FakeNvml


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
