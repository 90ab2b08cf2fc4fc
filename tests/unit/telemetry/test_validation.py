"""The reading rules of telemetry.validation, without a database."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from telemetry.validation import (
    event_problems,
    gpu_reading_problems,
    point_reading_problems,
    unit_problem,
    value_problem,
)
from telemetry.vocabulary import EventReading, GpuReading, PointReading

NOW = datetime(2025, 1, 1, tzinfo=UTC)
OLDEST = NOW - timedelta(days=7)


@pytest.mark.parametrize(
    ("metric", "value", "fragment"),
    [
        ("gpu_util", math.nan, "finite"),
        ("gpu_power", math.inf, "finite"),
        ("gpu_power", -0.1, "negative"),
        ("gpu_ecc_dbe", -1, "negative"),
        ("gpu_ecc_sbe", 1.5, "whole number"),
        ("gpu_util", 100.5, "exceeds"),
        ("gpu_remap_pending", 2, "exceeds"),
        ("gpu_temp", 900, "exceeds"),
        ("node_fan", -10, "negative"),
        ("gpu_util", "50", "expected a number"),
        ("gpu_util", True, "expected a number"),
        ("gpu_sm_clock", 1e20, "exceeds"),
        ("gpu_sm_clock", 1410.5, "whole number"),
        ("gpu_power", 1e300, "exceeds"),
    ],
)
def test_impossible_values_are_named(metric, value, fragment):
    assert fragment in value_problem(metric, value)


@pytest.mark.parametrize(
    ("metric", "value"), [("gpu_util", 0), ("gpu_power", 700.25), ("site_outdoor_temp", -20.0), ("gpu_ecc_sbe", 3.0)]
)
def test_plausible_values_pass(metric, value):
    assert value_problem(metric, value) is None


def test_units_must_match_the_vocabulary():
    assert unit_problem("gpu_power", "W") is None
    assert unit_problem("gpu_power", None) is None
    assert "measured in 'W'" in unit_problem("gpu_power", "kW")
    assert "unknown metric" in unit_problem("gpu_watts", "W")


def test_timestamps_outside_the_window_or_without_zone_are_rejected():
    def fields(ts):
        return [f for f, _ in gpu_reading_problems(GpuReading("GPU-x", ts, {"gpu_util": 1}), NOW, OLDEST)]

    assert fields(NOW + timedelta(minutes=4)) == []
    assert fields(NOW + timedelta(minutes=6)) == ["ts"]
    assert fields(OLDEST - timedelta(seconds=1)) == ["ts"]
    assert fields(NOW.replace(tzinfo=None)) == ["ts"]


def test_every_problem_of_an_item_is_reported():
    reading = GpuReading("", NOW, {"gpu_util": -1, "gpu_zap": 1})
    assert [f for f, _ in gpu_reading_problems(reading, NOW, OLDEST)] == ["gpu_uuid", "gpu_util", "gpu_zap"]
    point = PointReading("moon", "", "node_power", NOW, -1)
    assert [f for f, _ in point_reading_problems(point, NOW, OLDEST)] == ["entity_kind", "entity", "value"]
    event = EventReading("xid", NOW, code=1.5)
    assert [f for f, _ in event_problems(event, NOW, OLDEST)] == ["code", "gpu_uuid"]
