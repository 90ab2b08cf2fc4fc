import numpy as np
import pytest

from planner.domain.demand import (
    SizingPolicy,
    Workload,
    plan_by_gpu,
    plan_demand,
)
from planner.domain.throughput import Precision
from reference.catalog import InvalidInputError, load_gpus, load_llms

from .factories import START, throughput, workload


def test_gpus_needed_by_hand():
    # 864,000 requests/day x 100 output tokens / 86,400 s = 1,000 tok/s mean, x2 peak = 2,000.
    # A replica (TP=2) gives 500 tok/s, 400 at the 0.8 ceiling -> 5 replicas, N+1 -> 6 -> 12 GPUs.
    # Spares: 12 x 10%/yr x 365/365 days = 1.2 -> 2. Total 14.
    # Month 2: +10% -> 2,200 tok/s -> 5.5 -> 6 replicas +1 = 7 -> 14 GPUs, spares 1.4 -> 2 -> 16.
    policy = SizingPolicy(
        utilization_ceiling=0.8, redundancy_replicas=1, annual_failure_rate=0.1, failure_cover_days=365
    )
    plan = plan_demand((workload(growth=0.10),), {"chat": throughput()}, policy, START, 2)
    w = plan.workloads[0]
    assert w.mean_output_tokens_per_s == pytest.approx((1000, 1100))
    assert w.peak_output_tokens_per_s == pytest.approx((2000, 2200))
    assert w.serving_gpus == (12, 14)
    assert plan.spare_gpus == (2, 2) and plan.gpus == (14, 16)
    assert plan.output_tokens[0] == pytest.approx(1000 * 365 * 86400 / 12)
    assert [m.isoformat() for m in plan.months] == ["2026-01-01", "2026-02-01"]


def test_zero_demand_needs_no_gpus_not_even_redundancy():
    plan = plan_demand((workload(requests_per_day=0),), {"chat": throughput()}, SizingPolicy(), START, 3)
    assert plan.gpus == (0, 0, 0)


def test_plan_by_gpu_picks_smallest_fitting_tp_and_reports_misfits():
    llms = load_llms()
    gpus = load_gpus()
    big = Workload("big", "Llama-3.1-405B", 1e5, 1000, 200)
    choice = plan_by_gpu(
        (Workload("chat", "Llama-3.3-70B", 1e6, 1000, 200),),
        llms,
        [gpus["H100 SXM 80GB"]],
        Precision.BF16,
        SizingPolicy(),
        START,
        12,
    )
    assert choice.plans["H100 SXM 80GB"].workloads[0].throughput.tp == 2
    choice = plan_by_gpu(
        (big,), llms, [gpus["H100 SXM 80GB"], gpus["MI300X"]], Precision.BF16, SizingPolicy(), START, 12
    )
    assert "needs 812 GB of weights" in choice.not_feasible["H100 SXM 80GB"]
    assert choice.plans["MI300X"].workloads[0].throughput.tp == 8
    assert np.all(np.diff(choice.plans["MI300X"].gpus) >= 0)


def test_invalid_demand_inputs_name_the_field():
    with pytest.raises(InvalidInputError, match="requests_per_day must be a number >= 0"):
        workload(requests_per_day=-1)
    with pytest.raises(InvalidInputError, match="peak_to_mean"):
        Workload("w", "m", 1, 1, 1, peak_to_mean=0.5)
    with pytest.raises(InvalidInputError, match="utilization_ceiling"):
        SizingPolicy(utilization_ceiling=0)
    with pytest.raises(InvalidInputError, match="horizon_months"):
        plan_demand((workload(),), {"chat": throughput()}, SizingPolicy(), START, 0)
    with pytest.raises(InvalidInputError, match="no figure for workload"):
        plan_demand((workload(),), {}, SizingPolicy(), START, 3)
