"""Renting vs owning a GPU fleet month by month: cash flows, cumulative cost, breakeven, NPV,
$/1M tokens and $/GPU-hour, plus a one-at-a-time sensitivity (tornado).

Two bases, on purpose: breakeven and NPV use cash (capex is paid when servers are bought);
totals, $/GPU-hour and $/1M tokens use the economic monthly cost of owning (straight-line
depreciation + cost of capital on book value + opex), so a horizon shorter than the
depreciation life is not charged the whole server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date

import numpy as np

from planner.domain.demand import (
    SECONDS_PER_MONTH,
    DemandPlan,
    SizingPolicy,
    Workload,
    fleet_arrays,
    output_tokens_per_s,
    plan_demand,
)
from planner.domain.throughput import Throughput
from reference.catalog import (
    InvalidInputError,
    TokenPrice,
    check_fraction,
    check_non_negative,
    check_positive,
    close_matches,
    load_token_prices,
)

HOURS_PER_MONTH = 8760 / 12
RENT_OPTIONS = ("on_demand", "committed_1y", "committed_3y", "spot", "mixed")
OPTIONS = (*RENT_OPTIONS, "own")
# DGX H100: 10.2 kW system maximum for 8 x 700 W GPUs, i.e. the rest of the server adds ~82%.
SERVER_OVERHEAD_SHARE = 0.82


def power_kw_per_gpu_from_tdp(
    tdp_w: float, server_overhead_share: float = SERVER_OVERHEAD_SHARE, load_share: float = 1.0
) -> float:
    """IT power per GPU in kW incl. its share of the server, when no measurement exists."""
    check_positive("tdp_w", tdp_w)
    return tdp_w * (1 + server_overhead_share) * load_share / 1000


@dataclass(frozen=True)
class RentalPrices:
    """Cloud prices in USD per GPU-hour."""

    on_demand_usd_per_gpu_hour: float
    committed_1y_usd_per_gpu_hour: float
    committed_3y_usd_per_gpu_hour: float
    spot_usd_per_gpu_hour: float
    spot_interruption_overhead: float = 0.15  # extra GPU-hours for re-runs and standby headroom
    mixed_baseline_share: float = 0.6  # share of the fleet on 1-year commitments (mixed option)
    burst_hours_share: float = 0.3  # share of hours the rest runs on-demand (diurnal peaks)

    def __post_init__(self) -> None:
        for f in fields(self)[:4]:
            check_positive(f.name, getattr(self, f.name))
        check_non_negative("spot_interruption_overhead", self.spot_interruption_overhead)
        check_fraction("mixed_baseline_share", self.mixed_baseline_share)
        check_fraction("burst_hours_share", self.burst_hours_share)


@dataclass(frozen=True)
class OwnershipCosts:
    server_capex_usd_per_gpu: float  # server price / GPUs per server
    power_kw_per_gpu: float  # measured IT draw incl. server share; power_kw_per_gpu_from_tdp
    electricity_usd_per_kwh: float
    facility_usd_per_kw_month: float  # colocation rent or owned-facility cost per IT kW
    pue: float = 1.56  # Uptime Institute 2024 industry average
    network_storage_share: float = 0.15  # network + storage capex as a share of server capex
    depreciation_years: float = 5.0
    cost_of_capital_annual: float = 0.08
    maintenance_share_per_year: float = 0.05  # of capex
    staff_usd_per_month: float = 0.0
    replacement_cost_share: float = 0.5  # of per-GPU capex, per failed GPU

    def __post_init__(self) -> None:
        for name in ("server_capex_usd_per_gpu", "power_kw_per_gpu", "depreciation_years"):
            check_positive(name, getattr(self, name))
        for name in (
            "electricity_usd_per_kwh",
            "facility_usd_per_kw_month",
            "network_storage_share",
            "cost_of_capital_annual",
            "maintenance_share_per_year",
            "staff_usd_per_month",
            "replacement_cost_share",
        ):
            check_non_negative(name, getattr(self, name))
        if not self.pue >= 1:
            raise InvalidInputError(f"pue must be >= 1, got {self.pue!r}")


@dataclass(frozen=True)
class OptionCost:
    option: str
    monthly_usd: tuple[float, ...]  # economic cost per month
    cash_usd: tuple[float, ...]  # cash out per month
    cumulative_cash_usd: tuple[float, ...]
    total_usd: float  # sum of monthly_usd over the horizon
    npv_usd: float  # of cash flows; owning is credited the book value left at the end
    usd_per_million_tokens: float | None  # None when no tokens are served
    usd_per_gpu_hour: float | None  # per GPU-hour of the fleet the plan needs


@dataclass(frozen=True)
class CostComparison:
    months: int
    options: dict[str, OptionCost]
    breakeven_month: dict[str, int | None]  # per rent option: owning is cheaper from this month


def cost_arrays(
    gpus,
    output_tokens,
    rent: RentalPrices,
    own: OwnershipCosts,
    annual_failure_rate,
    discount_rate_annual: float,
    *,
    cloud_price_factor=1.0,
    electricity_usd_per_kwh=None,
    server_capex_usd_per_gpu=None,
) -> dict[str, np.ndarray]:
    """Vectorised core. gpus and output_tokens have shape (..., months); the keyword overrides
    and the failure rate may be arrays of shape (..., 1). Returns arrays keyed
    "<option>.<metric>" for metrics cash, monthly, total, npv, per_mtok, per_gpu_hour, and
    "breakeven.<rent option>" (1-based month, 0 when owning never breaks even)."""
    gpus = np.asarray(gpus, dtype=float)
    held = np.maximum.accumulate(gpus, axis=-1)  # bought servers and commitments do not shrink
    price = rent.on_demand_usd_per_gpu_hour * cloud_price_factor
    gpu_hours = gpus * HOURS_PER_MONTH
    baseline = np.maximum.accumulate(np.floor(gpus * rent.mixed_baseline_share), axis=-1)
    cash = {
        "on_demand": gpu_hours * price,
        "committed_1y": held * HOURS_PER_MONTH * rent.committed_1y_usd_per_gpu_hour * cloud_price_factor,
        "committed_3y": held * HOURS_PER_MONTH * rent.committed_3y_usd_per_gpu_hour * cloud_price_factor,
        "spot": gpu_hours * rent.spot_usd_per_gpu_hour * cloud_price_factor * (1 + rent.spot_interruption_overhead),
        "mixed": HOURS_PER_MONTH
        * cloud_price_factor
        * (
            baseline * rent.committed_1y_usd_per_gpu_hour
            + np.maximum(gpus - baseline, 0) * rent.burst_hours_share * rent.on_demand_usd_per_gpu_hour
        ),
    }
    monthly = dict(cash)

    capex_gpu = (own.server_capex_usd_per_gpu if server_capex_usd_per_gpu is None else server_capex_usd_per_gpu) * (
        1 + own.network_storage_share
    )
    kwh_price = own.electricity_usd_per_kwh if electricity_usd_per_kwh is None else electricity_usd_per_kwh
    capex = np.diff(held, axis=-1, prepend=0) * capex_gpu
    life = max(round(own.depreciation_years * 12), 1)
    bought_to_date = np.cumsum(capex, axis=-1)
    pad = np.zeros((*bought_to_date.shape[:-1], life))
    retired = np.concatenate([pad, bought_to_date], axis=-1)[..., : bought_to_date.shape[-1]]
    depreciation = (bought_to_date - retired) / life
    book_end = bought_to_date - np.cumsum(depreciation, axis=-1)
    kw = held * own.power_kw_per_gpu
    opex = (
        kw * HOURS_PER_MONTH * own.pue * kwh_price
        + kw * own.facility_usd_per_kw_month
        + held * capex_gpu * (own.maintenance_share_per_year + annual_failure_rate * own.replacement_cost_share) / 12
        + own.staff_usd_per_month * (held > 0)
    )
    cash["own"] = capex + opex
    monthly["own"] = depreciation + (book_end + depreciation) * own.cost_of_capital_annual / 12 + opex

    months = gpus.shape[-1]
    discount = (1 + discount_rate_annual) ** (-np.arange(1, months + 1) / 12)
    tokens_m = np.sum(output_tokens, axis=-1) / 1e6
    fleet_hours = np.sum(gpu_hours, axis=-1)
    out: dict[str, np.ndarray] = {}
    for option in OPTIONS:
        total = np.sum(monthly[option], axis=-1)
        out[f"{option}.cash"] = cash[option]
        out[f"{option}.monthly"] = monthly[option]
        out[f"{option}.total"] = total
        out[f"{option}.npv"] = np.sum(cash[option] * discount, axis=-1)
        out[f"{option}.per_mtok"] = np.divide(total, tokens_m, out=np.full_like(total, np.nan), where=tokens_m > 0)
        out[f"{option}.per_gpu_hour"] = np.divide(
            total, fleet_hours, out=np.full_like(total, np.nan), where=fleet_hours > 0
        )
    out["own.npv"] = out["own.npv"] - book_end[..., -1] * discount[-1]
    cum_own = np.cumsum(cash["own"], axis=-1)
    for option in RENT_OPTIONS:
        ahead = cum_own <= np.cumsum(cash[option], axis=-1) + 1e-6
        # Breakeven: the first month from which owning stays no dearer to the horizon's end.
        stays = np.logical_and.accumulate(ahead[..., ::-1], axis=-1)[..., ::-1]
        out[f"breakeven.{option}"] = np.where(stays[..., -1], np.argmax(stays, axis=-1) + 1, 0)
    return out


def _none_if_nan(x) -> float | None:
    return None if np.isnan(x) else float(x)


def compare_costs(
    gpus_by_month,
    output_tokens_by_month,
    rent: RentalPrices,
    own: OwnershipCosts,
    annual_failure_rate: float,
    discount_rate_annual: float = 0.08,
) -> CostComparison:
    """Each option's cost (USD) of providing `gpus_by_month` GPUs that serve
    `output_tokens_by_month` tokens; months are consecutive, the first is month 1."""
    gpus = np.asarray(gpus_by_month, dtype=float)
    if gpus.ndim != 1 or gpus.size == 0:
        raise InvalidInputError("gpus_by_month must be a non-empty sequence of GPU counts")
    if (gpus < 0).any():
        raise InvalidInputError("gpus_by_month must not be negative")
    if not gpus.any():
        raise InvalidInputError("gpus_by_month is zero in every month; nothing to cost")
    check_non_negative("annual_failure_rate", annual_failure_rate)
    check_non_negative("discount_rate_annual", discount_rate_annual)
    a = cost_arrays(
        gpus, np.asarray(output_tokens_by_month, dtype=float), rent, own, annual_failure_rate, discount_rate_annual
    )
    options = {
        o: OptionCost(
            o,
            tuple(a[f"{o}.monthly"].tolist()),
            tuple(a[f"{o}.cash"].tolist()),
            tuple(np.cumsum(a[f"{o}.cash"]).tolist()),
            float(a[f"{o}.total"]),
            float(a[f"{o}.npv"]),
            _none_if_nan(a[f"{o}.per_mtok"]),
            _none_if_nan(a[f"{o}.per_gpu_hour"]),
        )
        for o in OPTIONS
    }
    breakeven = {o: int(a[f"breakeven.{o}"]) or None for o in RENT_OPTIONS}
    return CostComparison(gpus.size, options, breakeven)


@dataclass(frozen=True)
class Scenario:
    """Everything one planner evaluation needs; throughputs by workload name, one GPU model."""

    workloads: tuple[Workload, ...]
    throughputs: Mapping[str, Throughput]
    policy: SizingPolicy
    rent: RentalPrices
    own: OwnershipCosts
    start: date
    horizon_months: int
    discount_rate_annual: float = 0.08


@dataclass(frozen=True)
class ScenarioResult:
    demand: DemandPlan
    costs: CostComparison


def evaluate_scenario(s: Scenario) -> ScenarioResult:
    """Demand plan and cost comparison (USD) for a scenario."""
    plan = plan_demand(s.workloads, s.throughputs, s.policy, s.start, s.horizon_months)
    return ScenarioResult(
        plan,
        compare_costs(
            plan.gpus, plan.output_tokens, s.rent, s.own, s.policy.annual_failure_rate, s.discount_rate_annual
        ),
    )


def cheapest_token_prices(prices: tuple[TokenPrice, ...] | None = None) -> dict[str, TokenPrice]:
    """Per catalog model, the API offer with the lowest price for a 3:1 input:output mix."""
    best: dict[str, TokenPrice] = {}
    for p in prices or load_token_prices():
        blended = 3 * p.usd_per_million_input + p.usd_per_million_output
        cur = best.get(p.model)
        if cur is None or blended < 3 * cur.usd_per_million_input + cur.usd_per_million_output:
            best[p.model] = p
    return best


TOKEN_API = "per_token_api"


def token_usd(input_tokens, output_tokens, price: TokenPrice, price_factor=1.0):
    """USD of buying these tokens (arrays broadcast) from a per-token API, prices x `price_factor`."""
    usd = (
        np.asarray(input_tokens) * price.usd_per_million_input
        + np.asarray(output_tokens) * price.usd_per_million_output
    ) / 1e6
    return usd * price_factor


def _priced(workloads, prices: Mapping[str, TokenPrice]) -> None:
    missing = sorted({w.model for w in workloads} - set(prices))
    if missing:
        near = {m: close_matches(m, prices) for m in missing}
        raise InvalidInputError(
            "no per-token API price for "
            + ", ".join(f"{m}" + (f" (priced: {', '.join(near[m])})" if near[m] else "") for m in missing)
        )


def token_api_arrays(
    workloads, output_tokens_per_s: Mapping[str, np.ndarray], prices, discount_rate_annual, price_factor=1.0
) -> dict[str, np.ndarray]:
    """The per-token option as cost_arrays gives the others ("per_token_api.cash", ".monthly", ".total", ".npv",
    ".per_mtok"): each workload's mean output tokens/s per month (shape (..., months)) bought with the input
    tokens that come with them at its mean input/output ratio; cash and economic cost are the same."""
    _priced(workloads, prices)
    cash = tokens = 0.0
    for w in workloads:
        out = np.asarray(output_tokens_per_s[w.name]) * SECONDS_PER_MONTH
        cash = cash + token_usd(out * w.mean_input_tokens / w.mean_output_tokens, out, prices[w.model], price_factor)
        tokens = tokens + out
    cash = np.asarray(cash, dtype=float)
    discount = (1 + discount_rate_annual) ** (-np.arange(1, cash.shape[-1] + 1) / 12)
    total, tokens_m = np.sum(cash, axis=-1), np.sum(tokens, axis=-1) / 1e6
    per_mtok = np.divide(total, tokens_m, out=np.full_like(total, np.nan), where=tokens_m > 0)
    return {
        f"{TOKEN_API}.cash": cash,
        f"{TOKEN_API}.monthly": cash,
        f"{TOKEN_API}.total": total,
        f"{TOKEN_API}.npv": np.sum(cash * discount, axis=-1),
        f"{TOKEN_API}.per_mtok": per_mtok,
    }


def rent_by_the_token(
    workloads: tuple[Workload, ...],
    plan: DemandPlan,
    prices: Mapping[str, TokenPrice],
    discount_rate_annual: float = 0.08,
) -> OptionCost:
    """The third option beside renting and owning GPUs: every workload's tokens bought from a
    per-token API at `prices[model]` (USD per 1M input and output tokens). Input tokens follow
    output tokens at the workload's mean input/output ratio; no GPUs, so no $/GPU-hour."""
    by_workload = {wp.workload: wp.mean_output_tokens_per_s for wp in plan.workloads}
    a = token_api_arrays(workloads, by_workload, prices, discount_rate_annual)
    cash = a[f"{TOKEN_API}.cash"]
    return OptionCost(
        TOKEN_API,
        tuple(cash.tolist()),
        tuple(cash.tolist()),
        tuple(np.cumsum(cash).tolist()),
        float(a[f"{TOKEN_API}.total"]),
        float(a[f"{TOKEN_API}.npv"]),
        _none_if_nan(a[f"{TOKEN_API}.per_mtok"]),
        None,
    )


