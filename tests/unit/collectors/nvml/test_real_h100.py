"""The recording of a real H100 (tests/fixtures/nvml-recording) replayed through the collector, and the
samples a real H100 collection stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pynvml
import pytest

from telemetry.collectors import nvml as col
from telemetry.vocabulary import GPU_METRICS

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
RECORDING = FIXTURES / "nvml-recording" / "h100-load.jsonl"


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


def test_samples_stored_on_the_gpu_host_keep_power_and_energy_consistent():
    """What the real H100 collection stored (collect_on_gpu.sh): energy counter delta = integral of power."""
    import pandas as pd

    stored = pd.read_csv(FIXTURES / "nvml-recording" / "h100-collected-samples.csv")
    seconds = (pd.to_datetime(stored.ts) - pd.to_datetime(stored.ts[0])).dt.total_seconds().to_numpy()
    integral_j = np.trapezoid(stored.gpu_power.to_numpy(), seconds)
    assert integral_j == pytest.approx(stored.gpu_energy.iloc[-1] - stored.gpu_energy.iloc[0], rel=0.01)
    assert stored.gpu_power.max() > 600 and stored.gpu_retired_pages.isna().all()
