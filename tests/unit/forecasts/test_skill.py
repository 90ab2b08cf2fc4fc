import numpy as np
import pandas as pd
import pytest

from planner.domain.baselines import baseline_forecast
from planner.domain.conformal import (
    CALIBRATION_HOURS,
    adapted_quantile,
    conformal_quantile,
    halfwidths,
    sequential_coverage,
)
from planner.domain.skill import (
    Model,
    _ew_means,
    candidate_forecasts,
    ew_profile_ar,
    forecast_series,
    rolling_backtest,
)
from tests.unit.forecasts.synthetic import START, hall_history
from tests.unit.forecasts.traces import TRACES

FORECASTS = [
    *("weekly_profile_ar", "daily_profile_ar", "ew_profile_ar", "harmonic_ar", "combined"),
    *("yesterday", "last_week", "last_value"),
]


def test_baselines_read_only_the_history_by_hand():
    y = np.arange(400.0)
    np.testing.assert_array_equal(baseline_forecast(y, 199, 3, "last_value"), [199, 199, 199])
    # Hours 200..223 take 176..199; hour 224 (lead 25) is two days back, never past the origin.
    day = baseline_forecast(y, 199, 30, "yesterday")
    assert day[0] == 176 and day[23] == 199 and day[24] == 176
    week = baseline_forecast(y, 199, 3, "last_week")
    np.testing.assert_array_equal(week, [32, 33, 34])
    assert np.isnan(baseline_forecast(y, 100, 3, "last_week")).all()
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_forecast(y, 10, 3, "median")


def test_no_look_ahead_perturbing_the_future_leaves_earlier_forecasts_and_intervals_alone():
    series = hall_history(weeks=5, seed=7)["it_load_kw"]
    cut = 24 * 27 + 5  # an origin position in the backtest (origins start at 3 weeks, every 6 h)
    perturbed = series.copy()
    perturbed.iloc[cut + 1 :] += np.random.default_rng(1).normal(0, 400, len(series) - cut - 1)
    a, b = rolling_backtest(series, step_hours=6), rolling_backtest(perturbed, step_hours=6)
    assert cut in set(a.points["origin"])
    early, late = a.points["origin"] <= cut, a.points["origin"] > cut
    pd.testing.assert_frame_equal(a.points.loc[early, FORECASTS], b.points.loc[early, FORECASTS])
    # The test can fail: what comes after the cut does change forecasts made after it.
    assert not np.allclose(a.points.loc[late, "weekly_profile_ar"], b.points.loc[late, "weekly_profile_ar"])
    # Intervals at an origin are calibrated on errors already observed there; use one chosen forecaster.
    errors_a = a.points.assign(error=a.points["weekly_profile_ar"] - a.points["actual"])
    errors_b = b.points.assign(error=b.points["weekly_profile_ar"] - b.points["actual"])
    widths_a, widths_b = sequential_coverage(errors_a).rows, sequential_coverage(errors_b).rows
    at_cut = errors_a["origin"] == cut
    assert widths_a.loc[at_cut, "width80"].notna().all()
    widths = ["width80", "width95"]
    pd.testing.assert_frame_equal(widths_a.loc[at_cut, widths], widths_b.loc[at_cut, widths])
    assert not np.allclose(widths_a["width80"].iloc[-50:], widths_b["width80"].iloc[-50:])


def test_conformal_quantile_needs_enough_errors_for_the_level():
    scores = np.arange(1.0, 20.0)  # 19 errors: the 95% quantile is the largest
    assert conformal_quantile(scores, 95) == 19
    assert np.isnan(conformal_quantile(scores[:18], 95))
    assert conformal_quantile(scores, 80) == 16  # ceil(20 * 0.8) = 16th smallest


def test_an_adapted_level_beyond_the_errors_takes_the_largest_and_keeps_adapting():
    scores = np.arange(1.0, 20.0)
    assert adapted_quantile(scores, 99.9, 95) == 19  # 19 errors support 95%, not 99.9%: the widest
    assert np.isnan(adapted_quantile(scores[:18], 99.9, 95))  # too few even for 95%: no interval
    assert adapted_quantile(scores, 80, 80) == conformal_quantile(scores, 80)
    # A burst of large errors drives the aimed level up past what the errors support; the intervals
    # must stay (the widest) and come back once the errors are small again.
    rng = np.random.default_rng(4)
    error = rng.normal(0, 1, 1500) * np.where((np.arange(1500) >= 400) & (np.arange(1500) < 440), 30, 1)
    rows = sequential_coverage(pd.DataFrame({"origin": np.arange(1500), "lead": 1, "error": error})).rows
    assert rows["width95"].iloc[40:].notna().all()
    assert rows["in95"].iloc[-300:].astype(float).mean() >= 0.9
    assert rows["width95"].iloc[-100:].max() < 5


def test_ew_means_weigh_each_earlier_season_by_the_decay():
    means = _ew_means(np.arange(1.0, 8.0), season=2, decay=0.5)
    np.testing.assert_allclose(means[:2], [1, 2])
    assert means[4] == pytest.approx((5 + 0.5 * 3 + 0.25 * 1) / 1.75)
    assert means[6] == pytest.approx((7 + 0.5 * 5 + 0.25 * 3 + 0.125 * 1) / 1.875)


