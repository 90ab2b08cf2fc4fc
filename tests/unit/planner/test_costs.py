import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.domain.costs import (
    HOURS_PER_MONTH,
    OPTIONS,
    OwnershipCosts,
    RentalPrices,
    compare_costs,
    evaluate_scenario,
    option_metric,
    power_kw_per_gpu_from_tdp,
    sensitivity,
)
from reference.catalog import InvalidInputError

from .factories import scenario

# One GPU rented on demand at $2,000/month vs owned: $24,000 up front plus $500/month of staff.
RENT = RentalPrices(
    on_demand_usd_per_gpu_hour=2000 / HOURS_PER_MONTH,
    committed_1y_usd_per_gpu_hour=1.0,
    committed_3y_usd_per_gpu_hour=1.0,
    spot_usd_per_gpu_hour=1.0,
)
OWN = OwnershipCosts(
    server_capex_usd_per_gpu=24_000,
    power_kw_per_gpu=1.0,
    electricity_usd_per_kwh=0,
    facility_usd_per_kw_month=0,
    network_storage_share=0,
    depreciation_years=2,
    cost_of_capital_annual=0,
    maintenance_share_per_year=0,
    staff_usd_per_month=500,
    replacement_cost_share=0,
)


def test_breakeven_worked_on_paper():
    # Cumulative cash: own(m) = 24,000 + 500 m, rent(m) = 2,000 m.
    # own(m) <= rent(m)  <=>  24,000 <= 1,500 m  <=>  m >= 16: owning breaks even in month 16
    # (month 15: 31,500 vs 30,000; month 16: 32,000 vs 32,000).
    c = compare_costs([1] * 24, [1e6] * 24, RENT, OWN, annual_failure_rate=0, discount_rate_annual=0)
    assert c.breakeven_month["on_demand"] == 16
    own = c.options["own"]
    assert own.cumulative_cash_usd[14] == pytest.approx(31_500)
    assert c.options["on_demand"].cumulative_cash_usd[15] == pytest.approx(32_000)
    # Economic cost: 24,000 / 24 months = 1,000 depreciation + 500 staff = 1,500/month.
    assert own.total_usd == pytest.approx(24 * 1500)
    assert own.usd_per_gpu_hour == pytest.approx(1500 / HOURS_PER_MONTH)
    assert own.usd_per_million_tokens == pytest.approx(1500)  # 36,000 / 24 M tokens
    # Cash 36,000, nothing left on the books after 2 years, no discounting.
    assert own.npv_usd == pytest.approx(36_000)
    # On a 12-month horizon owning never catches up.
    short = compare_costs([1] * 12, [1e6] * 12, RENT, OWN, 0, 0)
    assert short.breakeven_month["on_demand"] is None
    # ... and its NPV credits the 12,000 still on the books: 24,000 + 6,000 - 12,000.
    assert short.options["own"].npv_usd == pytest.approx(18_000)


def test_cost_of_capital_charged_on_book_value():
    # Book value at the start of month m is 24,000 - 1,000 (m - 1); at 12%/yr (1%/month) the
    # charge sums to 0.01 x (24 x 24,000 - 1,000 x (0 + 1 + ... + 23)) = 0.01 x 300,000 = 3,000.
    own = dataclasses.replace(OWN, cost_of_capital_annual=0.12)
    c = compare_costs([1] * 24, [1e6] * 24, RENT, own, 0, 0)
    assert c.options["own"].total_usd == pytest.approx(36_000 + 3_000)


def test_power_facility_and_replacements_by_hand():
    # 2 GPUs x 1.5 kW = 3 kW: energy 3 x 730 h x PUE 1.5 x $0.10 = $328.50, colocation
    # 3 x $200 = $600; replacements 2 x 10%/12 x $12,000 x 0.5 = $100 per month.
    own = dataclasses.replace(
        OWN,
        power_kw_per_gpu=1.5,
        pue=1.5,
        electricity_usd_per_kwh=0.10,
        facility_usd_per_kw_month=200,
        staff_usd_per_month=0,
        server_capex_usd_per_gpu=12_000,
        replacement_cost_share=0.5,
    )
    c = compare_costs([2, 2], [1, 1], RENT, own, annual_failure_rate=0.1, discount_rate_annual=0)
    assert c.options["own"].cash_usd == pytest.approx((24_000 + 1028.5, 1028.5))
    assert power_kw_per_gpu_from_tdp(700) == pytest.approx(1.274)


def test_rent_options_by_hand():
    rent = RentalPrices(
        4.0, 3.0, 2.0, 1.0, spot_interruption_overhead=0.2, mixed_baseline_share=0.5, burst_hours_share=0.25
    )
    c = compare_costs([10, 4], [1, 1], rent, OWN, 0, 0)
    h = HOURS_PER_MONTH
    o = {k: v.cash_usd for k, v in c.options.items()}
    assert o["on_demand"] == pytest.approx((40 * h, 16 * h))
    assert o["committed_1y"] == pytest.approx((30 * h, 30 * h))  # commitment does not shrink
    assert o["spot"] == pytest.approx((12 * h, 4.8 * h))
    # baseline 5 GPUs committed; burst 5 on demand a quarter of the hours, then 0
    assert o["mixed"] == pytest.approx(((15 + 5) * h, 15 * h))


@settings(max_examples=40, deadline=None)
@given(st.floats(1e3, 5e6), st.floats(1e3, 5e6))
def test_costs_never_decrease_with_demand(a, b):
    low, high = sorted((a, b))
    r_low, r_high = (evaluate_scenario(scenario(x, months=24)) for x in (low, high))
    for o in OPTIONS:
        assert r_high.costs.options[o].total_usd >= r_low.costs.options[o].total_usd - 1e-6
        assert r_high.costs.options[o].npv_usd >= r_low.costs.options[o].npv_usd - 1e-6
        assert r_high.costs.options[o].cumulative_cash_usd[-1] >= r_low.costs.options[o].cumulative_cash_usd[-1] - 1e-6


def test_tornado_ranks_inputs_by_swing():
    base, bars = sensitivity(
        scenario(),
        {
            "own.electricity_usd_per_kwh": (0.05, 0.15),
            "workloads.monthly_growth": (0.0, 0.1),
            "rent.on_demand_usd_per_gpu_hour": (2.0, 4.0),
        },
        option_metric("total_usd", "own"),
    )
    assert [b.input for b in bars] == [
        "workloads.monthly_growth",
        "own.electricity_usd_per_kwh",
        "rent.on_demand_usd_per_gpu_hour",
    ]
    assert bars[1].output_at_low < base < bars[1].output_at_high
    assert bars[2].swing == 0
    with pytest.raises(InvalidInputError, match="unknown input 'own.colour'"):
        sensitivity(scenario(), {"own.colour": (0, 1)}, option_metric("total_usd", "own"))


def test_invalid_cost_inputs_name_the_field():
    with pytest.raises(InvalidInputError, match="depreciation_years must be a number > 0"):
        dataclasses.replace(OWN, depreciation_years=0)
    with pytest.raises(InvalidInputError, match="gpus_by_month is zero"):
        compare_costs([0, 0], [0, 0], RENT, OWN, 0)
    with pytest.raises(InvalidInputError, match="gpus_by_month must not be negative"):
        compare_costs([1, -1], [0, 0], RENT, OWN, 0)
    with pytest.raises(InvalidInputError, match="on_demand_usd_per_gpu_hour"):
        dataclasses.replace(RENT, on_demand_usd_per_gpu_hour=-1)
    with pytest.raises(InvalidInputError, match="pue must be >= 1"):
        dataclasses.replace(OWN, pue=0.9)