def scenario_token_arrays(s: Scenario, prices: Mapping[str, TokenPrice], *, growth=None, token_price_factor=1.0):
    """token_api_arrays for a scenario's workloads, with the Monte Carlo's growth and price-factor draws."""
    tokens = {w.name: output_tokens_per_s(w, s.horizon_months, growth)[0] for w in s.workloads}
    return token_api_arrays(s.workloads, tokens, prices, s.discount_rate_annual, token_price_factor)


def scenario_arrays(
    s: Scenario, *, growth=None, utilization_ceiling=None, annual_failure_rate=None, **cost_overrides
) -> dict[str, np.ndarray]:
    """cost_arrays for a scenario with array overrides (Monte Carlo draws, tornado ends)."""
    afr = s.policy.annual_failure_rate if annual_failure_rate is None else annual_failure_rate
    gpus, tokens = fleet_arrays(
        s.workloads, s.throughputs, s.policy, s.horizon_months, growth, utilization_ceiling, afr
    )
    return cost_arrays(gpus, tokens, s.rent, s.own, afr, s.discount_rate_annual, **cost_overrides)


def option_metric(metric: str, option: str) -> Callable[[ScenarioResult], float]:
    """A scenario output by name: metric is total_usd, npv_usd, usd_per_million_tokens,
    usd_per_gpu_hour or breakeven_month (option = a rent option; horizon + 1 when never)."""
    if metric == "breakeven_month":
        if option not in RENT_OPTIONS:
            raise InvalidInputError(f"option must be one of {RENT_OPTIONS}, got {option!r}")
        return lambda r: float(r.costs.breakeven_month[option] or r.costs.months + 1)
    if option not in OPTIONS or metric not in ("total_usd", "npv_usd", "usd_per_million_tokens", "usd_per_gpu_hour"):
        raise InvalidInputError(f"unknown output {metric!r} of option {option!r}")
    return lambda r: float(getattr(r.costs.options[option], metric))


