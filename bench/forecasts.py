"""Benchmark of the forecast domain: cooling fit + forecast for 50 halls, risk for 100,000 GPUs,
and the skill backtest of the real traces (time, and the accuracy it measures).

Each time is printed beside a baseline measured in the same run on the same data (seasonal-naive
forecast of the same halls; one plain numpy pass over the same GPU features; the three naive
baselines alone over the backtest's origins), so the ratios hold across machines. The skill table
gives each trace's MAE ratio to its best naive baseline per horizon and the calibrated interval
coverage. Run: .venv/bin/python bench/forecasts.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physics.thermal import fit_thermal_response  # noqa: E402
from planner.domain.backtest import backtest_thermal  # noqa: E402
from planner.domain.baselines import BASELINES, baseline_forecast  # noqa: E402
from planner.domain.cooling_forecast import TARGETS, HallCooling, forecast_cooling  # noqa: E402
from planner.domain.failure_risk import expected_failures, score_gpus, spares_needed  # noqa: E402
from planner.domain.skill import HORIZONS, hourly, rolling_backtest  # noqa: E402
from tests.unit.forecasts.synthetic import gpu_fleet, hall_history  # noqa: E402
from tests.unit.forecasts.traces import NVML_TRACES, TRACES, nvml_thermal  # noqa: E402

# Origins every hour on the 8-day trace, every 6 h on the 12-week one (as in the tests).
STEP_HOURS = {"alibaba2018": 1, "taylor": 6}

HALLS = 50
GPUS = 100_000
HORIZON_HOURS = 168


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    histories = [hall_history(weeks=8, seed=i, base_kw=600 + 10 * i) for i in range(HALLS)]
    hall = HallCooling("bench", 2500, 4, "N+1")
    as_of = histories[0].index[-1]

    def forecast_all():
        for history in histories:
            forecast_cooling(history, hall, as_of, HORIZON_HOURS)

    def naive_all():
        for history in histories:
            for target in TARGETS:
                baseline_forecast(history[target].to_numpy(), len(history) - 1, HORIZON_HOURS, "last_week")

    fleet = gpu_fleet(GPUS)

    def numpy_pass():
        # The floor for any vectorised scoring: read every feature once and sum them.
        values = fleet.select_dtypes("number").to_numpy(dtype=float)
        return np.nan_to_num(values).sum(axis=1)

    def score_and_fleet():
        risk = score_gpus(fleet, pd.Timestamp("2026-03-01", tz="UTC"))
        expected_failures(risk, 30, by=("model", "hall"))
        expected_failures(risk, 90)
        spares_needed(risk)

    rows = [
        (
            f"cooling fit+forecast, {HALLS} halls x 8 weeks, {HORIZON_HOURS} h",
            forecast_all,
            "seasonal-naive, same halls",
            naive_all,
        ),
        (f"risk score + fleet + spares, {GPUS:,} GPUs", score_and_fleet, "numpy pass over same features", numpy_pass),
    ]
    # The backtests are timed once each; their results are the accuracy tables below.
    traces = {name: load() for name, load in TRACES.items()}
    skill, thermal_skill = {}, {}
    for name, series in traces.items():

        def backtest(series=series, name=name):
            skill[name] = rolling_backtest(series, name, step_hours=STEP_HOURS[name])

        def baselines_only(series=series, name=name):
            y = hourly(series).to_numpy()
            for origin in range(71, len(y) - 1, STEP_HOURS[name]):
                for baseline in BASELINES:
                    baseline_forecast(y, origin, max(HORIZONS), baseline)

        rows.append((f"skill backtest, {name} ({len(hourly(series))} h)", backtest, "baselines alone", baselines_only))

    thermal = {name: nvml_thermal(name) for name in NVML_TRACES}
    for name, trace in thermal.items():
        rows.append(
            (
                f"thermal backtest, {name} ({trace[0][-1]:.0f} s)",
                lambda name=name, trace=trace: thermal_skill.update({name: backtest_thermal(*trace).skill}),
                "one fit on the whole trace",
                lambda trace=trace: fit_thermal_response(*trace),
            )
        )

    print(f"{'task':52} {'seconds':>8} {'baseline s':>10} {'ratio':>7}  baseline")
    for name, fn, base_name, base in rows:
        t, b = best_of(fn, repeat=1 if name.startswith(("skill", "thermal")) else 3), best_of(base)
        print(f"{name:52} {t:8.3f} {b:10.4f} {t / b:7.1f}x  {base_name}")

    print(
        f"\n{'trace':12} {'horizon':>7} {'chosen':18} {'best baseline':13} {'MAE ratio':>9} {'cov80':>6} {'cov95':>6}"
    )
    for name, series in traces.items():
        result = skill[name]
        for horizon, row in result.skill.iterrows():
            print(
                f"{name:12} {horizon:>5} h {result.chosen:18} {row['best_baseline']:13} {row['mae_ratio']:9.2f} "
                f"{row['coverage_80']:6.1%} {row['coverage_95']:6.1%}"
            )
        bounds = ", ".join(f"{k} {v:.2f}" for k, v in day_ahead_bounds(series, result).items())
        print(f"{name:12} day-ahead bounds that read the future: {bounds}")

    print(
        f"\n{'thermal':16} {'horizon':>7} {'MAE C':>6} {'last value':>10} {'ratio':>6} {'held':>6} "
        f"{'cov80':>6} {'cov95':>6}"
    )
    for name, table in thermal_skill.items():
        for horizon, row in table.iterrows():
            print(
                f"{name:16} {horizon:>5} s {row['schedule']:6.2f} {row['last_value']:10.2f} {row['mae_ratio']:6.2f} "
                f"{row['held_ratio']:6.2f} {row['coverage_80']:6.1%} {row['coverage_95']:6.1%}"
            )


def day_ahead_bounds(series: pd.Series, result) -> dict[str, float]:
    """Day-ahead MAE ratios to the best baseline of forecasts that read the future, over the backtest's
    origins: bounds on what a daily shape and level can do, not forecasts. `whole-trace day`: the mean
    of each hour of the day over the whole trace; `+ true level`: shifted by the mean error it will
    make over the 24 h ahead; `chosen + true level`: the chosen forecast shifted likewise."""
    y = hourly(series).to_numpy()
    day = pd.Series(y).groupby(np.arange(len(y)) % 24).mean().to_numpy()
    points = result.points[(result.points["lead"] <= 24) & (result.points["origin"] + 24 <= len(y) - 1)].copy()
    points["day"] = day[(points["origin"] + points["lead"]) % 24]
    by_origin = points.groupby("origin")
    for column in ("day", result.chosen):
        shift = by_origin["actual"].transform("mean") - by_origin[column].transform("mean")
        points[f"{column}_level"] = points[column] + shift
    base = (points[result.skill.loc[24, "best_baseline"]] - points["actual"]).abs().mean()
    columns = {"whole-trace day": "day", "+ true level": "day_level", "chosen + true level": f"{result.chosen}_level"}
    return {name: (points[column] - points["actual"]).abs().mean() / base for name, column in columns.items()}


if __name__ == "__main__":
    main()
