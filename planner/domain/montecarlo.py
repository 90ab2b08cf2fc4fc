"""Monte Carlo over a scenario's uncertain inputs: P10/P50/P90 of each option's cost and of
the breakeven month, and the tornado ordering of inputs. All draws are evaluated at once as
numpy arrays of shape (draws, months) through the same functions as the deterministic path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from planner.domain.costs import (
    OPTIONS,
    RENT_OPTIONS,
    TOKEN_API,
    Scenario,
    TornadoBar,
    scenario_arrays,
    scenario_token_arrays,
)
from reference.catalog import InvalidInputError, TokenPrice, check_positive


@dataclass(frozen=True)
class Range:
    low: float
    likely: float
    high: float
    shape: str = "pert"  # or "triangular"

    def __post_init__(self) -> None:
        if not self.low <= self.likely <= self.high:
            raise InvalidInputError(f"range needs low <= likely <= high, got {self.low}, {self.likely}, {self.high}")
        if self.shape not in ("pert", "triangular"):
            raise InvalidInputError(f"shape must be 'pert' or 'triangular', got {self.shape!r}")

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        width = self.high - self.low
        if width == 0:
            return np.full(n, float(self.likely))
        if self.shape == "triangular":
            return rng.triangular(self.low, self.likely, self.high, n)
        # PERT: a beta on [low, high] whose mode is `likely`, lighter-tailed than triangular.
        a = 1 + 4 * (self.likely - self.low) / width
        b = 1 + 4 * (self.high - self.likely) / width
        return self.low + rng.beta(a, b, n) * width


@dataclass(frozen=True)
class Uncertainty:
    """Ranges for the uncertain inputs; None keeps the scenario's value."""

    growth: Range | None = None  # monthly demand growth, applied to every workload
    utilization_ceiling: Range | None = None
    electricity_usd_per_kwh: Range | None = None
    server_capex_usd_per_gpu: Range | None = None  # GPU server price per GPU
    cloud_price_factor: Range | None = None  # multiplies every rental price; likely 1
    annual_failure_rate: Range | None = None
    token_price_factor: Range | None = None  # multiplies every per-token API price; likely 1

    def given(self) -> dict[str, Range]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass(frozen=True)
class Percentiles:
    p10: float
    p50: float
    p90: float


@dataclass(frozen=True)
class MonteCarloResult:
    draws: int
    total_usd: dict[str, Percentiles]  # economic cost over the horizon, by option (and per_token_api when priced)
    npv_usd: dict[str, Percentiles]
    breakeven_month: dict[str, tuple[int | None, int | None, int | None]]  # P10/P50/P90 by rent
    # option; None = owning does not break even within the horizon at that percentile
    breakeven_probability: dict[str, float]  # share of draws where owning breaks even
    tornado: tuple[TornadoBar, ...]  # inputs by falling swing of `tornado_output`


def _percentiles(x: np.ndarray) -> Percentiles:
    p10, p50, p90 = np.percentile(x, (10, 50, 90))
    return Percentiles(float(p10), float(p50), float(p90))


def _breakeven_percentiles(months: np.ndarray) -> tuple[int | None, ...]:
    never_last = np.where(months == 0, np.inf, months)
    ps = np.percentile(never_last, (10, 50, 90), method="inverted_cdf")
    return tuple(None if np.isinf(p) else int(p) for p in ps)


def _arrays(s: Scenario, sample: dict, token_prices) -> dict[str, np.ndarray]:
    """scenario_arrays for the GPU options, plus the per-token option when its prices are given."""
    gpu_sample = {k: v for k, v in sample.items() if k != "token_price_factor"}
    out = scenario_arrays(s, **gpu_sample)
    if token_prices is not None:
        factor = sample.get("token_price_factor", 1.0)
        out |= scenario_token_arrays(s, token_prices, growth=sample.get("growth"), token_price_factor=factor)
    return out


def cumulative_cash_bands(
    s: Scenario, u: Uncertainty, draws: int, rng: np.random.Generator, options=OPTIONS, token_prices=None
) -> dict[str, tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]]:
    """Per option, (P10, P50, P90) of cumulative cash (USD) at the end of each month over `draws`
    joint draws: the fan around each cost curve. Percentiles are taken month by month; the
    per-token option needs `token_prices`."""
    check_positive("draws", draws)
    sample = {name: r.draw(draws, rng)[:, None] for name, r in u.given().items()}
    out = _arrays(s, sample, token_prices)
    bands = {}
    for option in options:
        cash = np.broadcast_to(out[f"{option}.cash"], (draws, s.horizon_months))
        p10, p50, p90 = np.percentile(np.cumsum(cash, axis=-1), (10, 50, 90), axis=0)
        bands[option] = (tuple(p10.tolist()), tuple(p50.tolist()), tuple(p90.tolist()))
    return bands


def simulate(
    s: Scenario,
    u: Uncertainty,
    draws: int,
    rng: np.random.Generator,
    tornado_output: str = "own.total",
    token_prices: Mapping[str, TokenPrice] | None = None,
) -> MonteCarloResult:
    """P10/P50/P90 over `draws` joint draws of the given ranges (independent). The tornado
    sets each input to its low and high with the others at their likely values and ranks
    inputs by the swing of `tornado_output` (a cost_arrays key such as "own.total",
    "own.npv", "on_demand.per_mtok", or "per_token_api.total"). With `token_prices` (per model) the
    per-token API option is drawn too: its tokens follow the growth draws, its prices the
    token_price_factor range."""
    check_positive("draws", draws)
    ranges = u.given()
    sample = {name: r.draw(draws, rng)[:, None] for name, r in ranges.items()}
    out = _arrays(s, sample, token_prices)
    if tornado_output not in out:
        raise InvalidInputError(f"tornado_output must be a cost_arrays key, got {tornado_output!r}")

    # Tornado: rows 2i and 2i+1 put input i at its low and high, everything else at likely.
    k = len(ranges)
    ends = {name: np.full((2 * k, 1), float(r.likely)) for name, r in ranges.items()}
    for i, (name, r) in enumerate(ranges.items()):
        ends[name][2 * i : 2 * i + 2, 0] = (r.low, r.high)
    swing = _arrays(s, ends, token_prices)[tornado_output] if k else np.empty(0)
    bars = sorted(
        (
            TornadoBar(name, r.low, r.high, float(swing[2 * i]), float(swing[2 * i + 1]))
            for i, (name, r) in enumerate(ranges.items())
        ),
        key=lambda b: -b.swing,
    )

    options = (*OPTIONS, TOKEN_API) if token_prices is not None else OPTIONS

    def by_option(metric: str) -> dict[str, Percentiles]:
        return {o: _percentiles(np.broadcast_to(out[f"{o}.{metric}"], (draws,))) for o in options}

    breakeven = {o: np.broadcast_to(out[f"breakeven.{o}"], (draws,)) for o in RENT_OPTIONS}
    return MonteCarloResult(
        draws=draws,
        total_usd=by_option("total"),
        npv_usd=by_option("npv"),
        breakeven_month={o: _breakeven_percentiles(m) for o, m in breakeven.items()},
        breakeven_probability={o: float(np.mean(m > 0)) for o, m in breakeven.items()},
        tornado=tuple(bars),
    )