def _with(obj, path: str, value, full_path: str = ""):
    head, _, rest = path.partition(".")
    full_path = full_path or path
    if head == "workloads":  # applies to every workload, e.g. workloads.monthly_growth
        return replace(obj, workloads=tuple(_with(w, rest, value, full_path) for w in obj.workloads))
    if not hasattr(obj, head):
        raise InvalidInputError(f"unknown input {full_path!r}")
    return replace(obj, **{head: _with(getattr(obj, head), rest, value, full_path) if rest else value})


@dataclass(frozen=True)
class TornadoBar:
    input: str
    low: float
    high: float
    output_at_low: float
    output_at_high: float

    @property
    def swing(self) -> float:
        return abs(self.output_at_high - self.output_at_low)


def sensitivity(
    s: Scenario, ranges: Mapping[str, tuple[float, float]], output: Callable[[ScenarioResult], float]
) -> tuple[float, tuple[TornadoBar, ...]]:
    """(base output, bars by falling swing): each input set to its low and high in turn, the
    others at base. Inputs are dotted paths into the scenario, e.g. "own.pue",
    "rent.on_demand_usd_per_gpu_hour", "policy.utilization_ceiling", "workloads.monthly_growth"."""
    bars = [
        TornadoBar(
            path, lo, hi, output(evaluate_scenario(_with(s, path, lo))), output(evaluate_scenario(_with(s, path, hi)))
        )
        for path, (lo, hi) in ranges.items()
    ]
    return output(evaluate_scenario(s)), tuple(sorted(bars, key=lambda b: -b.swing))
