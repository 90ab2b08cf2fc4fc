"""Hourly forecast of a hall's IT load, cooling load and maximum rack inlet temperature, 1-7 days.

Each quantity is a regression with AR errors, fitted in two steps: OLS (statsmodels) on physical
drivers and Fourier calendar terms, then an AutoReg on the OLS residuals, whose out-of-sample
forecast corrects the next hours and whose forecast variance widens the intervals with the horizon.
The three are chained as the physics runs: IT load -> cooling load (1 kW of IT is 1 kW of heat,
plus fitted losses) -> inlet temperature (rises with cooling utilisation and outdoor temperature),
and each stage adds the variance of the one it is driven by. See docs/forecasts.md for the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tsa.ar_model import AutoReg

from planner.domain import skill

TARGETS = ("it_load_kw", "cooling_load_kw", "max_inlet_c")
INTERVAL_LEVELS = (80, 95)
MIN_HISTORY_HOURS = 72
MAX_HORIZON_HOURS = 7 * 24
# The IT-load model built in: the regression on trend and calendar below (an `it_model` of None).
REGRESSION = "regression"
AR_LAGS = 2
# Gaps this short are interpolated; longer ones are left out of the regression.
MAX_GAP_HOURS = 6
# ASHRAE TC 9.9 thermal guidelines: recommended inlet 18-27 C; allowable upper limit per class.
ASHRAE_RECOMMENDED_MAX_C = 27.0
ASHRAE_ALLOWABLE_MAX_C = {"A1": 32.0, "A2": 35.0, "A3": 40.0, "A4": 45.0}
_HOUR = pd.Timedelta(hours=1)


class InsufficientHistory(ValueError):
    """The history is too short or too sparse to fit a forecast."""


@dataclass(frozen=True)
class HallCooling:
    """What a hall's cooling can do.

    cooling_capacity_kw: installed capacity of all cooling units together (kW of heat).
    cooling_units: number of units sharing the load (for N+1).
    redundancy: "N", "N+1" (the load must fit with one unit down) or "2N" (with half down).
    ashrae_class: allowable class of the IT equipment, "A1".."A4".
    """

    hall_id: str
    cooling_capacity_kw: float
    cooling_units: int = 1
    redundancy: str = "N"
    ashrae_class: str = "A1"

    @property
    def redundant_capacity_kw(self) -> float:
        """Load (kW) the hall can carry while keeping its redundancy."""
        if self.redundancy == "N":
            return self.cooling_capacity_kw
        if self.redundancy == "N+1":
            if self.cooling_units < 2:
                raise ValueError(f"hall {self.hall_id}: N+1 needs at least 2 cooling units")
            return self.cooling_capacity_kw * (self.cooling_units - 1) / self.cooling_units
        if self.redundancy == "2N":
            return self.cooling_capacity_kw / 2
        raise ValueError(f"hall {self.hall_id}: redundancy must be N, N+1 or 2N")


@dataclass(frozen=True)
class CoolingForecast:
    """Forecast for one hall.

    frame: indexed by UTC hour (the hours after as_of); for each target in TARGETS (kW or C) a mean
    column named as the target plus `<target>_lo80`, `_hi80`, `_lo95`, `_hi95`; `outdoor_c` holds
    the outdoor temperature assumed for the horizon (NaN when no outdoor history was given).
    cooling_per_it: fitted kW of cooling load per kW of IT load (1 plus losses such as fans).
    inlet_c_per_utilisation: fitted inlet rise (C) from 0 to 100% of redundant cooling capacity.
    """

    hall_id: str
    as_of: pd.Timestamp
    frame: pd.DataFrame
    cooling_per_it: float
    inlet_c_per_utilisation: float


@dataclass(frozen=True)
class CoolingAlert:
    """A threshold the forecast's upper bound crosses within the horizon.

    kind: "inlet_recommended", "inlet_allowable" (threshold in C), "cooling_redundancy" (load above
    what the hall carries with its redundancy) or "cooling_capacity" (above all units; kW).
    start/end: first and last forecast hour (UTC) above the threshold.
    peak: highest upper bound; margin = threshold - peak (negative: how far over).
    severity: "critical" when the mean forecast crosses too, else "warning".
    """

    hall_id: str
    kind: str
    threshold: float
    unit: str
    start: pd.Timestamp
    end: pd.Timestamp
    peak: float
    peak_at: pd.Timestamp
    margin: float
    severity: str

    @property
    def dedup_key(self) -> str:
        """Same key for the same condition in every run, so a persisting condition is one alert."""
        return f"{self.hall_id}:{self.kind}:{self.threshold:g}"


@dataclass(frozen=True)
class _Fit:
    ols: object
    ar: object | None
    n_obs: int

    def forecast(self, design: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance for the `steps` hours after the history; `design` covers them all."""
        mean = design @ self.ols.params
        var = np.einsum("ij,jk,ik->i", design, self.ols.cov_params(), design)
        if self.ar is None:
            return mean, var + self.ols.scale
        pred = self.ar.get_prediction(start=self.n_obs, end=self.n_obs + steps - 1)
        return mean + pred.predicted_mean, var + pred.var_pred_mean


