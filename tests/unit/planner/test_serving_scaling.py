"""Scaling plan (planner.domain.scaling): the worked example of docs/serving.md, profiles, burst, bad input."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from planner.domain.scaling import (
    WEEKS_PER_MONTH,
    ReplicaCost,
    ScalingPolicy,
    diurnal_week,
    measured_week,
    plan_week,
    token_api_week,
)
from reference.catalog import InvalidInputError, TokenPrice

COST = ReplicaCost(
    gpus_per_replica=2,
    capacity_requests_per_s=10,
    gpu_idle_w=100,
    gpu_busy_w=600,
    pue=1.5,
    electricity_usd_per_kwh=0.1,
    owned_usd_per_gpu_hour=1.0,
    rented_usd_per_gpu_hour=3.0,
)


def test_worked_example_by_hand():
    # 10 req/s all week except Monday 12:00-15:00 at 30 req/s; a replica (2 GPUs) carries 10 req/s.
    demand = np.full(168, 10.0)
    demand[12:15] = 30.0
    plan = plan_week(demand, COST, ScalingPolicy(headroom=0.0, min_replicas=1, startup_minutes=15))
    assert plan.replicas[11:16] == (1, 3, 3, 3, 1) and plan.static_replicas == 3
    # planned: (165 x 1 + 3 x 3) replica-hours x 2 GPUs + 2 replicas started once x 2 GPUs x 0.25 h
    assert plan.planned.gpu_hours == pytest.approx(174 * 2 + 2 * 2 * 0.25)
    assert plan.static.gpu_hours == 3 * 168 * 2
    # every planned replica runs full (600 W), booting ones idle (100 W); x PUE 1.5
    assert plan.planned.kwh == pytest.approx((348 * 600 + 1 * 100) / 1000 * 1.5)
    # static: 3 replicas at 1/3 load most hours -> 100 + 500/3 W per GPU
    static_w = 165 * 6 * (100 + 500 / 3) + 3 * 6 * 600
    assert plan.static.kwh == pytest.approx(static_w / 1000 * 1.5)
    saved = plan.savings()
    assert saved["gpu_hours_per_week"] == pytest.approx(1008 - 349)
    assert saved["rented_usd_per_month"] == pytest.approx((1008 - 349) * 3.0 * WEEKS_PER_MONTH)
    assert saved["gpu_hours_pct"] == pytest.approx(100 * 659 / 1008)


def test_headroom_and_minimum():
    plan = plan_week(np.full(168, 10.0), COST, ScalingPolicy(headroom=0.2, min_replicas=3))
    assert set(plan.replicas) == {3}
    plan = plan_week(np.full(168, 10.0), COST, ScalingPolicy(headroom=0.2, min_replicas=1))
    assert set(plan.replicas) == {2}  # 12 req/s needs two replicas of 10


def test_measured_history_and_burst():
    demand = diurnal_week(20, 2.5)
    history = np.full(168, 6.0)
    plan = plan_week(demand, COST, ScalingPolicy(max_replicas=4), measured_replicas=history)
    assert plan.measured.gpu_hours == 6 * 168 * 2
    wide = plan_week(demand, COST, ScalingPolicy(), measured_replicas=history, measured_gpus_per_replica=4)
    assert wide.measured.gpu_hours == 6 * 168 * 4  # the deployment's replicas are 4 GPUs, the plan's 2
    assert plan.savings("measured")["gpu_hours_per_week"] == pytest.approx(6 * 168 * 2 - plan.planned.gpu_hours)
    over = np.maximum(np.array(plan.replicas) - 4, 0)
    assert plan.burst_gpu_hours == over.sum() * 2 > 0
    assert plan.burst_usd == plan.burst_gpu_hours * 3.0
    assert plan.burst_hours_share == pytest.approx((over > 0).mean())
    everything = plan_week(demand, COST, ScalingPolicy(max_replicas=0))  # owned GPUs hold no whole replica
    assert everything.burst_gpu_hours == sum(everything.replicas) * 2 and everything.burst_hours_share == 1
    with pytest.raises(InvalidInputError, match="no measured history"):
        plan_week(demand, COST).savings("measured")


def test_diurnal_week_keeps_mean_and_peak_ratio():
    for ratio in (1.0, 1.5, 2.5, 4.0):
        week = diurnal_week(10, ratio, peak_hour=14, weekend_factor=0.5)
        monday = week[:24]
        assert monday.mean() == pytest.approx(10) and monday.max() == pytest.approx(10 * ratio)
        assert (week >= 0).all() and (ratio == 1 or monday.argmax() == 14)
        assert week[5 * 24 : 6 * 24] == pytest.approx(monday * 0.5)


def test_measured_week_averages_hours_of_week_and_fills_gaps():
    start = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
    ts = [start + timedelta(minutes=30 * i) for i in range(2 * 336)]  # two weeks, every 30 min
    rates = [float((t.hour + 1) * (2 if t.weekday() < 5 else 1)) for t in ts]
    week = measured_week(ts, rates)
    assert week[14] == 30 and week[5 * 24 + 14] == 15
    # drop Sunday: its hours take the mean of the same hour of day over the other days
    kept = [(t, r) for t, r in zip(ts, rates, strict=True) if t.weekday() != 6]
    week = measured_week([t for t, _ in kept], [r for _, r in kept])
    assert week[6 * 24 + 3] == pytest.approx(4 * (2 * 10 + 2) / 12)
    with pytest.raises(InvalidInputError, match="hour"):
        measured_week([start], [1.0])
    with pytest.raises(InvalidInputError, match="time zone"):
        measured_week([datetime(2026, 11, 2)], [1.0])


def test_bad_input_names_the_field():
    with pytest.raises(InvalidInputError, match="168 hourly"):
        plan_week([1.0] * 24, COST)
    with pytest.raises(InvalidInputError, match="hour 3"):
        plan_week([1.0] * 3 + [float("nan")] + [1.0] * 164, COST)
    with pytest.raises(InvalidInputError, match="startup_minutes"):
        ScalingPolicy(startup_minutes=90)
    with pytest.raises(InvalidInputError, match="gpu_busy_w"):
        ReplicaCost(1, 1, 500, 100)


def test_a_week_bought_by_the_token_is_priced_per_request_by_hand():
    price = TokenPrice("api", "m", "offer", 0.2, 0.6, "2026-01", "test")
    week = token_api_week([2.0] * 168, 1000, 250, price)  # 2 req/s all week
    requests = 2.0 * 168 * 3600
    assert week == pytest.approx(requests * (1000 * 0.2 + 250 * 0.6) / 1e6)
    assert token_api_week([0.0] * 168, 1000, 250, price) == 0
