"""The thermal path backtested on the real H100 trace (tests/fixtures/h100-nvml-trace): GPU temperature
seconds ahead from a thermal response refitted at each origin, against the last value."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.domain.backtest import THERMAL_HORIZONS_S, backtest_thermal

TRACE = Path(__file__).resolve().parents[2] / "fixtures" / "h100-nvml-trace" / "trace.csv"


@pytest.fixture(scope="module")
def trace():
    frame = pd.read_csv(TRACE)
    return frame["t_s"].to_numpy(), frame["power_mw"].to_numpy() / 1000, frame["temp_gpu_c"].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def result(trace):
    return backtest_thermal(*trace)


def test_known_power_beats_the_last_value_at_every_horizon_with_calibrated_intervals(result):
    skill = result.skill
    assert list(skill.index) == list(THERMAL_HORIZONS_S)
    # The stepped load moves the temperature by ~30 C within a minute: a response that knows the
    # power to come should beat "temperature stays" by far once the lag matters.
    assert (skill["mae_ratio"] < 0.9).all()
    assert skill.at[30, "mae_ratio"] < 0.5 and skill.at[60, "mae_ratio"] < 0.5
    # Power held at its value at the origin cannot see the next step: knowing it is what helps.
    assert (skill["held_ratio"] > skill["mae_ratio"]).all()
    assert skill["coverage_80"].between(0.75, 0.85).all()
    assert skill["coverage_95"].between(0.92, 0.97).all()
    np.testing.assert_allclose(skill["mae_ratio"], skill["schedule"] / skill["last_value"])


def test_no_look_ahead_in_temperature(trace, result):
    time_s, power_w, temp_c = trace
    cut = 300.0  # seconds; temperatures after it are replaced by noise
    noisy = temp_c.copy()
    later = time_s >= cut
    noisy[later] += np.random.default_rng(0).normal(0, 3.0, later.sum())
    changed = backtest_thermal(time_s, power_w, noisy)
    columns = ["origin", "lead", "schedule", "held", "last_value"]
    before = result.points["origin"] < cut - 1
    pd.testing.assert_frame_equal(changed.points.loc[before, columns], result.points.loc[before, columns])
    after = changed.points["origin"] >= cut
    assert not np.allclose(changed.points.loc[after, "schedule"], result.points.loc[after, "schedule"])


def test_a_trace_shorter_than_the_training_span_is_refused(trace):
    time_s, power_w, temp_c = trace
    short = time_s < 50
    with pytest.raises(ValueError, match="min_train_s"):
        backtest_thermal(time_s[short], power_w[short], temp_c[short])