def test_ew_profile_averages_a_steady_day_and_follows_a_level_that_moved():
    rng = np.random.default_rng(6)
    t = np.arange(24 * 10)
    cycle = 500 + 100 * np.sin(2 * np.pi * t / 24)
    steady = cycle + rng.normal(0, 20, len(t))
    day = np.arange(24)
    truth = 500 + 100 * np.sin(2 * np.pi * day / 24)
    yesterday = np.abs(steady[-24:] - truth).mean()
    # Averaging many days halves (at least) the noise yesterday copies.
    assert np.abs(ew_profile_ar(steady, 24) - truth).mean() < 0.6 * yesterday
    # Down 200 kW for the last three days: the profile weighs those, not the week before (a plain
    # mean of every day would be 140 kW off).
    moved = steady - 200 * (t >= len(t) - 72)
    assert np.abs(ew_profile_ar(moved, 24) - (truth - 200)).mean() < 40


def test_intervals_cover_at_their_nominal_rate_on_exchangeable_errors():
    rng = np.random.default_rng(3)
    index = pd.date_range(START, periods=24 * 60, freq="h")
    t = np.arange(len(index))
    series = pd.Series(500 + 80 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 20, len(t)), index=index)
    result = rolling_backtest(series, step_hours=3)
    cover = result.skill[["coverage_80", "coverage_95"]]
    assert cover["coverage_80"].between(0.75, 0.85).all(), cover
    assert cover["coverage_95"].between(0.92, 0.97).all(), cover
    widths = halfwidths(result.errors, np.array([1, 24, 72]))
    assert (widths[95] > widths[80]).all()


def test_a_model_that_loses_to_a_baseline_is_not_chosen():
    rng = np.random.default_rng(5)
    index = pd.date_range(START, periods=24 * 20, freq="h")
    walk = pd.Series(1000 + np.cumsum(rng.normal(0, 10, len(index))), index=index)
    flat = Model("history_mean", 72, lambda values, steps: np.full(steps, values.mean()))
    result = rolling_backtest(walk, models=(flat,))
    assert not result.beats_baseline and result.chosen == "last_value"
    assert result.skill.loc[24, "history_mean"] > result.skill.loc[24, "last_value"]
    assert (result.skill["mae_ratio"].loc[[1, 24]] == 1).all()
    frame = forecast_series(walk, 24, result)
    assert (frame["mean"] == walk.iloc[-1]).all()


def test_forecast_series_uses_the_chosen_model_with_ordered_intervals():
    series = hall_history(weeks=4, seed=2)["it_load_kw"]
    result = rolling_backtest(series)
    frame = forecast_series(series, 48, result)
    expected = candidate_forecasts(series.to_numpy(), 48)[result.chosen]
    np.testing.assert_allclose(frame["mean"], expected)
    assert frame.index[0] == series.index[-1] + pd.Timedelta(hours=1)
    assert (frame["lo95"] <= frame["lo80"]).all() and (frame["lo80"] < frame["mean"]).all()
    assert (frame["mean"] < frame["hi80"]).all() and (frame["hi80"] <= frame["hi95"]).all()


def test_hourly_rejects_a_series_without_times():
    with pytest.raises(ValueError, match="indexed by time"):
        rolling_backtest(pd.Series(np.arange(500.0)))


@pytest.fixture(scope="module")
def real():
    steps = {"alibaba2018": 1, "taylor": 6}
    return {name: rolling_backtest(load(), name, step_hours=steps[name]) for name, load in TRACES.items()}


@pytest.mark.parametrize("name", sorted(TRACES))
def test_real_traces_beat_the_best_baseline_with_calibrated_intervals(real, name):
    result = real[name]
    skill = result.skill
    assert result.beats_baseline
    assert (skill.loc[[1, 6, 24], "mae_ratio"] < 1).all(), skill
    assert skill.loc[[1, 6, 24], "coverage_80"].between(0.75, 0.85).all(), skill
    assert skill.loc[[1, 24], "coverage_95"].between(0.92, 0.97).all(), skill
    # Alibaba's last day steps up ~100 kW for six hours unannounced: its 95% intervals 6 h ahead cover 91%.
    low = 0.9 if name == "alibaba2018" else 0.92
    assert low <= skill.loc[6, "coverage_95"] <= 0.97, skill


def test_taylor_day_ahead_error_is_within_0_8_of_the_best_baseline(real):
    skill = real["taylor"].skill
    assert skill.loc[24, "best_baseline"] == "last_week"
    assert skill.loc[24, "mae_ratio"] <= 0.8
    # Calibrated on the last two weeks of errors, the intervals hold out to 72 h on the long trace.
    assert skill["coverage_80"].between(0.75, 0.85).all() and skill["coverage_95"].between(0.92, 0.97).all()
    # Alibaba misses 0.8 (docs/forecasts.md says why); the recency-weighted profile keeps it near 0.84.
    assert real["alibaba2018"].chosen == "ew_profile_ar"
    assert real["alibaba2018"].skill.loc[24, "mae_ratio"] < 0.86
    # Last week is missing before two weeks of data, so it is left out on the 8-day Alibaba trace.
    assert np.isnan(real["alibaba2018"].skill.loc[24, "last_week"])


def test_intervals_forget_errors_older_than_the_calibration_window():
    rng = np.random.default_rng(9)
    errors = pd.DataFrame({"origin": np.arange(2000), "lead": 1, "error": rng.normal(0, 1, 2000)})
    recent = halfwidths(errors, np.array([1]))
    old = errors.assign(error=errors["error"].where(errors["origin"] >= 2000 - CALIBRATION_HOURS, 1e6))
    pd.testing.assert_frame_equal(halfwidths(old, np.array([1])), recent)
    assert recent.loc[1, 80] == pytest.approx(1.28, abs=0.15)
    wider = errors.assign(error=errors["error"] * np.where(errors["origin"] >= 1990, 50, 1))
    assert halfwidths(wider, np.array([1])).loc[1, 95] > recent.loc[1, 95]
