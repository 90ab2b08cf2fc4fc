"""Synthetic hall histories and GPU fleets with known structure, shared by tests and bench."""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday


def hall_history(
    weeks: int = 8,
    seed: int = 0,
    base_kw: float = 800.0,
    daily_kw: float = 120.0,
    weekly_kw: float = 60.0,
    trend_kw_per_day: float = 2.0,
    noise_kw: float = 15.0,
    cooling_per_it: float = 1.08,
    capacity_kw: float = 1500.0,
) -> pd.DataFrame:
    """Hourly history: IT load with daily and weekly cycles, trend and AR(1) noise; cooling load =
    cooling_per_it x IT + outdoor-driven gain; inlet rising with utilisation and outdoor air."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(START, periods=weeks * 168, freq="h")
    t = np.arange(len(index))
    noise = np.zeros(len(t))
    shocks = rng.normal(0, noise_kw * np.sqrt(1 - 0.7**2), len(t))
    for i in range(1, len(t)):
        noise[i] = 0.7 * noise[i - 1] + shocks[i]
    it = (
        base_kw
        + daily_kw * np.sin(2 * np.pi * (t - 8) / 24)
        + weekly_kw * (index.day_of_week < 5)
        + trend_kw_per_day * t / 24
        + noise
    )
    outdoor = 15 + 6 * np.sin(2 * np.pi * (t - 9) / 24) + rng.normal(0, 1.0, len(t))
    cooling = cooling_per_it * it + 2.0 * (outdoor - 15) + rng.normal(0, 5.0, len(t))
    inlet = 18 + 8 * cooling / capacity_kw + 0.15 * outdoor + rng.normal(0, 0.3, len(t))
    return pd.DataFrame(
        {"it_load_kw": it, "cooling_load_kw": cooling, "max_inlet_c": inlet, "outdoor_c": outdoor},
        index=index,
    )


def gpu_fleet(n: int, seed: int = 0) -> pd.DataFrame:
    """GPU feature table (failure_risk.FEATURE_COLUMNS) with rare faults, as a real fleet has."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "model": rng.choice(["H100", "H200", "A100"], n, p=[0.6, 0.3, 0.1]),
            "hall": rng.choice([f"hall-{i}" for i in range(8)], n),
            "age_days": rng.uniform(0, 1800, n),
            "ecc_sbe_7d": rng.poisson(0.2, n),
            "ecc_sbe_30d": rng.poisson(0.8, n),
            "ecc_dbe_30d": rng.binomial(1, 0.002, n),
            "remap_pending": rng.binomial(1, 0.003, n),
            "remap_failure": rng.binomial(1, 0.0005, n),
            "retired_pages": rng.poisson(0.05, n),
            "thermal_throttle_frac": rng.beta(0.5, 40, n),
            "power_throttle_frac": rng.beta(1, 5, n),
            "temp_p95_c": rng.normal(72, 5, n),
        },
        index=pd.Index([f"gpu-{i}" for i in range(n)], name="gpu"),
    )
    for code in (48, 63, 64, 74, 79, 92, 94, 95):
        frame[f"xid_{code}_30d"] = rng.poisson(0.002, n)
    return frame
