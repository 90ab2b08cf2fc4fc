import numpy as np
import pytest

from physics.thermal import (
    H100_SXM,
    ThermalResponse,
    fit_thermal_response,
    simulate_temperature,
)
from tests.unit.forecasts.traces import nvml_thermal


@pytest.mark.parametrize("immediate", [0.0, 0.4])
def test_fit_recovers_a_synthetic_first_order_system(immediate):
    truth = ThermalResponse(30.0, 0.06, 25.0, 100.0, 700.0, immediate_fraction=immediate)
    rng = np.random.default_rng(0)
    time_s = np.arange(0, 900, 0.5)
    power = np.repeat(rng.choice([100.0, 400.0, 700.0], 30), len(time_s) // 30)
    temp = simulate_temperature(truth, power, 0.5) + rng.normal(0, 0.2, len(power))
    fit = fit_thermal_response(time_s, power, temp)
    assert fit.time_constant_s == pytest.approx(25.0, rel=0.05)
    assert fit.rise_c_per_w == pytest.approx(0.06, rel=0.02)
    assert fit.intercept_c == pytest.approx(30.0, abs=0.5)
    assert fit.immediate_fraction == pytest.approx(immediate, abs=0.03)
    assert fit.rmse_c == pytest.approx(0.2, abs=0.03)


def test_fit_on_the_real_h100_trace_is_sensible_and_matches_the_shipped_constants():
    fit = fit_thermal_response(*nvml_thermal("h100-nvml-trace"))
    # README: idle ~125 W at 38-40 C, full ~690 W at 72-73 C, time constant tens of seconds.
    assert 110 < fit.idle_power_w < 140 and 670 < fit.full_power_w < 700
    assert 37 < fit.idle_temp_c < 42 and 70 < fit.full_temp_c < 76
    assert 5 < fit.time_constant_s < 60
    assert fit.rmse_c < 2.5
    for field in ("intercept_c", "rise_c_per_w", "time_constant_s", "immediate_fraction"):
        assert getattr(fit, field) == pytest.approx(getattr(H100_SXM, field), rel=0.01, abs=0.01)


def test_simulation_starts_where_told_and_settles_at_steady_state():
    power = np.full((600, 2), 700.0)
    temp = simulate_temperature(H100_SXM, power, 1.0, initial_c=np.array([40.0, 50.0]))
    np.testing.assert_allclose(temp[0], [40.0, 50.0])
    np.testing.assert_allclose(temp[-1], H100_SXM.steady_temp_c(700.0), atol=0.01)
    assert (np.diff(temp[:, 0]) >= 0).all()
    # Coarse steps (the demo simulator's 10 s) agree with fine ones at the same instants.
    fine = simulate_temperature(H100_SXM, np.repeat([125.0, 700.0, 300.0], 600), 0.1)
    coarse = simulate_temperature(H100_SXM, np.repeat([125.0, 700.0, 300.0], 6), 10.0)
    np.testing.assert_allclose(coarse, fine[::100], atol=1e-9)
