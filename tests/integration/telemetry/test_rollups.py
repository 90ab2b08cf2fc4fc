"""Rollups equal pandas' resample of the same samples, at every level, and re-runs change nothing.

Two implementations: SQL on PostgreSQL, pandas on SQLite (the embedded default). Run this module on both:

    TEST_DATABASE_NAME=test_x .venv/bin/pytest tests/integration/telemetry/test_rollups.py
    TEST_DATABASE_URL=sqlite:////tmp/headroom-test-data/rollups.sqlite3 \
        .venv/bin/pytest tests/integration/telemetry/test_rollups.py
"""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.test import override_settings

from telemetry import rollups
from telemetry.ingest import ingest
from telemetry.models import GpuRollup, HallRollup, Resolution, SeriesRollup
from telemetry.vocabulary import GPU_METRICS, Batch, GpuReading, PointReading
from tests.base import three_gpus

START = datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=2)
NOW = END + timedelta(minutes=1)


@pytest.fixture
def fleet(world):
    """Two GPUs on a node that reports its own power, one GPU on a node that does not; 2 h at 10 s."""
    rng = np.random.default_rng(7)
    gpus = three_gpus(world.a, "1111")
    stamps = pd.date_range(START, END, freq="10s", inclusive="left")
    gpu_rows, points = [], []
    for gpu in gpus:
        for ts in stamps:
            values = {"gpu_util": float(rng.integers(0, 101)), "gpu_power": float(rng.uniform(80, 700))}
            if rng.random() < 0.2:
                del values["gpu_power"]  # a missed field: counts must say so
            gpu_rows.append((gpu.id, ts, values))
    node_power = rng.uniform(3000, 9000, size=len(stamps))
    inlet = rng.uniform(18, 30, size=len(stamps))
    for i, ts in enumerate(stamps[::3]):
        points.append(PointReading("node", world.a.node.hostname, "node_power", ts.to_pydatetime(), node_power[i]))
        points.append(PointReading("node", world.a.node.hostname, "node_inlet_temp", ts.to_pydatetime(), inlet[i]))
    uuid = {g.id: g.uuid for g in gpus}
    batch = Batch(
        gpu_readings=[GpuReading(uuid[g], ts.to_pydatetime(), v) for g, ts, v in gpu_rows], point_readings=points
    )
    assert ingest(world.a.org, batch, now=NOW).rejected == 0
    frame = pd.DataFrame([{"gpu_id": g, "ts": ts, **v} for g, ts, v in gpu_rows])
    point_frame = pd.DataFrame([{"metric": p.metric, "ts": pd.Timestamp(p.ts), "value": p.value} for p in points])
    return world, gpus, frame, point_frame


def _expected(frame, column, freq):
    return (
        frame.set_index("ts")[column]
        .resample(freq)
        .agg(["min", "max", "mean", "last", "count"])
        .query("`count` > 0")  # a bucket with no value of this metric has no stats
    )


def _refresh_all():
    for resolution in rollups.LEVELS:
        rollups.rollup_range(resolution, START, END)


@pytest.mark.parametrize(("resolution", "freq"), [(60, "1min"), (300, "5min"), (3600, "1h")])
def test_gpu_and_series_rollups_equal_pandas_resample(fleet, resolution, freq):
    world, gpus, frame, point_frame = fleet
    _refresh_all()
    for gpu in gpus:
        rows = GpuRollup.objects.filter(resolution=resolution, gpu=gpu).order_by("ts")
        got = pd.DataFrame.from_records(
            rows.values("ts", "gpu_power_min", "gpu_power_max", "gpu_power_avg", "gpu_power_last", "gpu_power_n")
        )
        expected = _expected(frame[frame.gpu_id == gpu.id], "gpu_power", freq)
        got = got[got.gpu_power_n > 0].set_index("ts")
        assert list(got.index) == list(expected.index)
        np.testing.assert_allclose(got.gpu_power_min, expected["min"], rtol=1e-6)  # float4 storage
        np.testing.assert_allclose(got.gpu_power_max, expected["max"], rtol=1e-6)
        np.testing.assert_allclose(got.gpu_power_avg, expected["mean"], rtol=1e-6)
        np.testing.assert_allclose(got.gpu_power_last, expected["last"], rtol=1e-6)
        assert list(got.gpu_power_n) == list(expected["count"])
        util = rows.values_list("gpu_util_avg", flat=True)
        np.testing.assert_allclose(
            list(util), _expected(frame[frame.gpu_id == gpu.id], "gpu_util", freq)["mean"], rtol=1e-6
        )

    power = point_frame[point_frame.metric == "node_power"]
    expected = _expected(power, "value", freq)
    rows = SeriesRollup.objects.filter(resolution=resolution, series__metric="node_power").order_by("ts")
    got = pd.DataFrame.from_records(rows.values("ts", "min", "max", "avg", "last", "count")).set_index("ts")
    np.testing.assert_allclose(got[["min", "max", "avg", "last"]], expected[["min", "max", "mean", "last"]])
    assert list(got["count"]) == list(expected["count"])


