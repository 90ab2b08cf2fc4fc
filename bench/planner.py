"""Planner timings: one full scenario (throughput + demand + costs + capacity) and 10,000
Monte Carlo draws, each also as a ratio against a baseline measured in the same run.

    .venv/bin/python -m bench.planner   # as a module: run as a script, this file would shadow
                                        # the planner package
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np

from planner.domain.capacity import GrowthPlan, Hall, Redundancy, runway_by_hall
from planner.domain.costs import (
    OwnershipCosts,
    RentalPrices,
    Scenario,
    evaluate_scenario,
    power_kw_per_gpu_from_tdp,
)
from planner.domain.demand import SizingPolicy, Workload
from planner.domain.montecarlo import Range, Uncertainty, simulate
from planner.domain.throughput import Precision, estimate_throughput, smallest_tp
from reference.catalog import load_gpus, load_llms

MONTHS = 60
DRAWS = 10_000
WORKLOADS = (
    Workload("chat", "Llama-3.3-70B", 2e6, 1000, 300, 2.0, 0.05, 50),
    Workload("code", "Llama-3.1-8B", 5e6, 2000, 200, 1.5, 0.03, 30),
    Workload("rag", "Qwen3-30B-A3B", 1e6, 4000, 250, 1.8, 0.04),
)
HALLS = tuple(
    Hall(f"H{i}", 300 + 50 * i, 320 + 50 * i, 2, 1000, Redundancy.TWO_N, 8, 150, Redundancy.N_PLUS_1, 200, 120)
    for i in range(4)
)


def full_scenario():
    gpu, llms = load_gpus()["H100 SXM 80GB"], load_llms()
    throughputs = {}
    for w in WORKLOADS:
        tp = smallest_tp(llms[w.model], gpu, Precision.FP8, w.mean_input_tokens, w.mean_output_tokens)
        throughputs[w.name] = estimate_throughput(
            llms[w.model], gpu, Precision.FP8, tp, w.mean_input_tokens, w.mean_output_tokens, w.max_ms_per_output_token
        )
    kw = power_kw_per_gpu_from_tdp(gpu.tdp_w)
    s = Scenario(
        WORKLOADS,
        throughputs,
        SizingPolicy(),
        RentalPrices(3.0, 2.2, 1.8, 2.2),
        OwnershipCosts(40_000, kw, 0.08, 184.06),
        date(2026, 1, 1),
        MONTHS,
    )
    result = evaluate_scenario(s)
    added = np.diff(result.demand.gpus, prepend=0).clip(min=0)
    runway_by_hall(HALLS, GrowthPlan(tuple(int(a) for a in added), kw, 16))
    return s


UNCERTAINTY = Uncertainty(
    growth=Range(0.0, 0.05, 0.10),
    utilization_ceiling=Range(0.6, 0.8, 0.9),
    electricity_usd_per_kwh=Range(0.05, 0.08, 0.15),
    server_capex_usd_per_gpu=Range(30_000, 40_000, 50_000),
    cloud_price_factor=Range(0.7, 1.0, 1.2),
    annual_failure_rate=Range(0.05, 0.11, 0.20),
)


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    scenario = full_scenario()  # warm caches (CSV loads) outside the timings
    rng = np.random.default_rng(0)
    x = rng.random((DRAWS, MONTHS))
    # Baseline: one cumulative sum over a (draws, months) array, the Monte Carlo's unit of work.
    baseline = best_of(lambda: np.cumsum(x, axis=-1), 20)
    t_scenario = best_of(full_scenario, 20)
    t_mc = best_of(lambda: simulate(scenario, UNCERTAINTY, DRAWS, np.random.default_rng(1)), 5)
    print(f"baseline np.cumsum over {DRAWS}x{MONTHS}: {baseline * 1e3:.2f} ms")
    print(
        f"full scenario ({len(WORKLOADS)} workloads, {MONTHS} months, {len(HALLS)} halls): "
        f"{t_scenario * 1e3:.1f} ms = {t_scenario / baseline:.1f}x baseline (target < 50 ms)"
    )
    print(
        f"Monte Carlo {DRAWS:,} draws x {MONTHS} months: {t_mc * 1e3:.0f} ms = "
        f"{t_mc / baseline:.0f}x baseline = {t_mc / t_scenario:.1f}x one scenario "
        f"(target < 1 s)"
    )


if __name__ == "__main__":
    main()
