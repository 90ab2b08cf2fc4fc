"""Workload demand -> output tokens/s per month -> GPUs to provision, with utilization
headroom, N+k replica redundancy and a spare pool for failed GPUs.

The array functions broadcast over leading axes so Monte Carlo draws reuse them unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from planner.domain.throughput import (
    TP_SIZES,
    LatencyTargetError,
    Precision,
    Throughput,
    ThroughputError,
    estimate_throughput,
    smallest_tp,
)
from reference.catalog import (
    GpuSpec,
    InvalidInputError,
    LlmSpec,
    check_fraction,
    check_non_negative,
    check_positive,
)

SECONDS_PER_MONTH = 365 * 86_400 / 12
# Ceil of a ratio that is an integer up to float rounding must not add a GPU.
_CEIL_SLACK = 1e-9


@dataclass(frozen=True)
class Workload:
    name: str
    model: str
    requests_per_day: float
    mean_input_tokens: int
    mean_output_tokens: int
    peak_to_mean: float = 1.0  # diurnal busiest-hour rate over the daily mean
    monthly_growth: float = 0.0  # 0.05 = +5% requests per month, compounding
    max_ms_per_output_token: float | None = None

    def __post_init__(self) -> None:
        check_non_negative(f"workload {self.name}: requests_per_day", self.requests_per_day)
        check_positive(f"workload {self.name}: mean_input_tokens", self.mean_input_tokens)
        check_positive(f"workload {self.name}: mean_output_tokens", self.mean_output_tokens)
        if not self.peak_to_mean >= 1:
            raise InvalidInputError(f"workload {self.name}: peak_to_mean must be >= 1, got {self.peak_to_mean!r}")
        if not self.monthly_growth > -1:
            raise InvalidInputError(f"workload {self.name}: monthly_growth must be > -1, got {self.monthly_growth!r}")


@dataclass(frozen=True)
class SizingPolicy:
    utilization_ceiling: float = 0.8  # plan serving GPUs to run at most this busy at peak
    redundancy_replicas: int = 1  # the k of N+k, per workload
    annual_failure_rate: float = 0.11  # per GPU-year; Llama 3 paper, GPU-attributed (data/README)
    failure_cover_days: float = 30.0  # time to replace a failed GPU, which spares bridge

    def __post_init__(self) -> None:
        check_fraction("utilization_ceiling", self.utilization_ceiling, allow_zero=False)
        check_non_negative("redundancy_replicas", self.redundancy_replicas)
        check_non_negative("annual_failure_rate", self.annual_failure_rate)
        check_non_negative("failure_cover_days", self.failure_cover_days)


def month_starts(start: date, months: int) -> tuple[date, ...]:
    """First day of each planning month, from the month containing `start`."""
    check_positive("horizon_months", months)
    return tuple(
        date(start.year + (start.month - 1 + m) // 12, (start.month - 1 + m) % 12 + 1, 1) for m in range(months)
    )


def output_tokens_per_s(workload: Workload, months: int, growth=None) -> tuple[np.ndarray, ...]:
    """(mean, peak) output tokens/s per month; `growth` (fraction/month) may be an array."""
    g = workload.monthly_growth if growth is None else np.asarray(growth)
    mean = workload.requests_per_day * workload.mean_output_tokens / 86_400 * (1 + g) ** np.arange(months)
    return mean, mean * workload.peak_to_mean


def serving_gpus(
    peak_output_tokens_per_s, throughput: Throughput, redundancy_replicas: int, utilization_ceiling
) -> np.ndarray:
    """GPUs for replicas serving the peak (tokens/s) at the ceiling, plus k spare replicas."""
    replicas = np.ceil(
        peak_output_tokens_per_s / (throughput.output_tokens_per_s_per_replica * utilization_ceiling) - _CEIL_SLACK
    )
    replicas = np.where(replicas > 0, replicas + redundancy_replicas, 0)
    return replicas * throughput.tp


def spare_gpus(serving, annual_failure_rate, failure_cover_days: float) -> np.ndarray:
    """Spare pool covering the failures expected while failed GPUs await replacement."""
    return np.ceil(serving * annual_failure_rate * failure_cover_days / 365 - _CEIL_SLACK)


def fleet_arrays(
    workloads: Sequence[Workload],
    throughputs: Mapping[str, Throughput],
    policy: SizingPolicy,
    months: int,
    growth=None,
    utilization_ceiling=None,
    annual_failure_rate=None,
) -> tuple[np.ndarray, np.ndarray]:
    """(GPUs to provision, mean output tokens served) per month, broadcast over the optional
    array overrides of growth, utilization ceiling and failure rate (shape (draws, 1))."""
    util = policy.utilization_ceiling if utilization_ceiling is None else utilization_ceiling
    afr = policy.annual_failure_rate if annual_failure_rate is None else annual_failure_rate
    serving = tokens = 0.0
    for w in workloads:
        mean, peak = output_tokens_per_s(w, months, growth)
        serving = serving + serving_gpus(peak, throughputs[w.name], policy.redundancy_replicas, util)
        tokens = tokens + mean * SECONDS_PER_MONTH
    serving = np.broadcast_to(serving, np.shape(tokens))
    return serving + spare_gpus(serving, afr, policy.failure_cover_days), tokens


@dataclass(frozen=True)
class WorkloadPlan:
    workload: str
    throughput: Throughput
    mean_output_tokens_per_s: tuple[float, ...]
    peak_output_tokens_per_s: tuple[float, ...]
    serving_gpus: tuple[int, ...]  # incl. the N+k redundant replicas


@dataclass(frozen=True)
class DemandPlan:
    gpu: str
    months: tuple[date, ...]
    workloads: tuple[WorkloadPlan, ...]
    spare_gpus: tuple[int, ...]
    gpus: tuple[int, ...]  # total to provision per month
    output_tokens: tuple[float, ...]  # mean output tokens served per month


def _ints(a) -> tuple[int, ...]:
    return tuple(int(x) for x in a)


def plan_demand(
    workloads: Sequence[Workload],
    throughputs: Mapping[str, Throughput],
    policy: SizingPolicy,
    start: date,
    horizon_months: int,
) -> DemandPlan:
    """GPUs needed per month for workloads whose throughput per replica is already known
    (`throughputs` by workload name, all on one GPU model)."""
    if not workloads:
        raise InvalidInputError("workloads must not be empty")
    months = month_starts(start, horizon_months)
    missing = [w.name for w in workloads if w.name not in throughputs]
    if missing:
        raise InvalidInputError(f"throughputs: no figure for workload(s) {', '.join(missing)}")
    gpus, tokens = fleet_arrays(workloads, throughputs, policy, horizon_months)
    plans = []
    for w in workloads:
        mean, peak = output_tokens_per_s(w, horizon_months)
        tp = throughputs[w.name]
        plans.append(
            WorkloadPlan(
                w.name,
                tp,
                tuple(map(float, mean)),
                tuple(map(float, peak)),
                _ints(serving_gpus(peak, tp, policy.redundancy_replicas, policy.utilization_ceiling)),
            )
        )
    serving = np.sum([p.serving_gpus for p in plans], axis=0)
    return DemandPlan(
        gpu=next(iter(throughputs.values())).gpu,
        months=months,
        workloads=tuple(plans),
        spare_gpus=_ints(gpus - serving),
        gpus=_ints(gpus),
        output_tokens=tuple(map(float, tokens)),
    )


def fitting_throughput(
    w: Workload, llm: LlmSpec, gpu: GpuSpec, precision: Precision, measured: float | None
) -> Throughput:
    """Throughput on the smallest TP that holds the model and meets the latency target."""
    first = smallest_tp(llm, gpu, precision, w.mean_input_tokens, w.mean_output_tokens)
    for tp in (t for t in TP_SIZES if t >= first):
        try:
            return estimate_throughput(
                llm, gpu, precision, tp, w.mean_input_tokens, w.mean_output_tokens, w.max_ms_per_output_token, measured
            )
        except LatencyTargetError as exc:
            missed = exc
    raise missed


@dataclass(frozen=True)
class GpuChoice:
    plans: dict[str, DemandPlan]  # by GPU model
    not_feasible: dict[str, str]  # GPU model -> why (model too big, latency target missed)


def plan_by_gpu(
    workloads: Sequence[Workload],
    llms: Mapping[str, LlmSpec],
    gpus: Sequence[GpuSpec],
    precision: Precision,
    policy: SizingPolicy,
    start: date,
    horizon_months: int,
    measured: Mapping[tuple[str, str], float] | None = None,
) -> GpuChoice:
    """A demand plan per GPU model, each workload on the smallest TP that fits.

    `measured` maps (model name, GPU name) to measured output tokens/s per GPU, which replaces
    the estimate."""
    plans, not_feasible = {}, {}
    for gpu in gpus:
        try:
            throughputs = {
                w.name: fitting_throughput(w, llms[w.model], gpu, precision, (measured or {}).get((w.model, gpu.name)))
                for w in workloads
            }
        except ThroughputError as exc:
            not_feasible[gpu.name] = str(exc)
            continue
        plans[gpu.name] = plan_demand(workloads, throughputs, policy, start, horizon_months)
    return GpuChoice(plans, not_feasible)
