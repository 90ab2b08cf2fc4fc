import numpy as np
import pytest

from planner.domain.costs import OPTIONS, evaluate_scenario, rent_by_the_token
from planner.domain.montecarlo import Range, Uncertainty, cumulative_cash_bands, simulate
from reference.catalog import InvalidInputError, TokenPrice

from .factories import scenario


def _point(x: float) -> Range:
    return Range(x, x, x)


def test_zero_width_ranges_equal_the_deterministic_answer():
    s = scenario()
    det = evaluate_scenario(s).costs
    u = Uncertainty(
        growth=_point(0.05),
        utilization_ceiling=_point(0.8),
        electricity_usd_per_kwh=_point(0.08),
        server_capex_usd_per_gpu=_point(40_000),
        cloud_price_factor=_point(1.0),
        annual_failure_rate=_point(0.1),
    )
    mc = simulate(s, u, 200, np.random.default_rng(0))
    for o in OPTIONS:
        p = mc.total_usd[o]
        assert p.p10 == p.p50 == p.p90 == pytest.approx(det.options[o].total_usd)
        assert mc.npv_usd[o].p50 == pytest.approx(det.options[o].npv_usd)
    for o, month in det.breakeven_month.items():
        assert mc.breakeven_month[o] == (month, month, month)


def test_draws_are_reproducible_ordered_and_ranked():
    u = Uncertainty(
        growth=Range(0.0, 0.05, 0.10),
        electricity_usd_per_kwh=Range(0.05, 0.08, 0.2),
        cloud_price_factor=Range(0.7, 1.0, 1.2, shape="triangular"),
    )
    a = simulate(scenario(), u, 2000, np.random.default_rng(42))
    b = simulate(scenario(), u, 2000, np.random.default_rng(42))
    assert a == b
    for p in a.total_usd.values():
        assert p.p10 < p.p50 < p.p90
    assert [bar.input for bar in a.tornado] == ["growth", "electricity_usd_per_kwh", "cloud_price_factor"]
    assert a.tornado[-1].swing == 0  # renting prices do not move the cost of owning


def test_pert_draws_stay_in_range_with_mode_near_likely():
    x = Range(0, 2, 10).draw(50_000, np.random.default_rng(1))
    assert x.min() >= 0 and x.max() <= 10
    assert np.mean(x) == pytest.approx((0 + 4 * 2 + 10) / 6, rel=0.02)


def test_invalid_ranges():
    with pytest.raises(InvalidInputError, match="low <= likely <= high"):
        Range(1, 0, 2)
    with pytest.raises(InvalidInputError, match="tornado_output"):
        simulate(scenario(), Uncertainty(), 10, np.random.default_rng(0), "own.colour")


def test_cumulative_cash_bands_collapse_to_the_deterministic_curve_and_are_ordered():
    s = scenario(months=24)
    det = evaluate_scenario(s).costs
    point = cumulative_cash_bands(s, Uncertainty(growth=_point(0.05)), 50, np.random.default_rng(0))
    for o in OPTIONS:
        for band in point[o]:
            assert band == pytest.approx(det.options[o].cumulative_cash_usd)
    wide = cumulative_cash_bands(s, Uncertainty(growth=Range(0.0, 0.05, 0.1)), 500, np.random.default_rng(1))
    p10, p50, p90 = wide["own"]
    assert all(a <= b <= c for a, b, c in zip(p10, p50, p90, strict=True))
    assert p10[-1] < p90[-1]


PRICE = {"m": TokenPrice("api", "m", "offer", 0.5, 1.5, "2026-01", "test")}


def test_per_token_option_collapses_to_rent_by_the_token_and_follows_growth_and_prices():
    s = scenario()
    by_token = rent_by_the_token(s.workloads, evaluate_scenario(s).demand, PRICE, s.discount_rate_annual)
    point = Uncertainty(growth=_point(0.05), token_price_factor=_point(1.0))
    mc = simulate(s, point, 50, np.random.default_rng(0), token_prices=PRICE)
    assert mc.total_usd["per_token_api"].p50 == pytest.approx(by_token.total_usd)
    assert mc.npv_usd["per_token_api"].p90 == pytest.approx(by_token.npv_usd)
    band = cumulative_cash_bands(s, point, 50, np.random.default_rng(0), ("per_token_api",), PRICE)
    assert band["per_token_api"][1][-1] == pytest.approx(by_token.cumulative_cash_usd[-1])
    # Prices x0.5-x2 and growth 0-10%/month: the spread, and the tornado ranks what moves it.
    u = Uncertainty(growth=Range(0.0, 0.05, 0.10), token_price_factor=Range(0.5, 1.0, 2.0))
    wide = simulate(s, u, 2000, np.random.default_rng(1), "per_token_api.total", token_prices=PRICE)
    p = wide.total_usd["per_token_api"]
    assert p.p10 < by_token.total_usd * 0.95 and p.p90 > by_token.total_usd * 1.05
    bars = {bar.input: bar for bar in wide.tornado}
    assert bars["token_price_factor"].output_at_high == pytest.approx(2 * by_token.total_usd)
    assert "per_token_api" not in simulate(s, u, 10, np.random.default_rng(1)).total_usd  # no prices: no option


def test_per_token_option_needs_a_price_for_every_model():
    with pytest.raises(InvalidInputError, match="no per-token API price for m"):
        simulate(scenario(), Uncertainty(), 10, np.random.default_rng(0), token_prices={})
