"""Probability that a GPU needs service or replacement in the next 30 days, and what that means for
the fleet: expected failures with intervals and spares per model.

A GPU's log-odds start at the fleet prior and each health signal adds a documented amount (a
log odds ratio), so every score can be explained signal by signal. The amounts are judgement set
from what NVIDIA documents each signal to mean (docs/forecasts.md has the table with reasons);
`calibrate_risk` rescales them by logistic regression once labelled outcomes exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd
import statsmodels.api as sm

from physics.failure_rates import PRIOR_ANNUAL_RATE  # fleet prior per GPU-year, and its source

HORIZON_DAYS = 30

XID_CODES = (48, 63, 64, 74, 79, 92, 94, 95)
FEATURE_COLUMNS = (
    "age_days",
    *(f"xid_{code}_30d" for code in XID_CODES),
    "ecc_sbe_7d",
    "ecc_sbe_30d",
    "ecc_dbe_30d",
    "remap_pending",
    "remap_failure",
    "retired_pages",
    "thermal_throttle_frac",
    "power_throttle_frac",
    "temp_p95_c",
)


@dataclass(frozen=True)
class Signal:
    """One health signal: `weight` log-odds per unit of its transformed value, and why."""

    name: str
    weight: float
    why: str


# Counts enter as log2(1 + count), capped at 15 events, so the first event adds one weight and each
# doubling adds another: repeated errors matter, but not without limit.
SIGNALS = (
    Signal(
        "ecc_dbe",
        1.5,
        "uncorrectable (double-bit) ECC error, reported as XID 48 or by the DBE "
        "counter; NVIDIA: the page is retired, recurrences mean bad HBM",
    ),
    Signal("xid_63", 0.4, "row remap / page retirement recorded: memory is degrading but handled"),
    Signal("xid_64", 2.0, "row remap / page retirement failed: NVIDIA advises servicing the GPU"),
    Signal("xid_74", 0.7, "NVLink error: link, connector or board fault"),
    Signal("xid_79", 2.0, "GPU fell off the bus: often power, board or thermal failure"),
    Signal("xid_92", 0.8, "high single-bit ECC error rate reported by the driver"),
    Signal("xid_94", 0.7, "contained ECC error: an application was killed to contain it"),
    Signal("xid_95", 1.5, "uncontained ECC error: the GPU must be reset, other work may be hit"),
    Signal("ecc_sbe", 0.3, "corrected single-bit ECC errors: benign alone, precede DBEs in HBM"),
    Signal("sbe_rising", 0.7, "single-bit errors in the last 7 days above twice the 30-day rate"),
    Signal("remap_pending", 0.7, "a row remap waits for a reset: an uncorrectable error occurred"),
    Signal("remap_failure", 3.0, "no spare rows left to remap: NVIDIA advises RMA of the GPU"),
    Signal("retired_pages", 0.5, "retired memory pages (log2 count): cumulative memory damage"),
    Signal(
        "thermal_throttle",
        2.0,
        "per unit fraction of time thermally throttled: poor cooling "
        "or thermal interface (Meta: 6 interruptions from TIM/sensor)",
    ),
    Signal(
        "power_throttle",
        0.2,
        "per unit fraction of time at the power cap: mostly normal "
        "under full load (the real H100 trace sits at its cap), a weak stress marker",
    ),
    Signal(
        "hot",
        0.05,
        "per C of 95th-percentile temperature above 80 C: wear roughly doubles every 10-15 C (Arrhenius)",
    ),
    Signal("infant", 0.5, "in its first 90 days: early-life failures (bathtub curve)"),
    Signal("wear_out", 0.25, "per year of age beyond 3 years: wear-out side of the bathtub"),
)
_WHY = {s.name: s.why for s in SIGNALS}


@dataclass(frozen=True)
class RiskCalibration:
    """Logistic recalibration: log_odds = intercept + slope * raw log-odds (identity: 0, 1)."""

    intercept: float = 0.0
    slope: float = 1.0
    n_gpus: int = 0
    n_failures: int = 0


@dataclass(frozen=True)
class SignalContribution:
    signal: str
    log_odds: float
    why: str


@dataclass(frozen=True)
class RiskScores:
    """Scores of a set of GPUs as of a time.

    scores: indexed like the features; `probability_30d` (0..1), `log_odds`, `top_signal`,
    `top_log_odds`, and the `model` and `hall` columns when the features had them.
    contributions: same index, one column per signal plus `prior`; each row sums to `log_odds`.
    """

    as_of: pd.Timestamp
    scores: pd.DataFrame
    contributions: pd.DataFrame

    def drivers(self, gpu, limit: int = 5) -> list[SignalContribution]:
        """The signals that raise this GPU's risk most, largest first."""
        row = self.contributions.loc[gpu].drop("prior")
        row = row[row > 0].sort_values(ascending=False).head(limit)
        return [SignalContribution(name, float(v), _WHY[name]) for name, v in row.items()]


