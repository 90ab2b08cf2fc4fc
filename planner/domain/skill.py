"""Forecast skill against the naive baselines, measured by rolling origin, and the model it picks.

`rolling_backtest(series)` refits every candidate model at each origin on the hours up to it and
compares its forecasts of the next 1-72 hours with what happened, beside the three baselines of
baselines.py, per horizon. The candidate with the lowest day-ahead MAE is chosen; if even it does
not beat the best baseline, the baseline is chosen and the result says so. Intervals come from the
chosen forecaster's own backtest errors (conformal.py), and their coverage is measured on the same
backtest, each origin calibrated only on errors seen before it. `forecast_series` then forecasts
from the latest hour with the chosen method and those intervals. See docs/forecasts.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from statsmodels.tsa.ar_model import AutoReg

from planner.domain.baselines import BASELINES, baseline_forecast, seasonal_lag
from planner.domain.conformal import LEVELS, halfwidths, sequential_coverage

HORIZONS = (1, 6, 24, 72)
DAY_AHEAD_HOURS = 24
# A baseline whose forecast is missing for more than this share of a horizon's points (last week
# with under two weeks of data) is left out of that horizon's comparison.
MIN_BASELINE_SHARE = 0.9
MAX_GAP_HOURS = 6
ORIGINS = 150
_HOUR = pd.Timedelta(hours=1)


def _profile(values: np.ndarray, targets: np.ndarray, season: int, k: int) -> np.ndarray:
    """Mean of the same hour in the k seasons before each target that lie at or before
    position targets - seasonal_lag (the latest season known at the origin)."""
    return np.mean([values[targets - season * j] for j in range(1, k + 1)], axis=0)


def profile_ar(values: np.ndarray, steps: int, season: int, k: int, lags: tuple[int, ...], window: int = 28 * 24):
    """Seasonal profile (mean of the same hour over the last k seasons) plus an AutoReg forecast of
    today's departure from it: a busier day than the profile persists for some hours, then fades.
    Averaging k seasons halves the noise a seasonal-naive forecast copies from one season; with
    less history it averages what there is, keeping one season of departures to fit the AR on."""
    n = len(values)
    k = max(1, min(k, n // season - 1))
    past = np.arange(max(season * k, n - window), n)
    departure = values[past] - _profile(values, past, season, k)
    ar = AutoReg(departure, lags=list(lags), trend="c").fit()
    lead = np.arange(1, steps + 1)
    # Leads past one season use the latest seasons known at the origin.
    targets = n - 1 + lead - (seasonal_lag(lead, season) - season)
    return _profile(values, targets, season, k) + ar.predict(start=len(departure), end=len(departure) + steps - 1)


def _ew_means(values: np.ndarray, season: int, decay: float) -> np.ndarray:
    """At each position, the weighted mean of the same hour of every season up to it: that hour's
    value weighs 1, the one a season earlier `decay`, the one before decay², and so on."""
    pad = -len(values) % season
    grid = np.concatenate([np.full(pad, np.nan), values]).reshape(-1, season)
    sums, weights, out = np.zeros(season), np.zeros(season), np.empty_like(grid)
    for i, row in enumerate(grid):
        known = ~np.isnan(row)
        sums = decay * sums + np.where(known, row, 0.0)
        weights = decay * weights + known
        out[i] = np.divide(sums, weights, out=np.full(season, np.nan), where=weights > 0)
    return out.ravel()[pad:]


def ew_profile_ar(
    values: np.ndarray,
    steps: int,
    season: int = 24,
    decays=(0.3, 0.5, 0.7, 0.9),
    recent_hours: int = 48,
    lags: tuple[int, ...] = (1, 2),
    window: int = 28 * 24,
):
    """Profile of every past season, each weighted `decay` times the next (a level that moves from
    day to day is followed without dropping the older days), plus an AutoReg forecast of the
    departures from it. The decay is the one whose profile forecast the last `recent_hours` a season
    ahead best, so it is chosen on the history alone, at every refit."""
    n = len(values)
    means = {decay: _ew_means(values, season, decay) for decay in decays}
    scored = np.arange(max(season, n - recent_hours), n)
    decay = min(decays, key=lambda d: np.abs(values[scored] - means[d][scored - season]).mean())
    # The profile as it stands at the origin: each hour's weighted mean at its latest occurrence.
    profile = means[decay][n - 1 - (n - 1 - np.arange(n + steps)) % season]
    past = np.arange(max(0, n - window), n)
    departure = values[past] - profile[past]
    ar = AutoReg(departure, lags=list(lags), trend="c").fit()
    return profile[n:] + ar.predict(start=len(departure), end=len(departure) + steps - 1)


def _fourier(hours: np.ndarray, period: float, pairs: int) -> np.ndarray:
    angle = 2 * np.pi * np.outer(hours, np.arange(1, pairs + 1)) / period
    return np.hstack([np.sin(angle), np.cos(angle)])


def harmonic_ar(values: np.ndarray, steps: int, window: int = 28 * 24):
    """Level + Fourier terms of the day (6 pairs) and, with two weeks, of the week (4 pairs), fitted by
    least squares, then AutoReg(1, 2) on the residuals (the regression with AR errors that
    cooling_forecast uses, without its drivers)."""
    n = len(values)
    past, future = np.arange(max(0, n - window), n), np.arange(n, n + steps)

    def design(hours):
        parts = [np.ones((len(hours), 1)), _fourier(hours, 24.0, 6)]
        return np.hstack(parts + ([_fourier(hours, 168.0, 4)] if len(past) >= 14 * 24 else []))

    x = design(past)
    # Normal equations: the Fourier columns are near-orthogonal, and lstsq's SVD is ~50x slower here.
    beta = np.linalg.solve(x.T @ x, x.T @ values[past])
    resid = values[past] - x @ beta
    ar = AutoReg(resid, lags=[1, 2], trend="n").fit()
    return design(future) @ beta + ar.predict(start=len(resid), end=len(resid) + steps - 1)


@dataclass(frozen=True)
class Model:
    name: str
    min_history_hours: int
    forecast: object  # (values with no NaN, steps) -> mean forecast


MODELS = (
    Model("weekly_profile_ar", 2 * 168, partial(profile_ar, season=168, k=2, lags=(1, 2, 3, 24))),
    Model("daily_profile_ar", 72, partial(profile_ar, season=24, k=2, lags=(1, 2))),
    Model("ew_profile_ar", 72, ew_profile_ar),
    Model("harmonic_ar", 72, harmonic_ar),
)
# The mean of the other candidates' forecasts: combining rarely loses to its best member.
COMBINED = "combined"


def candidate_forecasts(values: np.ndarray, steps: int, models=MODELS) -> dict[str, np.ndarray]:
    """Each model's forecast of the `steps` positions after `values` (those with enough history),
    plus their mean as COMBINED when there are two or more."""
    filled = pd.Series(values).ffill().bfill().to_numpy()
    out = {m.name: m.forecast(filled, steps) for m in models if len(values) >= m.min_history_hours}
    if len(out) >= 2:
        out[COMBINED] = np.mean(list(out.values()), axis=0)
    return out


def hourly(series: pd.Series) -> pd.Series:
    """Hourly means on an even UTC grid (naive times are read as UTC); gaps up to MAX_GAP_HOURS are
    interpolated, longer ones stay NaN (never scored, filled forward for the models)."""
    if not isinstance(series.index, pd.DatetimeIndex):
        raise ValueError("series must be indexed by time")
    idx = series.index.tz_localize("UTC") if series.index.tz is None else series.index.tz_convert("UTC")
    by_hour = pd.Series(series.to_numpy(dtype=float), index=idx.floor("h")).groupby(level=0).mean()
    full = pd.date_range(by_hour.index[0], by_hour.index[-1], freq="h")
    return by_hour.reindex(full).interpolate(limit=MAX_GAP_HOURS, limit_area="inside")


@dataclass(frozen=True)
class SkillBacktest:
    """points: one row per (origin, lead): integer `origin` (position in `hours`), `lead`, `actual`,
    and one forecast column per candidate and baseline.
    skill: indexed by horizon (hours); MAE over leads 1..horizon of every candidate and baseline
    (NaN when not available), `best_baseline`, `chosen_mae`, `mae_ratio` (chosen / best baseline),
    `coverage_80` and `coverage_95` (share of actual values inside the chosen forecaster's
    calibrated intervals), `points`.
    chosen: the candidate with the lowest day-ahead MAE, or the best baseline when it does not beat it.
    adapted: per level, the level each lead bin's intervals had adapted to (conformal.Coverage).
    """

    name: str
    hours: pd.DatetimeIndex
    points: pd.DataFrame
    skill: pd.DataFrame
    chosen: str
    beats_baseline: bool
    adapted: dict[int, np.ndarray]

    @property
    def errors(self) -> pd.DataFrame:
        """The chosen forecaster's errors (origin, lead, error), what its intervals are built from."""
        return _errors(self.points, self.chosen)


