"""The reading rules of telemetry.validation, without a database."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from telemetry.validation import (
    event_problems,
    gpu_metric_columns,
    gpu_reading_problems,
    gpu_value_columns,
    point_reading_problems,
    unit_problem,
    value_problem,
)
from telemetry.vocabulary import GPU_METRICS, EventReading, GpuReading, PointReading

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


def test_value_columns_keep_every_metric_of_readings_shaped_like_the_first():
    """The one-pass transpose (every reading has the first one's metrics) must not apply when a reading has as
    many metrics but another one: that value would be lost, or an unknown metric let through."""
    dtypes = {m: np.float64 for m in GPU_METRICS}
    same = [{"gpu_util": 1, "gpu_power": 2.5}, {"gpu_util": 3, "gpu_power": 4}]
    columns, present, ok = gpu_value_columns(same, dtypes)
    assert ok.all() and columns["gpu_power"].tolist() == [2.5, 4] and set(columns) == {"gpu_util", "gpu_power"}
    mixed = [*same, {"gpu_util": 5, "gpu_temp": 40}, {"gpu_util": 6, "gpu_flux": 1}]
    columns, present, ok = gpu_value_columns(mixed, dtypes)
    assert ok.tolist() == [True, True, True, False]
    assert present["gpu_temp"].tolist() == [False, False, True, False] and columns["gpu_temp"][2] == 40


def test_metric_columns_take_absent_cells_as_missing_values():
    """A columnar push: None is a missing value, an unknown metric's value fails its reading, a reading with no
    value at all fails."""
    dtypes = {m: np.float64 for m in GPU_METRICS}
    metrics = {"gpu_util": [1, None, None, 7], "gpu_flux": [None, None, 2, None], "gpu_temp": [None, 30, None, True]}
    columns, present, ok = gpu_metric_columns(metrics, 4, dtypes, absent=None)
    assert ok.tolist() == [True, True, False, False]
    assert present["gpu_util"].tolist() == [True, False, False, True] and columns["gpu_temp"][1] == 30
