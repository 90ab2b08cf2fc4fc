"""Prediction intervals calibrated on a rolling backtest's errors (split conformal), past-only.

The interval at lead h is the forecast ± the conformal quantile of the absolute errors that the same
forecaster made at similar leads (a bin of LEAD_BINS) in the backtest. Only errors already observed
at the forecast's origin (origin + lead <= the new origin) are used, so the coverage measured over
the backtest is what a user would have seen live. With n exchangeable errors the
ceil((n + 1) * level)-th smallest covers a new error with probability >= level; n too small for that
gives no interval (NaN) instead of a made-up one. Errors older than CALIBRATION_HOURS before the
origin are dropped: a load's errors drift (a holiday fortnight, a new tenant).

On top, each lead bin's level adapts to the misses seen so far (adaptive conformal inference,
Gibbs & Candès 2021): after each origin the miscoverage aimed at moves by ACI_GAMMA × (target
miscoverage − share of the newly observed errors that fell outside). A run of misses widens the next
intervals; the long-run coverage tends to the nominal level even when errors are not exchangeable.
On the month of the Taylor trace with the August holiday dip this took 72 h coverage from 58/78%
to 73/87% (docs/forecasts.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Leads (hours) whose errors are pooled: errors grow with the lead, so nearby leads only.
LEAD_BINS = ((1, 1), (2, 3), (4, 6), (7, 12), (13, 24), (25, 48), (49, 72), (73, 120), (121, 168))
LEVELS = (80, 95)
CALIBRATION_HOURS = 14 * 24
ACI_GAMMA = 0.03
# The adapted miscoverage stays within these (a level of 40% to 99.9%).
_ALPHA_RANGE = (0.001, 0.6)


def lead_bin(lead) -> np.ndarray:
    """Index into LEAD_BINS of each lead (1..168)."""
    lead = np.asarray(lead)
    if lead.min() < 1 or lead.max() > LEAD_BINS[-1][1]:
        raise ValueError(f"leads must be 1..{LEAD_BINS[-1][1]} hours")
    return np.searchsorted([hi for _, hi in LEAD_BINS], lead)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) * level / 100)-th smallest score; NaN when n is too small for the level."""
    n = len(scores)
    k = math.ceil((n + 1) * level / 100)
    if k > n:
        return float("nan")
    return float(np.partition(scores, k - 1)[k - 1])


def adapted_quantile(scores: np.ndarray, aim: float, level: float) -> float:
    """The conformal quantile at the adapted level `aim`. Where the aim needs more errors than there
    are but the nominal `level` does not, the largest error: the widest interval the errors support.
    Giving none there would stop the adaptation (an interval that does not exist cannot miss), and
    the bin would stay without intervals."""
    width = conformal_quantile(scores, aim)
    if np.isnan(width) and not np.isnan(conformal_quantile(scores, level)):
        return float(scores.max())
    return width


@dataclass(frozen=True)
class Coverage:
    """rows: for every backtest row, `in<level>` (whether its error fell inside the interval
    calibrated on the rows observed before its origin; NA while too few were seen) and
    `width<level>` (half-width), same index as the errors.
    adapted: per level, the level each lead bin had reached at the end (what live intervals use);
    NaN for bins with no errors."""

    rows: pd.DataFrame
    adapted: dict[int, np.ndarray]


def halfwidths(
    errors: pd.DataFrame, leads: np.ndarray, at: int | None = None, levels=LEVELS, adapted=None
) -> pd.DataFrame:
    """Half-width of each level's interval for `leads` from origin position `at` (default: the
    latest hour an error was observed).

    errors: rows of a rolling backtest with integer `origin` (position), `lead` (hours) and `error`
    (forecast - actual); only rows observed by `at` (origin + lead <= at) and within
    CALIBRATION_HOURS before it are used. adapted: Coverage.adapted, the level to use per bin."""
    observed = errors["origin"] + errors["lead"]
    at = int(observed.max()) if at is None else at
    seen = errors[(observed <= at) & (observed > at - CALIBRATION_HOURS)]
    scores = seen["error"].abs().to_numpy()
    seen_bin = lead_bin(seen["lead"]) if len(seen) else np.array([], dtype=int)
    wanted = lead_bin(leads)
    out = {}
    for level in levels:
        aim = {b: level for b in np.unique(wanted)}
        if adapted is not None:
            aim = {b: adapted[level][b] if np.isfinite(adapted[level][b]) else level for b in aim}
        by_bin = {b: adapted_quantile(scores[seen_bin == b], aim[b], level) for b in aim}
        out[level] = [by_bin[b] for b in wanted]
    return pd.DataFrame(out, index=pd.Index(leads, name="lead"))


def sequential_coverage(errors: pd.DataFrame, levels=LEVELS, gamma: float = ACI_GAMMA) -> Coverage:
    """Replay the backtest origin by origin: calibrate each origin's intervals on the errors observed
    before it, adapt each bin's level to the misses observed since the previous origin, record
    whether each error fell inside."""
    origin = errors["origin"].to_numpy()
    observed = origin + errors["lead"].to_numpy()
    scores = errors["error"].abs().to_numpy()
    bins = lead_bin(errors["lead"])
    out, adapted = pd.DataFrame(index=errors.index), {}
    for level in levels:
        width = np.full(len(errors), np.nan)
        final = np.full(len(LEAD_BINS), np.nan)
        for b in np.unique(bins):
            rows = np.flatnonzero(bins == b)
            by_seen = rows[np.argsort(observed[rows], kind="stable")]
            seen_at = observed[by_seen]
            alpha, done = 1 - level / 100, 0
            row_origin = origin[rows]
            for o in np.unique(row_origin):
                upto = np.searchsorted(seen_at, o, side="right")
                new = by_seen[done:upto]
                new = new[np.isfinite(width[new])]
                if len(new):
                    alpha += gamma * ((1 - level / 100) - np.mean(scores[new] > width[new]))
                    alpha = float(np.clip(alpha, *_ALPHA_RANGE))
                done = upto
                first = np.searchsorted(seen_at, o - CALIBRATION_HOURS, side="right")
                width[rows[row_origin == o]] = adapted_quantile(scores[by_seen[first:upto]], 100 * (1 - alpha), level)
            final[b] = 100 * (1 - alpha)
        out[f"width{level}"] = width
        out[f"in{level}"] = pd.Series(scores <= width, index=errors.index, dtype="boolean").mask(np.isnan(width))
        adapted[level] = final
    return Coverage(out, adapted)
