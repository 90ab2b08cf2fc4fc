"""The naive forecasts every model has to beat: same hour yesterday, same hour last week, last value.

They work on an evenly spaced hourly array by position, so that "only data at or before the origin"
is a statement about indices: a forecast from origin `o` reads `values[: o + 1]` and nothing else.
"""

from __future__ import annotations

import numpy as np

# Season of each baseline in hours (None: the last value, held).
BASELINES = {"yesterday": 24, "last_week": 168, "last_value": None}


def seasonal_lag(lead: np.ndarray, season: int) -> np.ndarray:
    """Hours back from each target hour to the same hour of the latest season at or before the
    origin: one season for leads up to a season, two for the next season, and so on."""
    return season * ((lead - 1) // season + 1)


def baseline_forecast(values: np.ndarray, origin: int, steps: int, name: str) -> np.ndarray:
    """Forecast of positions origin+1 .. origin+steps by baseline `name` from values[: origin + 1];
    NaN where the history is too short (last week needs a week before the target)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}")
    season = BASELINES[name]
    if season is None:
        return np.full(steps, float(values[origin]))
    lead = np.arange(1, steps + 1)
    source = origin + lead - seasonal_lag(lead, season)
    out = np.full(steps, np.nan)
    ok = source >= 0
    out[ok] = values[source[ok]]
    return out
