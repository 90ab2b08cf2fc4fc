"""First-order thermal response of a GPU: temperature (C) from board power (W).

T = intercept_c + rise_c_per_w * (f * P + (1 - f) * S), where S follows power with one time
constant, dS/dt = (P - S) / tau, and f (`immediate_fraction`) is the share of the rise that appears
within a sample or two (die to sensor: on the real H100 trace about half of a step arrives in ~1 s).
With f = 0 this is the plain first-order lag. Constants for an H100 SXM were fitted on a real NVML
trace (tests/fixtures/h100-nvml-trace, docs/forecasts.md); the demo simulator uses them to give
simulated GPUs a believable temperature. They are one GPU's: another H100 (tests/fixtures/
h100-nvml-random) runs cooler per watt and is 5.8 C RMSE off them, so fit real GPUs one by one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ThermalResponse:
    """Fitted first-order response.

    intercept_c: steady temperature extrapolated to 0 W (C), set by inlet air and cooling.
    rise_c_per_w: steady temperature rise per watt of board power (C/W).
    time_constant_s: time constant of the lagging part of the rise (s).
    immediate_fraction: share of the steady rise that follows power at once (0..1).
    idle_power_w, full_power_w: typical board power at idle and at full load (W).
    rmse_c: root-mean-square error of the fit on its trace (C); 0 when not fitted.
    """

    intercept_c: float
    rise_c_per_w: float
    time_constant_s: float
    idle_power_w: float
    full_power_w: float
    immediate_fraction: float = 0.0
    rmse_c: float = 0.0

    def steady_temp_c(self, power_w: float) -> float:
        """Temperature (C) reached after holding `power_w` (W) for many time constants."""
        return self.intercept_c + self.rise_c_per_w * power_w

    @property
    def idle_temp_c(self) -> float:
        return self.steady_temp_c(self.idle_power_w)

    @property
    def full_temp_c(self) -> float:
        return self.steady_temp_c(self.full_power_w)


# Fitted with fit_thermal_response on tests/fixtures/h100-nvml-trace/trace.csv (H100 80GB HBM3 SXM,
# 700 W cap); tests/unit/physics/test_thermal.py checks that the fit still gives these numbers.
H100_SXM = ThermalResponse(
    intercept_c=31.99,
    rise_c_per_w=0.0593,
    time_constant_s=14.9,
    idle_power_w=125.8,
    full_power_w=693.6,
    immediate_fraction=0.50,
    rmse_c=1.71,
)


def simulate_temperature(
    response: ThermalResponse,
    power_w: np.ndarray,
    dt_s: float | np.ndarray,
    initial_c: float | np.ndarray | None = None,
) -> np.ndarray:
    """GPU temperature (C) for a power series (W) sampled every `dt_s` seconds.

    `power_w` is 1-D (time) or 2-D (time x GPUs); power is held constant over each step (exact
    zero-order-hold solution, stable for any step). `dt_s` is a scalar or one interval per step
    (len(power_w) - 1). Starts at `initial_c`, or at the steady state of the first power sample.
    Throttling (slowdown at 89 C on an H100) is not modelled.
    """
    r = response
    power = np.asarray(power_w, dtype=float)
    lagged = _low_pass(power, dt_s, r.time_constant_s)
    if initial_c is not None:
        # Move the lagging state so that the first temperature equals initial_c; the offset then
        # decays with the time constant.
        start = ((initial_c - r.intercept_c) / r.rise_c_per_w - r.immediate_fraction * power[0]) / (
            1 - r.immediate_fraction
        )
        n = power.shape[0]
        dt = np.broadcast_to(np.asarray(dt_s, dtype=float), (max(n - 1, 0),))
        elapsed = np.concatenate([[0.0], np.cumsum(dt)])
        decay = np.exp(-elapsed / r.time_constant_s).reshape((n,) + (1,) * (power.ndim - 1))
        lagged = lagged + (start - power[0]) * decay
    f = r.immediate_fraction
    return r.intercept_c + r.rise_c_per_w * (f * power + (1 - f) * lagged)


def _low_pass(power: np.ndarray, dt_s, tau_s: float) -> np.ndarray:
    """Unit-gain first-order lag of `power` (held over each step), starting at steady state."""
    n = power.shape[0]
    decay = np.exp(-np.broadcast_to(np.asarray(dt_s, dtype=float), (max(n - 1, 0),)) / tau_s)
    out = np.empty_like(power)
    out[0] = power[0]
    for k in range(n - 1):
        out[k + 1] = power[k] + (out[k] - power[k]) * decay[k]
    return out


def _fit_for_tau(tau: float, time_s, power, temp) -> tuple[np.ndarray, float]:
    """Least-squares (intercept, immediate rise, lagged rise) for a given tau, and the SSE."""
    design = np.column_stack([np.ones_like(power), power, _low_pass(power, np.diff(time_s), tau)])
    coef, *_ = np.linalg.lstsq(design, temp, rcond=None)
    return coef, float(np.sum((temp - design @ coef) ** 2))


def fit_thermal_response(time_s: np.ndarray, power_w: np.ndarray, temp_c: np.ndarray) -> ThermalResponse:
    """Fit a ThermalResponse to a trace of time (s), board power (W) and GPU temperature (C).

    Separable least squares: for a given time constant the model is linear in the intercept and the
    immediate and lagged rises, so only tau is searched (golden section on log tau, 1 s to 30 min).
    The trace should start near steady state (the simulation starts there). idle/full power are
    the medians of the lowest and highest fifth of the power samples.
    """
    time_s, power, temp = (np.asarray(a, dtype=float) for a in (time_s, power_w, temp_c))
    lo, hi = math.log(1.0), math.log(1800.0)
    golden = (math.sqrt(5) - 1) / 2
    a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
    fa, fb = (_fit_for_tau(math.exp(x), time_s, power, temp)[1] for x in (a, b))
    for _ in range(40):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - golden * (hi - lo)
            fa = _fit_for_tau(math.exp(a), time_s, power, temp)[1]
        else:
            lo, a, fa = a, b, fb
            b = lo + golden * (hi - lo)
            fb = _fit_for_tau(math.exp(b), time_s, power, temp)[1]
    tau = math.exp((lo + hi) / 2)
    (intercept, immediate, lagged), sse = _fit_for_tau(tau, time_s, power, temp)
    q20, q80 = np.quantile(power, [0.2, 0.8])
    return ThermalResponse(
        intercept_c=float(intercept),
        rise_c_per_w=float(immediate + lagged),
        time_constant_s=tau,
        immediate_fraction=float(immediate / (immediate + lagged)),
        idle_power_w=float(np.median(power[power <= q20])),
        full_power_w=float(np.median(power[power >= q80])),
        rmse_c=math.sqrt(sse / len(temp)),
    )