def _fit(y: np.ndarray, design: np.ndarray) -> _Fit:
    ok = np.isfinite(y) & np.isfinite(design).all(axis=1)
    ols = sm.OLS(y[ok], design[ok]).fit()
    # Hours left out of the OLS get a zero residual so the AR sees an evenly spaced series.
    resid = np.where(ok, y - np.where(ok[:, None], design, 0) @ ols.params, 0.0)
    ar = AutoReg(resid, lags=AR_LAGS, trend="n").fit() if ok.sum() > 10 * AR_LAGS else None
    return _Fit(ols, ar, len(y))


def _calendar(index: pd.DatetimeIndex, weekly: bool) -> np.ndarray:
    """Fourier terms of hour of day (4 pairs) and, with two weeks of history, day of week (3)."""
    hours = (index - pd.Timestamp("1970-01-01", tz="UTC")) / _HOUR
    terms = [(24.0, k) for k in range(1, 5)] + ([(168.0, k) for k in range(1, 4)] if weekly else [])
    cols = []
    for period, k in terms:
        angle = 2 * np.pi * k * np.asarray(hours) / period
        cols += [np.sin(angle), np.cos(angle)]
    return np.column_stack(cols)


def _utc_hour(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).floor("h")


def _prepare(history: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    frame = history.copy()
    idx = pd.DatetimeIndex(frame.index)
    frame.index = (idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")).floor("h")
    frame = frame[frame.index <= as_of]
    frame = frame.groupby(level=0).mean()
    missing = [c for c in TARGETS if c not in frame]
    if missing:
        raise InsufficientHistory(f"history lacks columns {missing}")
    if len(frame) == 0:
        raise InsufficientHistory("no history at or before as_of")
    full = pd.date_range(frame.index[0], frame.index[-1], freq="h")
    frame = frame.reindex(full).interpolate(limit=MAX_GAP_HOURS, limit_area="inside")
    if frame[list(TARGETS)].notna().all(axis=1).sum() < MIN_HISTORY_HOURS:
        raise InsufficientHistory(f"need at least {MIN_HISTORY_HOURS} complete hours of history")
    return frame


def _outdoor_ahead(frame: pd.DataFrame, future: pd.DatetimeIndex, outdoor_forecast: pd.Series | None) -> np.ndarray:
    """Outdoor temperature (C) for the future hours: the given forecast where it covers them, else
    the mean of the same hour of day over the last 7 days of measurements (diurnal persistence)."""
    recent = frame["outdoor_c"].iloc[-168:]
    profile = recent.groupby(recent.index.hour).mean()
    assumed = pd.Series(profile.reindex(future.hour).to_numpy(), index=future)
    if outdoor_forecast is not None:
        given = pd.Series(outdoor_forecast)
        given.index = pd.DatetimeIndex([_utc_hour(t) for t in given.index])
        assumed = given.reindex(future).fillna(assumed)
    return assumed.interpolate(limit_direction="both").to_numpy()


def forecast_cooling(
    history: pd.DataFrame,
    hall: HallCooling,
    as_of,
    horizon_hours: int = MAX_HORIZON_HOURS,
    outdoor_forecast: pd.Series | None = None,
    it_model: str | None = None,
) -> CoolingForecast:
    """Forecast a hall's next `horizon_hours` (24-168) hours from its hourly history.

    history: indexed by UTC hour (naive timestamps are read as UTC), columns `it_load_kw`,
    `cooling_load_kw` (kW), `max_inlet_c` (C) and optionally `outdoor_c` (measured, C). Rows after
    `as_of` are ignored; if the history ends before `as_of` the forecast runs through the gap.
    outdoor_forecast: optional outdoor temperature (C) by UTC hour for the horizon; hours it does
    not cover use the last week's mean for that hour of day.
    it_model: a `skill` candidate or baseline name (what `skill.rolling_backtest` chose for this
    hall's IT load) to forecast the IT load's mean; None or REGRESSION keeps the regression below. The
    regression's variance still widens the intervals, which `backtest.calibrate` can replace.
    """
    if not 1 <= horizon_hours <= MAX_HORIZON_HOURS:
        raise ValueError(f"horizon_hours must be 1..{MAX_HORIZON_HOURS}")
    as_of = _utc_hour(as_of)
    frame = _prepare(history, as_of)
    future = pd.date_range(frame.index[-1] + _HOUR, as_of + horizon_hours * _HOUR, freq="h")
    steps = len(future)
    weekly = len(frame) >= 14 * 24
    has_outdoor = "outdoor_c" in frame and frame["outdoor_c"].notna().sum() >= MIN_HISTORY_HOURS
    outdoor_past = frame["outdoor_c"].to_numpy() if has_outdoor else None
    outdoor_future = _outdoor_ahead(frame, future, outdoor_forecast) if has_outdoor else None
    capacity = hall.redundant_capacity_kw

    def drivers(n, *cols, outdoor=None, calendar=None):
        parts = [np.ones((n, 1)), *(c[:, None] for c in cols)]
        parts += [outdoor[:, None]] if outdoor is not None else []
        return np.hstack(parts + ([calendar] if calendar is not None else []))

    cal_past, cal_future = _calendar(frame.index, weekly), _calendar(future, weekly)
    # IT load: level, linear trend (hours / 1000) and calendar; outdoor air does not drive IT load.
    trend_past = np.arange(len(frame)) / 1000.0
    trend_future = (len(frame) + np.arange(steps)) / 1000.0
    it = frame["it_load_kw"].to_numpy()
    it_fit = _fit(it, drivers(len(frame), trend_past, calendar=cal_past))
    it_mean, it_var = it_fit.forecast(drivers(steps, trend_future, calendar=cal_future), steps)
    if it_model not in (None, REGRESSION):
        it_mean = skill.forecast_mean(it, steps, it_model)

    # Cooling load: proportional to IT load (the coefficient is 1 + losses) plus outdoor-driven
    # gains (envelope, economiser hours) and a small diurnal term for solar gain.
    cool = frame["cooling_load_kw"].to_numpy()
    cool_fit = _fit(cool, drivers(len(frame), it, outdoor=outdoor_past, calendar=cal_past[:, :2]))
    per_it = float(cool_fit.ols.params[1])
    cool_mean, cool_var = cool_fit.forecast(
        drivers(steps, it_mean, outdoor=outdoor_future, calendar=cal_future[:, :2]), steps
    )
    cool_var = cool_var + per_it**2 * it_var

    # Inlet: rises with the share of redundant cooling capacity in use and with outdoor air.
    util_past, util_future = cool / capacity, cool_mean / capacity
    inlet = frame["max_inlet_c"].to_numpy()
    inlet_fit = _fit(inlet, drivers(len(frame), util_past, outdoor=outdoor_past, calendar=cal_past[:, :2]))
    per_util = float(inlet_fit.ols.params[1])
    inlet_mean, inlet_var = inlet_fit.forecast(
        drivers(steps, util_future, outdoor=outdoor_future, calendar=cal_future[:, :2]), steps
    )
    inlet_var = inlet_var + (per_util / capacity) ** 2 * cool_var

    out = {}
    for name, mean, var in (
        ("it_load_kw", it_mean, it_var),
        ("cooling_load_kw", cool_mean, cool_var),
        ("max_inlet_c", inlet_mean, inlet_var),
    ):
        sd = np.sqrt(var)
        out[name] = mean
        for level in INTERVAL_LEVELS:
            z = NormalDist().inv_cdf(0.5 + level / 200)
            out[f"{name}_lo{level}"] = mean - z * sd
            out[f"{name}_hi{level}"] = mean + z * sd
    out["outdoor_c"] = outdoor_future if has_outdoor else np.full(steps, np.nan)
    result = pd.DataFrame(out, index=future)
    result.index.name = "hour"
    return CoolingForecast(hall.hall_id, as_of, result[result.index > as_of], per_it, per_util)


def cooling_alerts(forecast: CoolingForecast, hall: HallCooling, level: int = 95) -> list[CoolingAlert]:
    """Alert candidates where the forecast's upper `level` bound (80 or 95) crosses a threshold:
    ASHRAE recommended inlet (27 C), the hall class's allowable inlet, the cooling load the hall
    carries with its redundancy, and its installed cooling capacity (kW)."""
    frame = forecast.frame
    checks = [
        ("inlet_recommended", "max_inlet_c", ASHRAE_RECOMMENDED_MAX_C, "C"),
        ("inlet_allowable", "max_inlet_c", ASHRAE_ALLOWABLE_MAX_C[hall.ashrae_class], "C"),
        ("cooling_capacity", "cooling_load_kw", hall.cooling_capacity_kw, "kW"),
    ]
    if hall.redundancy != "N":
        checks.append(("cooling_redundancy", "cooling_load_kw", hall.redundant_capacity_kw, "kW"))
    alerts = []
    for kind, column, threshold, unit in checks:
        upper = frame[f"{column}_hi{level}"]
        over = upper[upper > threshold]
        if over.empty:
            continue
        alerts.append(
            CoolingAlert(
                hall_id=hall.hall_id,
                kind=kind,
                threshold=float(threshold),
                unit=unit,
                start=over.index[0],
                end=over.index[-1],
                peak=float(upper.max()),
                peak_at=upper.idxmax(),
                margin=float(threshold - upper.max()),
                severity="critical" if (frame[column] > threshold).any() else "warning",
            )
        )
    return alerts
