"""tests/fixtures/h100-nvml-trace (a 0.5 s trace of an H100 under a stepped load) through read_trace_csv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telemetry.collectors import nvml as col
from telemetry.vocabulary import GpuReading
from tests.unit.collectors.nvml.fake_nvml import T0

TRACE_DIR = Path(__file__).resolve().parents[3] / "fixtures" / "h100-nvml-trace"


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
