"""Rolling-origin backtests of the forecasts against naive baselines, scores shown beside them.

Cooling: refit at each origin on the history before it, forecast the next hours and compare with
what happened, beside a seasonal-naive forecast (same hour last week, or last day with less than
two weeks of history). Failure risk: Brier score and reliability of stored predictions against
their outcomes, beside the base-rate predictor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.domain.baselines import seasonal_lag
from planner.domain.cooling_forecast import (
    TARGETS,
    HallCooling,
    _prepare,
    _utc_hour,
    forecast_cooling,
)

_HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class CoolingBacktest:
    """metrics: indexed by target; columns mae, mape (%), coverage_80, coverage_95 (share of actual
    values inside the intervals), baseline_mae, baseline_mape, mae_ratio (model / baseline MAE),
    beats_baseline (mae_ratio < 1), points. season_hours: the seasonal-naive lag used."""

    hall_id: str
    origins: tuple[pd.Timestamp, ...]
    horizon_hours: int
    season_hours: int
    metrics: pd.DataFrame


@dataclass(frozen=True)
class FailureBacktest:
    """brier: mean squared error of the probabilities; base_rate: observed failure share, whose
    constant prediction scores base_rate_brier; brier_skill = 1 - brier / base_rate_brier.
    reliability: per probability bin (equal counts), mean_predicted, observed_rate, gpus."""

    brier: float
    base_rate: float
    base_rate_brier: float
    brier_skill: float
    beats_baseline: bool
    reliability: pd.DataFrame


def seasonal_naive(series: pd.Series, origin: pd.Timestamp, horizon_hours: int, season_hours: int):
    """Forecast of the hours after `origin`: the value one season earlier, repeated as needed so
    that only values at or before `origin` are used."""
    steps = np.arange(1, horizon_hours + 1)
    lag = seasonal_lag(steps, season_hours)
    index = origin + pd.to_timedelta(steps, unit="h")
    return pd.Series(series.reindex(index - pd.to_timedelta(lag, unit="h")).to_numpy(), index=index)


def backtest_cooling(
    history: pd.DataFrame,
    hall: HallCooling,
    horizon_hours: int = 24,
    origins: Sequence | None = None,
    n_origins: int = 14,
    step_hours: int = 24,
    min_train_hours: int = 14 * 24,
) -> CoolingBacktest:
    """Rolling-origin evaluation of forecast_cooling on `history` (same columns as for it).

    Origins are given (UTC hours), or `n_origins` spaced `step_hours` apart ending `horizon_hours`
    before the last hour, each with at least `min_train_hours` of history before it."""
    frame = _prepare(history, _utc_hour(history.index.max()))
    last = frame.index[-1]
    if origins is None:
        origins = [last - (horizon_hours + i * step_hours) * _HOUR for i in range(n_origins)]
    origins = sorted(_utc_hour(o) for o in origins if _utc_hour(o) - frame.index[0] >= min_train_hours * _HOUR)
    if not origins:
        raise ValueError(f"need more than {min_train_hours + horizon_hours} hours of history")
    season = 168 if origins[0] - frame.index[0] >= 14 * 24 * _HOUR else 24

    rows = []
    for origin in origins:
        fc = forecast_cooling(frame[frame.index <= origin], hall, origin, horizon_hours).frame
        actual = frame.reindex(fc.index)
        for target in TARGETS:
            naive = seasonal_naive(frame[target], origin, horizon_hours, season)
            rows.append(
                pd.DataFrame(
                    {
                        "target": target,
                        "actual": actual[target].to_numpy(),
                        "forecast": fc[target].to_numpy(),
                        "naive": naive.to_numpy(),
                        "in80": (actual[target] >= fc[f"{target}_lo80"]) & (actual[target] <= fc[f"{target}_hi80"]),
                        "in95": (actual[target] >= fc[f"{target}_lo95"]) & (actual[target] <= fc[f"{target}_hi95"]),
                    }
                )
            )
    points = pd.concat(rows).dropna(subset=["actual", "naive"])
    err = (points["forecast"] - points["actual"]).abs()
    naive_err = (points["naive"] - points["actual"]).abs()
    scale = points["actual"].abs().where(points["actual"] != 0)
    by = points["target"]
    metrics = pd.DataFrame(
        {
            "mae": err.groupby(by).mean(),
            "mape": (100 * err / scale).groupby(by).mean(),
            "coverage_80": points["in80"].groupby(by).mean(),
            "coverage_95": points["in95"].groupby(by).mean(),
            "baseline_mae": naive_err.groupby(by).mean(),
            "baseline_mape": (100 * naive_err / scale).groupby(by).mean(),
            "points": by.groupby(by).size(),
        }
    ).reindex(list(TARGETS))
    metrics["mae_ratio"] = metrics["mae"] / metrics["baseline_mae"]
    metrics["beats_baseline"] = metrics["mae_ratio"] < 1
    return CoolingBacktest(hall.hall_id, tuple(origins), horizon_hours, season, metrics)


def backtest_failure_risk(probability: Sequence[float], failed: Sequence[int], n_bins: int = 10) -> FailureBacktest:
    """Score stored 30-day probabilities (0..1) against outcomes (1 = failed within 30 days),
    pooled over all origins. The baseline predicts the observed failure share for every GPU: the
    best any constant can do, so beating it means the signals rank and size risk usefully."""
    p = np.asarray(probability, dtype=float)
    y = np.asarray(failed, dtype=float)
    base_rate = float(y.mean())
    brier = float(np.mean((p - y) ** 2))
    base_brier = float(np.mean((base_rate - y) ** 2))
    bins = pd.qcut(p, n_bins, duplicates="drop")
    reliability = (
        pd.DataFrame({"bin": bins, "p": p, "y": y})
        .groupby("bin", observed=True)
        .agg(mean_predicted=("p", "mean"), observed_rate=("y", "mean"), gpus=("y", "size"))
    )
    skill = 1 - brier / base_brier if base_brier > 0 else float("nan")
    return FailureBacktest(brier, base_rate, base_brier, skill, brier < base_brier, reliability)
