"""The real traces the forecasts are tested on: tests/fixtures/forecast-*/ as hall IT load in kW, and the
H100 NVML recordings as time, power and temperature (see their READMEs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def alibaba_it_load_kw(idle_kw: float = 300.0, peak_kw: float = 1200.0) -> pd.Series:
    """Alibaba 2018 cluster CPU utilisation (5-minute means over ~4,000 machines) mapped linearly
    from idle to peak power of a hall; the start time is ours, the spacing real."""
    frame = pd.read_csv(FIXTURES / "forecast-alibaba2018" / "machine_usage_grouped_300_seconds.csv")
    index = pd.date_range("2018-01-01", periods=len(frame), freq="5min", tz="UTC", name="time")
    util = frame["cpu_util_percent"].to_numpy() / 100
    return pd.Series(idle_kw + (peak_kw - idle_kw) * util, index=index, name="it_load_kw")


def taylor_it_load_kw(peak_kw: float = 1200.0) -> pd.Series:
    """England and Wales half-hourly demand, summer 2000, scaled so its peak is `peak_kw`."""
    frame = pd.read_csv(FIXTURES / "forecast-taylor" / "taylor_halfhourly_mw.csv")
    index = pd.DatetimeIndex(pd.to_datetime(frame["time"], utc=True), name="time")
    demand = frame["demand_mw"].to_numpy(dtype=float)
    return pd.Series(peak_kw * demand / demand.max(), index=index, name="it_load_kw")


TRACES = {"alibaba2018": alibaba_it_load_kw, "taylor": taylor_it_load_kw}
# Real H100 recordings: a stepped load, and a random schedule on another machine (bench/thermal_gpu.py).
NVML_TRACES = ("h100-nvml-trace", "h100-nvml-random")


def nvml_thermal(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seconds, board power (W) and GPU temperature (C) of one of NVML_TRACES."""
    frame = pd.read_csv(FIXTURES / name / "trace.csv")
    return frame["t_s"].to_numpy(), frame["power_mw"].to_numpy() / 1000, frame["temp_gpu_c"].to_numpy(dtype=float)


def taylor_hall(seed: int = 0, cooling_per_it: float = 1.08, capacity_kw: float = 1500.0) -> pd.DataFrame:
    """Hourly hall history on the real Taylor load: IT load measured (scaled), cooling load and inlet
    derived from it as the synthetic halls do (1 kW of IT is ~1.08 kW of heat; inlet rising with
    utilisation), with noise. No public trace of a hall's cooling was at hand: only the load is real."""
    rng = np.random.default_rng(seed)
    it = taylor_it_load_kw().resample("h").mean()
    cooling = cooling_per_it * it + rng.normal(0, 5.0, len(it))
    inlet = 18 + 8 * cooling / capacity_kw + rng.normal(0, 0.3, len(it))
    return pd.DataFrame({"it_load_kw": it, "cooling_load_kw": cooling, "max_inlet_c": inlet})
