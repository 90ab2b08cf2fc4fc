import numpy as np
import pandas as pd
import pytest

from planner.domain.cooling_forecast import (
    HallCooling,
    InsufficientHistory,
    cooling_alerts,
    forecast_cooling,
)
from tests.unit.forecasts.synthetic import START, hall_history

HALL = HallCooling("hall-a", cooling_capacity_kw=1500, cooling_units=4, redundancy="N+1")


def sine_history(noise_kw: float, weeks: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range(START, periods=weeks * 168, freq="h")
    t = np.arange(len(index))
    it = 600 + 100 * np.sin(2 * np.pi * t / 24) + rng.normal(0, noise_kw, len(t))
    cooling = 1.1 * it + rng.normal(0, noise_kw / 2 + 0.01, len(t))
    inlet = 20 + 6 * cooling / HALL.redundant_capacity_kw + rng.normal(0, 0.05, len(t))
    return pd.DataFrame({"it_load_kw": it, "cooling_load_kw": cooling, "max_inlet_c": inlet}, index=index)


def width(frame: pd.DataFrame, column: str, level: int = 95) -> pd.Series:
    return frame[f"{column}_hi{level}"] - frame[f"{column}_lo{level}"]


def test_pure_daily_sine_is_forecast_closely():
    history = sine_history(noise_kw=0.1)
    fc = forecast_cooling(history, HALL, history.index[-1], horizon_hours=48).frame
    t = np.arange(len(history), len(history) + 48)
    expected = 600 + 100 * np.sin(2 * np.pi * t / 24)
    assert len(fc) == 48 and fc.index[0] == history.index[-1] + pd.Timedelta(hours=1)
    assert np.abs(fc["it_load_kw"].to_numpy() - expected).max() < 1.0
    assert np.abs(fc["cooling_load_kw"].to_numpy() - 1.1 * expected).max() < 2.0


def test_intervals_widen_with_noise_and_contain_the_mean():
    quiet = forecast_cooling(sine_history(1.0), HALL, sine_history(1.0).index[-1], 72).frame
    noisy = forecast_cooling(sine_history(10.0), HALL, sine_history(10.0).index[-1], 72).frame
    for column in ("it_load_kw", "cooling_load_kw"):
        assert width(noisy, column).mean() > 3 * width(quiet, column).mean()
    # Inlet noise is the same in both; its interval widens only through the noisier cooling load.
    assert width(noisy, "max_inlet_c").mean() > 1.2 * width(quiet, "max_inlet_c").mean()
    for column in ("it_load_kw", "cooling_load_kw", "max_inlet_c"):
        assert (width(noisy, column, 80) < width(noisy, column, 95)).all()
        assert ((noisy[f"{column}_lo80"] < noisy[column]) & (noisy[column] < noisy[f"{column}_hi80"])).all()


def test_cooling_load_tracks_it_load():
    history = hall_history(cooling_per_it=1.15)
    fc = forecast_cooling(history, HALL, history.index[-1], 168)
    assert fc.cooling_per_it == pytest.approx(1.15, abs=0.03)
    ratio = fc.frame["cooling_load_kw"] / fc.frame["it_load_kw"]
    assert ratio.between(1.1, 1.2).all()
    assert np.corrcoef(fc.frame["cooling_load_kw"], fc.frame["it_load_kw"])[0, 1] > 0.95


def test_inlet_forecast_rises_with_load_over_capacity():
    history = hall_history(capacity_kw=1500)
    fc = forecast_cooling(history, HALL, history.index[-1], 168)
    # Synthetic inlet = 18 + 8 * cooling / 1500 + ..., and utilisation is cooling / 1125 kW
    # (N+1 of 4 units), so the fitted rise per unit of utilisation is 8 * 1125 / 1500 = 6 C.
    assert fc.inlet_c_per_utilisation == pytest.approx(6.0, abs=1.0)
    utilisation = fc.frame["cooling_load_kw"] / HALL.redundant_capacity_kw
    assert np.corrcoef(utilisation, fc.frame["max_inlet_c"])[0, 1] > 0.8
    # A hall loaded more heavily in the same building runs warmer.
    heavy = forecast_cooling(hall_history(base_kw=1000, capacity_kw=1500), HALL, history.index[-1])
    assert (heavy.frame["max_inlet_c"] > fc.frame["max_inlet_c"]).mean() > 0.95


def test_rows_after_as_of_are_ignored_and_gaps_are_forecast_through():
    history = hall_history(weeks=4)
    as_of = history.index[-50]
    full = forecast_cooling(history, HALL, as_of, 24).frame
    cut = forecast_cooling(history[history.index <= as_of], HALL, as_of, 24).frame
    pd.testing.assert_frame_equal(full, cut)
    stale = forecast_cooling(history[history.index <= as_of - pd.Timedelta(hours=5)], HALL, as_of, 24)
    assert stale.frame.index[0] == as_of + pd.Timedelta(hours=1) and len(stale.frame) == 24


def test_short_history_is_refused():
    with pytest.raises(InsufficientHistory):
        history = hall_history(weeks=1).iloc[:48]
        forecast_cooling(history, HALL, history.index[-1], 24)


def test_redundant_capacity():
    assert HALL.redundant_capacity_kw == 1125
    assert HallCooling("h", 1000, redundancy="2N").redundant_capacity_kw == 500
    assert HallCooling("h", 1000).redundant_capacity_kw == 1000


def test_alerts_fire_on_upper_bound_with_stable_dedup_keys():
    history = hall_history(capacity_kw=3000)  # cooling peaks near 1200 kW, inlet near 25 C
    roomy = HallCooling("hall-a", 2500, 4, "N+1", "A1")
    assert cooling_alerts(forecast_cooling(history, roomy, history.index[-1], 48), roomy) == []
    small = HallCooling("hall-a", 1400, 4, "N+1", "A1")  # 1050 kW with one unit down
    tight = cooling_alerts(forecast_cooling(history, small, history.index[-1], 48), small)
    kinds = {a.kind: a for a in tight}
    redundancy = kinds["cooling_redundancy"]
    assert redundancy.dedup_key == "hall-a:cooling_redundancy:1050"
    assert redundancy.margin == pytest.approx(1050 - redundancy.peak) and redundancy.margin < 0
    assert redundancy.start <= redundancy.peak_at <= redundancy.end
    # The same condition seen from a later run keeps its key, so it stays one alert.
    rerun = cooling_alerts(forecast_cooling(history, small, history.index[-5], 48), small)
    assert "hall-a:cooling_redundancy:1050" in {a.dedup_key for a in rerun}
    assert len({a.dedup_key for a in tight}) == len(tight)


def test_inlet_alerts_use_ashrae_limits_and_class():
    history = hall_history(capacity_kw=3000)
    history["max_inlet_c"] += 8  # peaks ~33 C: above recommended 27 and A1's 32, below A3's 40
    keys = {}
    for ashrae_class in ("A1", "A3"):
        hall = HallCooling("hall-b", 2500, 4, "N+1", ashrae_class)
        fc = forecast_cooling(history, hall, history.index[-1], 48)
        keys[ashrae_class] = {a.dedup_key for a in cooling_alerts(fc, hall)}
    assert keys["A1"] == {"hall-b:inlet_recommended:27", "hall-b:inlet_allowable:32"}
    assert keys["A3"] == {"hall-b:inlet_recommended:27"}
