"""Rolling-origin backtests of the forecasts against naive baselines, scores shown beside them.

Cooling: refit at each origin on the history before it, forecast the next hours and compare with
what happened, beside the best of three naive forecasts (same hour yesterday, same hour last week,
last value), per horizon; intervals are also scored after conformal calibration on the errors seen
before each origin (`calibrate` applies it to a live forecast). Failure risk: Brier score and
reliability of stored predictions against their outcomes, beside the base-rate predictor. GPU
temperature (the thermal path): the thermal response refitted at each origin on the trace before it,
seconds ahead, beside the last value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from physics.thermal import fit_thermal_response, simulate_temperature
from planner.domain.baselines import BASELINES, baseline_forecast
from planner.domain.conformal import LEVELS, halfwidths, sequential_coverage
from planner.domain.cooling_forecast import (
    REGRESSION,
    TARGETS,
    CoolingForecast,
    HallCooling,
    _prepare,
    _utc_hour,
    forecast_cooling,
)
from planner.domain.skill import (
    DAY_AHEAD_HOURS,
    HORIZONS,
    MIN_BASELINE_SHARE,
    SkillBacktest,
    rolling_backtest,
    within,
)

_HOUR = pd.Timedelta(hours=1)
# The nightly refit's backtest: origins every 6 h over the last two weeks, so every hour of the day is an
# origin and the interval calibration has 56 errors per lead (14 daily origins at one hour were too few).
REFIT_ORIGINS = 56
REFIT_STEP_HOURS = 6
# A model beats its baseline below this MAE ratio: one equal to it at the two decimals shown does not.
BEATS_BELOW = 0.995


@dataclass(frozen=True)
class CoolingBacktest:
    """metrics: indexed by target, scored over leads 1..horizon_hours; columns mae, mape (%),
    coverage_80, coverage_95 (share of actual values inside the model's own intervals),
    calibrated_80, calibrated_95 (inside the conformal intervals calibrated on errors seen before
    each origin; NaN until enough were seen), baseline (the best of yesterday, last week and last
    value), baseline_mae, baseline_mape, mae_ratio (model / best baseline MAE), beats_baseline
    (mae_ratio < BEATS_BELOW), points.
    skill: the same per (target, horizon) for the horizons of skill.HORIZONS up to horizon_hours,
    with the MAE of every baseline as its own column.
    errors: target, origin (hours since the history's first hour), lead, error (forecast - actual),
    what `calibrate` builds intervals from.
    season_hours: the season of the IT load's best baseline (24, 168; None for last value).
    adapted: per target, the levels its intervals had adapted to (conformal.Coverage.adapted)."""

    hall_id: str
    origins: tuple[pd.Timestamp, ...]
    horizon_hours: int
    season_hours: int | None
    metrics: pd.DataFrame
    skill: pd.DataFrame
    errors: pd.DataFrame
    adapted: dict[str, dict[int, np.ndarray]]

    def day_ahead(self, target: str) -> pd.Series:
        """The target's scores over leads 1..24 (or the whole horizon, when shorter): what a model is chosen by."""
        return self.skill.loc[(target, min(DAY_AHEAD_HOURS, self.horizon_hours))]


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


def backtest_cooling(
    history: pd.DataFrame,
    hall: HallCooling,
    horizon_hours: int = 24,
    origins: Sequence | None = None,
    n_origins: int = 14,
    step_hours: int = 24,
    min_train_hours: int = 14 * 24,
    it_model: str | None = None,
) -> CoolingBacktest:
    """Rolling-origin evaluation of forecast_cooling on `history` (same columns as for it), each
    origin refitted on the hours up to it, against the three baselines of baselines.py.

    Origins are given (UTC hours), or `n_origins` spaced `step_hours` apart ending `horizon_hours`
    before the last hour, each with at least `min_train_hours` of history before it."""
    frame = _prepare(history, _utc_hour(history.index.max()))
    last = frame.index[-1]
    if origins is None:
        origins = [last - (horizon_hours + i * step_hours) * _HOUR for i in range(n_origins)]
    origins = sorted(_utc_hour(o) for o in origins if _utc_hour(o) - frame.index[0] >= min_train_hours * _HOUR)
    if not origins:
        raise ValueError(f"need more than {min_train_hours + horizon_hours} hours of history")

    rows = []
    for origin in origins:
        fc = forecast_cooling(frame[frame.index <= origin], hall, origin, horizon_hours, it_model=it_model).frame
        position = int((origin - frame.index[0]) / _HOUR)
        actual = frame.reindex(fc.index)
        for target in TARGETS:
            rows.append(
                pd.DataFrame(
                    {
                        "target": target,
                        "origin": position,
                        "lead": np.arange(1, horizon_hours + 1),
                        "actual": actual[target].to_numpy(),
                        "forecast": fc[target].to_numpy(),
                        **{
                            b: baseline_forecast(frame[target].to_numpy(), position, horizon_hours, b)
                            for b in BASELINES
                        },
                        "in80": ((actual[target] >= fc[f"{target}_lo80"]) & (actual[target] <= fc[f"{target}_hi80"])),
                        "in95": ((actual[target] >= fc[f"{target}_lo95"]) & (actual[target] <= fc[f"{target}_hi95"])),
                    }
                )
            )
    points = pd.concat(rows, ignore_index=True).dropna(subset=["actual"])
    points["error"] = points["forecast"] - points["actual"]
    coverage = {t: sequential_coverage(points[points["target"] == t]) for t in TARGETS}
    calibrated = pd.concat(c.rows for c in coverage.values())
    points = points.join(calibrated[["in80", "in95"]].add_prefix("calibrated_"))

    horizons = sorted({h for h in HORIZONS if h < horizon_hours} | {horizon_hours})
    skill = pd.DataFrame([_score(points, target, horizon) for target in TARGETS for horizon in horizons]).set_index(
        ["target", "horizon"]
    )
    metrics = skill.xs(horizon_hours, level="horizon").drop(columns=list(BASELINES))
    it_best = metrics.at["it_load_kw", "baseline"]
    errors = points[["target", "origin", "lead", "error"]].reset_index(drop=True)
    season = BASELINES.get(it_best) if isinstance(it_best, str) else None
    adapted = {t: c.adapted for t, c in coverage.items()}
    return CoolingBacktest(hall.hall_id, tuple(origins), horizon_hours, season, metrics, skill, errors, adapted)


def _score(points: pd.DataFrame, target: str, horizon: int) -> dict:
    """Scores of one target over leads 1..horizon, on points where every usable baseline exists."""
    window = points[(points["target"] == target) & (points["lead"] <= horizon)]
    usable = [b for b in BASELINES if len(window) and window[b].notna().mean() >= MIN_BASELINE_SHARE]
    window = window.dropna(subset=usable)
    err = (window["forecast"] - window["actual"]).abs()
    scale = window["actual"].abs().where(window["actual"] != 0)
    baseline_mae = {b: (window[b] - window["actual"]).abs().mean() if b in usable else np.nan for b in BASELINES}
    best = min(usable, key=baseline_mae.get) if usable and len(window) else None
    best_err = (window[best] - window["actual"]).abs() if best else pd.Series(np.nan, index=window.index)
    mae = err.mean()
    ratio = mae / baseline_mae[best] if best else np.nan
    return {
        "target": target,
        "horizon": horizon,
        "mae": mae,
        "mape": (100 * err / scale).mean(),
        "coverage_80": window["in80"].mean(),
        "coverage_95": window["in95"].mean(),
        "calibrated_80": window["calibrated_in80"].astype(float).mean(),
        "calibrated_95": window["calibrated_in95"].astype(float).mean(),
        **baseline_mae,
        "baseline": best,
        "baseline_mae": baseline_mae[best] if best else np.nan,
        "baseline_mape": (100 * best_err / scale).mean(),
        "mae_ratio": ratio,
        "beats_baseline": bool(ratio < BEATS_BELOW),
        "points": len(window),
    }


def interval_halfwidths(backtest: CoolingBacktest, hours: int) -> dict[str, dict[int, list]]:
    """Per target and level, the calibrated half-width for leads 1..hours (None where the backtest
    has too few errors at that lead): what `calibrate` applies, storable for the hourly updates."""
    leads = np.arange(1, hours + 1)
    out = {}
    for target in TARGETS:
        errors = backtest.errors[backtest.errors["target"] == target]
        widths = halfwidths(errors, leads, adapted=backtest.adapted[target])
        out[target] = {level: [w if np.isfinite(w) else None for w in widths[level]] for level in LEVELS}
    return out


def calibrate(forecast: CoolingForecast, widths) -> CoolingForecast:
    """The forecast with its 80/95% intervals replaced, per target and lead, by calibrated
    half-widths (a CoolingBacktest, or interval_halfwidths' output as stored). Leads without one
    (past the backtest's horizon, or too few errors) scale the forecast's own half-width by the
    calibrated/own ratio of the nearest calibrated lead: the model's growth with the lead, at the
    level the backtest measured."""
    frame = forecast.frame.copy()
    if isinstance(widths, CoolingBacktest):
        widths = interval_halfwidths(widths, len(frame))
    for target, by_level in widths.items():
        mean = frame[target].to_numpy()
        for level, values in by_level.items():
            given = np.full(len(frame), np.nan)
            known = np.array([np.nan if w is None else w for w in values[: len(frame)]], dtype=float)
            given[: len(known)] = known
            if not np.isfinite(given).any():
                continue
            own = frame[f"{target}_hi{level}"].to_numpy() - mean
            ratio = pd.Series(given / own).ffill().bfill().to_numpy()
            width = np.where(np.isfinite(given), given, ratio * own)
            frame[f"{target}_lo{level}"] = mean - width
            frame[f"{target}_hi{level}"] = mean + width
    return replace(forecast, frame=frame)


@dataclass(frozen=True)
class CoolingRefit:
    """A nightly refit of one hall: the skill backtest of its IT load, the IT model used (`it_model`:
    the skill backtest's choice or the cooling model's own REGRESSION, whichever the cooling backtest
    scores better on IT load), the forecast with calibrated intervals, and the cooling backtest with
    that IT model."""

    forecast: CoolingForecast
    backtest: CoolingBacktest
    it_skill: SkillBacktest
    it_model: str

    def scores(self) -> dict:
        """What a page shows: the IT model chosen and its skill per horizon, then per target and
        horizon MAE, each baseline's MAE, the best one, the ratio and both coverages; and the
        calibrated half-widths an hourly update applies with `calibrate` (plain JSON types)."""
        skill = self.backtest.skill.reset_index()
        by_target = {
            target: rows.drop(columns="target").set_index("horizon").to_dict(orient="index")
            for target, rows in skill.groupby("target", sort=False)
        }
        return jsonable(
            {
                "it_model": self.it_model,
                "it_beats_baseline": self.backtest.day_ahead("it_load_kw")["beats_baseline"],
                "it_skill": self.it_skill.skill.to_dict(orient="index"),
                "origins": len(self.backtest.origins),
                "horizon_hours": self.backtest.horizon_hours,
                "targets": self.backtest.metrics.to_dict(orient="index"),
                "horizons": by_target,
                "halfwidths": interval_halfwidths(self.backtest, len(self.forecast.frame)),
            }
        )


def jsonable(value):
    """numpy and pandas scalars to Python ones, NaN to None, keys to str: storable as JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if value is pd.NA:
        return None
    return value


def refit_cooling(
    history: pd.DataFrame,
    hall: HallCooling,
    as_of,
    horizon_hours: int = 168,
    backtest_horizon_hours: int = 72,
    outdoor_forecast: pd.Series | None = None,
) -> CoolingRefit:
    """Choose the hall's IT-load model (history before `as_of` only): the skill backtest's pick and the
    cooling model's own regression each run through the cooling backtest (scored 1..`backtest_horizon_hours`
    ahead), and the one with the lower day-ahead IT MAE is kept, unless it does not beat the best naive
    baseline there: then that baseline is the model. Forecast with it, intervals calibrated on its
    backtest's errors (every lead the backtest reaches). Raises ValueError when the history
    is too short to backtest."""
    as_of = _utc_hour(as_of)
    index = pd.DatetimeIndex(history.index)
    past = history[(index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")) <= as_of]
    it_skill = rolling_backtest(past["it_load_kw"], hall.hall_id)

    def run(it_model):
        return backtest_cooling(
            past, hall, backtest_horizon_hours, n_origins=REFIT_ORIGINS, step_hours=REFIT_STEP_HOURS, it_model=it_model
        )

    tried = {name: run(name) for name in dict.fromkeys((it_skill.chosen, REGRESSION))}
    it_model = min(tried, key=lambda name: tried[name].day_ahead("it_load_kw")["mae"])
    day_ahead = tried[it_model].day_ahead("it_load_kw")
    if not day_ahead["beats_baseline"] and isinstance(day_ahead["baseline"], str):
        # No model beats the best naive forecast: forecast with that one (intervals calibrated alike).
        it_model = day_ahead["baseline"]
        if it_model not in tried:
            tried[it_model] = run(it_model)
    bt = tried[it_model]
    raw = forecast_cooling(past, hall, as_of, horizon_hours, outdoor_forecast=outdoor_forecast, it_model=it_model)
    return CoolingRefit(calibrate(raw, bt), bt, it_skill, it_model)


THERMAL_HORIZONS_S = (1, 5, 15, 30, 60)


@dataclass(frozen=True)
class ThermalBacktest:
    """points: one row per (origin, lead) on the trace's `step_s` grid: integer `origin` (position),
    `lead` (steps), `actual`, and the forecasts `schedule` (the power that followed known, as for a
    scheduled job), `held` (power held at its value at the origin) and `last_value` (temperature held).
    skill: indexed by horizon (s); MAE over leads up to it of each, `mae_ratio` and `held_ratio`
    (schedule and held against last value), `coverage_80`, `coverage_95` (the schedule forecast's
    intervals, calibrated on its errors observed before each origin), `points`."""

    step_s: float
    points: pd.DataFrame
    skill: pd.DataFrame


def backtest_thermal(
    time_s,
    power_w,
    temp_c,
    horizons_s: Sequence[int] = THERMAL_HORIZONS_S,
    step_s: float = 1.0,
    min_step_w: float = 200.0,
    settle_s: float = 30.0,
) -> ThermalBacktest:
    """Rolling-origin backtest of the GPU thermal response on a trace of time (s), board power (W)
    and GPU temperature (C), resampled to means over `step_s`. At each origin the response is
    refitted on the trace up to the origin only and simulated from the temperature there for the
    next max(horizons_s) seconds. Origins start `settle_s` after the power seen so far first spans
    `min_step_w`: before a load step and some of its response, a fit cannot tell the rise per watt
    or the time constant (on flat power it extrapolates wildly). The trace should start near steady
    state (the fit assumes so); gaps are interpolated."""
    frame = pd.DataFrame({"power": power_w, "temp": temp_c}, dtype=float)
    position = np.floor((np.asarray(time_s, dtype=float) - float(np.min(time_s))) / step_s).astype(int)
    grid = frame.groupby(position).mean().reindex(range(position.max() + 1)).interpolate()
    power, temp = grid["power"].to_numpy(), grid["temp"].to_numpy()
    times = grid.index.to_numpy() * step_s
    n, steps = len(grid), int(round(max(horizons_s) / step_s))
    stepped = np.flatnonzero(np.maximum.accumulate(power) - np.minimum.accumulate(power) >= min_step_w)
    if not len(stepped):
        raise ValueError(f"the trace's power never moves by min_step_w={min_step_w:.0f} W: no step to fit on")
    first = stepped[0] + int(round(settle_s / step_s))
    if first >= n - 1:
        raise ValueError(f"the trace ends within settle_s={settle_s:.0f} s of its first {min_step_w:.0f} W step")
    rows = []
    for origin in range(first, n - 1):
        fit = fit_thermal_response(times[: origin + 1], power[: origin + 1], temp[: origin + 1])
        lead = np.arange(1, min(steps, n - 1 - origin) + 1)
        ahead = {
            "schedule": power[origin : origin + len(lead) + 1],
            "held": np.full(len(lead) + 1, power[origin]),
        }
        forecasts = {k: simulate_temperature(fit, p, step_s, initial_c=temp[origin])[1:] for k, p in ahead.items()}
        rows.append(
            pd.DataFrame(
                {"origin": origin, "lead": lead, "actual": temp[origin + lead], **forecasts, "last_value": temp[origin]}
            )
        )
    points = pd.concat(rows, ignore_index=True)
    errors = points[["origin", "lead"]].assign(error=points["schedule"] - points["actual"])
    inside = sequential_coverage(errors).rows
    skill = []
    for horizon in horizons_s:
        window = within(points, int(round(horizon / step_s)), n - 1)
        mae = {
            c: (points.loc[window, c] - points.loc[window, "actual"]).abs().mean()
            for c in ("schedule", "held", "last_value")
        }
        skill.append(
            {
                "horizon": horizon,
                **mae,
                "mae_ratio": mae["schedule"] / mae["last_value"],
                "held_ratio": mae["held"] / mae["last_value"],
                **{f"coverage_{level}": inside.loc[window, f"in{level}"].astype(float).mean() for level in LEVELS},
                "points": int(window.sum()),
            }
        )
    return ThermalBacktest(step_s, points, pd.DataFrame(skill).set_index("horizon"))


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