def test_hall_it_power_uses_measured_node_power_else_the_gpus(fleet):
    world, gpus, frame, point_frame = fleet
    _refresh_all()
    hour = HallRollup.objects.get(resolution=Resolution.HOUR, hall=world.a.hall, ts=START)
    node_power = point_frame[(point_frame.metric == "node_power") & (point_frame.ts < START + timedelta(hours=1))]
    lone_gpu = frame[(frame.gpu_id == gpus[2].id) & (frame.ts < START + timedelta(hours=1))]
    assert hour.node_power_w == pytest.approx(node_power.value.mean())
    assert hour.it_power_w == pytest.approx(node_power.value.mean() + lone_gpu.gpu_power.mean(), rel=1e-6)
    assert hour.gpu_count == 3
    first_hour = frame[frame.ts < START + timedelta(hours=1)]
    expected_util = first_hour.groupby("gpu_id").gpu_util.mean().mean()
    assert hour.gpu_util_avg == pytest.approx(expected_util, rel=1e-6)
    inlet = point_frame[(point_frame.metric == "node_inlet_temp") & (point_frame.ts < START + timedelta(hours=1))]
    assert hour.inlet_temp_max == pytest.approx(inlet.value.max())


def test_refresh_is_idempotent_and_picks_up_late_data(fleet):
    world, gpus, frame, _ = fleet
    with override_settings(TELEMETRY_ROLLUP_LAG_S=120):
        rollups.refresh_rollups(now=NOW)
        first = list(GpuRollup.objects.order_by("resolution", "gpu_id", "ts").values())
        rollups.refresh_rollups(now=NOW)
        assert list(GpuRollup.objects.order_by("resolution", "gpu_id", "ts").values()) == first
        late_ts = END - timedelta(seconds=5)
        ingest(world.a.org, Batch(gpu_readings=[GpuReading(gpus[0].uuid, late_ts, {"gpu_power": 5000.0})]), now=NOW)
        rollups.refresh_rollups(now=NOW + timedelta(seconds=30))
    hour = GpuRollup.objects.get(resolution=Resolution.HOUR, gpu=gpus[0], ts=START + timedelta(hours=1))
    assert hour.gpu_power_max == 5000.0 and hour.gpu_power_last == 5000.0


def test_retention_removes_expired_rollups_only(fleet):
    _refresh_all()
    with override_settings(TELEMETRY_RETENTION_DAYS={"raw": 7, "1m": 1, "5m": 2, "1h": None}):
        removed = rollups.apply_retention(now=START + timedelta(days=1, hours=1, minutes=30))
    assert removed["1m"] > 0 and removed["5m"] == 0 and "1h" not in removed
    assert not GpuRollup.objects.filter(resolution=60, ts__lt=START + timedelta(minutes=30)).exists()
    assert GpuRollup.objects.filter(resolution=60).exists() and GpuRollup.objects.filter(resolution=3600).exists()


def test_upsert_rows_updates_what_is_there_and_keeps_the_last_of_a_repeated_key(world):
    """The write path of back-fills and the demo seed: COPY and upsert on PostgreSQL, executemany on SQLite."""
    key = ["resolution", "gpu_id", "ts"]
    columns = [f"{metric}_{stat}" for metric in GPU_METRICS for stat in rollups.STATS]
    power = columns.index("gpu_power_avg")
    gpu = world.a.gpu.id

    def row(minute, watts):
        values = [0 if c.endswith("_n") else None for c in columns]
        values[power] = watts
        return (60, gpu, START + timedelta(minutes=minute), *values)

    assert rollups.upsert_rows(GpuRollup, key, columns, [row(0, 100.0), row(1, 110.0)]) == 2
    assert rollups.upsert_rows(GpuRollup, key, columns, [row(0, 200.0), row(2, 120.0), row(0, 300.0)]) == 2
    stored = GpuRollup.objects.filter(gpu_id=gpu, resolution=60).order_by("ts")
    assert list(stored.values_list("gpu_power_avg", "gpu_util_avg")) == [(300.0, None), (110.0, None), (120.0, None)]