def prior_probability(annual_rate: float = PRIOR_ANNUAL_RATE, days: int = HORIZON_DAYS) -> float:
    """Probability of at least one failure in `days` at a constant `annual_rate` (per GPU-year)."""
    return 1 - math.exp(-annual_rate * days / 365)


def _prior_log_odds(annual_rate: float) -> float:
    p = prior_probability(annual_rate)
    return math.log(p / (1 - p))


def _log2_count(values: np.ndarray) -> np.ndarray:
    return np.log2(1 + np.clip(values, 0, 15))


def _raw_contributions(features: pd.DataFrame) -> dict[str, np.ndarray]:
    n = len(features)

    def col(name):
        if name not in features:
            return np.zeros(n)
        return np.nan_to_num(features[name].to_numpy(dtype=float), nan=0.0)

    sbe_7d, sbe_30d = col("ecc_sbe_7d"), col("ecc_sbe_30d")
    age_days = col("age_days")
    x = {
        # XID 48 is how the driver reports a DBE, so the event and the counter are one signal.
        "ecc_dbe": _log2_count(np.maximum(col("ecc_dbe_30d"), col("xid_48_30d"))),
        **{f"xid_{c}": _log2_count(col(f"xid_{c}_30d")) for c in XID_CODES if c != 48},
        "ecc_sbe": _log2_count(sbe_30d),
        "sbe_rising": ((sbe_7d >= 3) & (sbe_7d / 7 > 2 * sbe_30d / 30)).astype(float),
        "remap_pending": (col("remap_pending") > 0).astype(float),
        "remap_failure": (col("remap_failure") > 0).astype(float),
        "retired_pages": _log2_count(col("retired_pages")),
        "thermal_throttle": np.clip(col("thermal_throttle_frac"), 0, 1),
        "power_throttle": np.clip(col("power_throttle_frac"), 0, 1),
        "hot": np.clip(col("temp_p95_c") - 80, 0, None),
        "infant": ((age_days < 90) & (age_days > 0)).astype(float) if "age_days" in features else np.zeros(n),
        "wear_out": np.clip(age_days / 365 - 3, 0, None),
    }
    return {s.name: s.weight * x[s.name] for s in SIGNALS}


def score_gpus(
    features: pd.DataFrame,
    as_of,
    annual_rate: float = PRIOR_ANNUAL_RATE,
    calibration: RiskCalibration = RiskCalibration(),
) -> RiskScores:
    """Score each GPU (one row of `features`, columns FEATURE_COLUMNS; a missing column or NaN
    means the signal was not seen). Counts are over the 30 days before `as_of`; fractions are of
    time (0..1); temperatures in C; age in days. `annual_rate` is the fleet prior per GPU-year."""
    contrib = _raw_contributions(features)
    prior = _prior_log_odds(annual_rate)
    frame = pd.DataFrame({name: calibration.slope * v for name, v in contrib.items()}, index=features.index)
    frame.insert(0, "prior", calibration.intercept + calibration.slope * prior)
    values = frame.to_numpy()
    log_odds = values.sum(axis=1)
    signal_values = values[:, 1:]
    top = signal_values.argmax(axis=1)
    top_value = signal_values[np.arange(len(frame)), top]
    scores = pd.DataFrame(
        {
            "probability_30d": 1 / (1 + np.exp(-log_odds)),
            "log_odds": log_odds,
            "top_signal": np.where(top_value > 0, np.asarray(frame.columns[1:])[top], ""),
            "top_log_odds": np.maximum(top_value, 0.0),
        },
        index=features.index,
    )
    for group in ("model", "hall"):
        if group in features:
            scores[group] = features[group].to_numpy()
    return RiskScores(pd.Timestamp(as_of), scores, frame)


