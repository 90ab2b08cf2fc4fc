"""Rent by the token: the per-token API option beside renting and owning GPUs."""

from datetime import date

import pytest

from planner.domain.costs import cheapest_token_prices, rent_by_the_token
from planner.domain.demand import SECONDS_PER_MONTH, SizingPolicy, Workload, plan_demand
from planner.domain.throughput import Precision, estimate_throughput
from reference.catalog import InvalidInputError, gpu_named, llm_named, load_token_prices

H100 = gpu_named("H100 SXM 80GB")


def plan(workloads):
    tps = {
        w.name: estimate_throughput(
            llm_named(w.model), H100, Precision.FP8, 2, w.mean_input_tokens, w.mean_output_tokens
        )
        for w in workloads
    }
    return plan_demand(workloads, tps, SizingPolicy(), date(2026, 1, 1), 3)


def test_cost_by_hand_and_per_million_output_tokens():
    w = Workload("chat", "Llama-3.3-70B", 86_400, 1000, 250)  # 1 request/s, 250 output tokens
    prices = cheapest_token_prices()
    price = prices["Llama-3.3-70B"]
    assert price.provider == "Groq"  # 3 x 0.59 + 0.79 beats the other Llama-3.3-70B offers
    cost = rent_by_the_token((w,), plan((w,)), prices)
    out_m = 250 * SECONDS_PER_MONTH / 1e6
    month = out_m * 4 * price.usd_per_million_input + out_m * price.usd_per_million_output
    assert cost.monthly_usd == pytest.approx((month,) * 3)
    assert cost.total_usd == pytest.approx(3 * month)
    assert cost.usd_per_million_tokens == pytest.approx(month / out_m)
    assert cost.usd_per_gpu_hour is None and cost.npv_usd < cost.total_usd


def test_prices_keep_date_and_source_and_unpriced_models_are_named():
    assert all(p.as_of and p.source for p in load_token_prices())
    w = Workload("odd", "Gemma-2-9B", 1000, 100, 100)
    with pytest.raises(InvalidInputError, match="no per-token API price for Gemma-2-9B"):
        rent_by_the_token((w,), plan((w,)), cheapest_token_prices())