def _errors(points: pd.DataFrame, forecaster: str) -> pd.DataFrame:
    frame = points[["origin", "lead"]].copy()
    frame["error"] = points[forecaster] - points["actual"]
    return frame[frame["error"].notna()]


def within(points: pd.DataFrame, horizon: int, last: int) -> pd.Series:
    """The backtest rows a horizon scores: leads up to it, from origins whose whole horizon is known
    (origin + horizon at or before position `last`), so every horizon compares the same origins' leads."""
    return (points["lead"] <= horizon) & (points["origin"] + horizon <= last)


def rolling_backtest(
    series: pd.Series,
    name: str = "",
    horizons=HORIZONS,
    step_hours: int | None = None,
    min_train_hours: int = 72,
    models=MODELS,
) -> SkillBacktest:
    """Backtest on `series` (any time step; scored as hourly means). Origins every `step_hours`
    (default: as often as gives about ORIGINS origins, 1-6 h; intervals need errors to calibrate on)
    from the first hour with `min_train_hours` of history (or the longest model requirement that
    still leaves a day of origins for the longest horizon) to the last hour with a next hour to score."""
    values = hourly(series)
    y = values.to_numpy()
    n, steps = len(y), max(horizons)
    usable = [m for m in models if m.min_history_hours <= n - steps - 24]
    if not usable:
        raise ValueError(f"{name or 'series'}: {n} hours is too short; need {min_train_hours + steps + 24}")
    start = max([min_train_hours] + [m.min_history_hours for m in usable])
    rows = []
    if step_hours is None:
        step_hours = int(np.clip((n - start) // ORIGINS, 1, 6))
    for origin in range(start - 1, n - 1, step_hours):
        lead = np.arange(1, min(steps, n - 1 - origin) + 1)
        frame = {"origin": origin, "lead": lead, "actual": y[origin + lead]}
        for model, fc in candidate_forecasts(y[: origin + 1], len(lead), usable).items():
            frame[model] = fc
        for baseline in BASELINES:
            frame[baseline] = baseline_forecast(y, origin, len(lead), baseline)
        rows.append(pd.DataFrame(frame))
    points = pd.concat(rows, ignore_index=True)
    candidates = [c for c in points.columns if c not in ("origin", "lead", "actual", *BASELINES)]

    scored = points[points["actual"].notna()]
    skill = []
    for horizon in horizons:
        window = scored[within(scored, horizon, n - 1)]
        ok = [b for b in BASELINES if window[b].notna().mean() >= MIN_BASELINE_SHARE]
        window = window.dropna(subset=ok)
        mae = {c: (window[c] - window["actual"]).abs().mean() for c in candidates + list(BASELINES)}
        for b in set(BASELINES) - set(ok):
            mae[b] = np.nan
        best = min(ok, key=mae.get) if ok and len(window) else None
        skill.append({"horizon": horizon, **mae, "best_baseline": best, "points": len(window)})
    skill = pd.DataFrame(skill).set_index("horizon")

    deciding = DAY_AHEAD_HOURS if DAY_AHEAD_HOURS in skill.index else skill.index[-1]
    row = skill.loc[deciding]
    chosen = min(candidates, key=lambda c: row[c])
    beats = bool(row[chosen] < row[row["best_baseline"]])
    if not beats:
        chosen = row["best_baseline"]
    skill["chosen_mae"] = skill[chosen]
    skill["mae_ratio"] = skill["chosen_mae"] / [skill.at[h, b] for h, b in skill["best_baseline"].items()]

    errors = _errors(points, chosen)
    coverage = sequential_coverage(errors)
    inside = coverage.rows.join(errors)
    for horizon in horizons:
        window = inside[within(inside, horizon, n - 1)]
        for level in LEVELS:
            skill.loc[horizon, f"coverage_{level}"] = window[f"in{level}"].astype(float).mean()
    return SkillBacktest(name, values.index, points, skill, chosen, beats, coverage.adapted)


def forecast_mean(values: np.ndarray, steps: int, method: str) -> np.ndarray:
    """Mean forecast of the `steps` positions after `values` by a candidate or baseline name
    (hours missing from `values` are filled forward first)."""
    if method in BASELINES:
        filled = pd.Series(values).ffill().bfill().to_numpy()
        return baseline_forecast(filled, len(values) - 1, steps, method)
    forecasts = candidate_forecasts(values, steps)
    if method not in forecasts:
        raise ValueError(f"{method!r} is not a candidate with {len(values)} hours; have {sorted(forecasts)}")
    return forecasts[method]


def forecast_series(series: pd.Series, steps: int, backtest: SkillBacktest) -> pd.DataFrame:
    """Forecast the `steps` hours after the series' last hour with the backtest's chosen method;
    columns `mean`, `lo80`, `hi80`, `lo95`, `hi95` (intervals from its latest backtest errors at
    the levels they had adapted to)."""
    values = hourly(series)
    mean = forecast_mean(values.to_numpy(), steps, backtest.chosen)
    widths = halfwidths(backtest.errors, np.arange(1, steps + 1), adapted=backtest.adapted)
    out = {"mean": mean}
    for level in LEVELS:
        out[f"lo{level}"] = mean - widths[level].to_numpy()
        out[f"hi{level}"] = mean + widths[level].to_numpy()
    index = pd.date_range(values.index[-1] + _HOUR, periods=steps, freq="h", name="hour")
    return pd.DataFrame(out, index=index)
