import numpy as np
import pandas as pd
import pytest

from planner.domain.backtest import (
    backtest_cooling,
    backtest_failure_risk,
    seasonal_naive,
)
from planner.domain.cooling_forecast import HallCooling
from tests.unit.forecasts.synthetic import START, hall_history

HALL = HallCooling("hall-a", 1500, 4, "N+1")


def test_seasonal_naive_uses_the_same_hour_one_season_back():
    series = pd.Series(np.arange(400.0), index=pd.date_range(START, periods=400, freq="h"))
    origin = series.index[299]
    naive = seasonal_naive(series, origin, horizon_hours=30, season_hours=24)
    # Hours 300..323 take 276..299; hours 324..329 are two days back (only data up to the origin).
    assert naive.iloc[0] == 276 and naive.iloc[23] == 299 and naive.iloc[24] == 276
    assert naive.index[0] == origin + pd.Timedelta(hours=1)


def test_forecast_beats_seasonal_naive_on_trend_season_and_noise():
    result = backtest_cooling(hall_history(seed=3), HALL, horizon_hours=24)
    m = result.metrics
    assert result.season_hours == 168 and len(result.origins) == 14
    assert m["beats_baseline"].all()
    assert (m["mae_ratio"] < 0.9).all()
    np.testing.assert_allclose(m["mae_ratio"], m["mae"] / m["baseline_mae"])
    assert m["coverage_95"].between(0.8, 1).all() and (m["coverage_95"] > m["coverage_80"]).all()


def test_baseline_error_computed_by_hand_for_one_origin():
    history = hall_history(seed=4)
    origin = history.index[-25]
    result = backtest_cooling(history, HALL, horizon_hours=24, origins=[origin])
    actual = history["it_load_kw"].iloc[-24:].to_numpy()
    week_ago = history["it_load_kw"].iloc[-24 - 168 : -168].to_numpy()
    assert result.metrics.loc["it_load_kw", "baseline_mae"] == pytest.approx(np.abs(actual - week_ago).mean())
    assert result.metrics.loc["it_load_kw", "baseline_mape"] == pytest.approx(
        100 * np.mean(np.abs(actual - week_ago) / actual)
    )


def test_failure_backtest_against_base_rate():
    rng = np.random.default_rng(0)
    p = rng.beta(0.5, 30, 50_000)
    failed = rng.random(len(p)) < p
    informed = backtest_failure_risk(p, failed)
    assert informed.beats_baseline and informed.brier_skill > 0
    assert informed.base_rate == pytest.approx(failed.mean())
    rel = informed.reliability
    assert len(rel) == 10 and rel["gpus"].sum() == len(p)
    np.testing.assert_allclose(rel["observed_rate"], rel["mean_predicted"], atol=0.02)
    flat = backtest_failure_risk(np.full(len(p), p.mean()), failed)
    assert not flat.beats_baseline or flat.brier_skill == pytest.approx(0, abs=1e-4)
    noise = backtest_failure_risk(rng.permutation(p), failed)
    assert not noise.beats_baseline