def calibrate_risk(
    features: pd.DataFrame, failed_30d: pd.Series, annual_rate: float = PRIOR_ANNUAL_RATE
) -> RiskCalibration:
    """Fit intercept and slope of the log-odds (statsmodels Logit) on labelled history: features
    as of past dates and whether each GPU failed within the following 30 days (0/1)."""
    prior = _prior_log_odds(annual_rate)
    raw = prior + sum(_raw_contributions(features).values())
    y = np.asarray(failed_30d, dtype=float)
    if y.sum() < 10:
        raise ValueError("calibration needs at least 10 labelled failures; keep the prior model")
    fit = sm.Logit(y, sm.add_constant(raw)).fit(disp=0)
    return RiskCalibration(float(fit.params[0]), float(fit.params[1]), len(y), int(y.sum()))


def _probability_over(scores: pd.DataFrame, days: int) -> pd.Series:
    # Constant hazard within the horizon turns the 30-day probability into any other window.
    hazard_per_day = -np.log1p(-scores["probability_30d"]) / HORIZON_DAYS
    return -np.expm1(-hazard_per_day * days)


def expected_failures(risk: RiskScores, days: int = HORIZON_DAYS, by=("model",), level: float = 0.95) -> pd.DataFrame:
    """Expected GPU failures in the next `days` per group, with a central `level` interval.

    The count is Poisson-binomial (each GPU its own probability); the interval is its normal
    approximation (mean ± z·sd, sd² = Σp(1-p)), clipped at 0. Columns: gpus, expected, lo, hi."""
    p = _probability_over(risk.scores, days)
    frame = risk.scores[list(by)].assign(p=p, var=p * (1 - p))
    grouped = frame.groupby(list(by)).agg(gpus=("p", "size"), expected=("p", "sum"), var=("var", "sum"))
    z = NormalDist().inv_cdf(0.5 + level / 2)
    sd = np.sqrt(grouped.pop("var"))
    grouped["lo"] = np.clip(grouped["expected"] - z * sd, 0, None)
    grouped["hi"] = grouped["expected"] + z * sd
    return grouped


def poisson_quantile(mean: float, q: float) -> int:
    """Smallest k with P(N <= k) >= q for N ~ Poisson(mean)."""
    if mean <= 0:
        return 0
    k = np.arange(int(mean + 20 * math.sqrt(mean) + 20))
    log_pmf = -mean + k * math.log(mean) - np.concatenate([[0.0], np.cumsum(np.log(k[1:]))])
    return int(np.searchsorted(np.cumsum(np.exp(log_pmf)), q))


def spares_needed(
    risk: RiskScores,
    replenishment_days: int = HORIZON_DAYS,
    max_stockout: float = 0.05,
    by: str = "model",
) -> pd.DataFrame:
    """Spares per group so that P(failures in the replenishment window > spares) < max_stockout.

    Failures in the window are taken as Poisson with the summed expected count; a Poisson-binomial
    has a smaller variance, so this errs towards one spare too many. Columns: gpus,
    expected_failures, spares."""
    p = _probability_over(risk.scores, replenishment_days)
    grouped = p.groupby(risk.scores[by]).agg(["size", "sum"])
    grouped.columns = ["gpus", "expected_failures"]
    # P(N > s) < r  <=>  P(N <= s) > 1 - r; nudge q up so an exact tie does not count as enough.
    grouped["spares"] = [poisson_quantile(m, 1 - max_stockout + 1e-12) for m in grouped["expected_failures"]]
    return grouped
