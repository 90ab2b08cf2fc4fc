"""telemetry.query: resolution choice, point caps, aggregates equal to pandas, one query per call."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from telemetry import query, rollups
from telemetry.ingest import ingest
from telemetry.models import Gpu, Node, Rack, Resolution
from telemetry.vocabulary import Batch, GpuReading

START = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
END = START + timedelta(hours=3)
NOW = END


def test_the_finest_level_that_fits_is_chosen():
    assert query.pick_resolution(START, START + timedelta(hours=1), now=NOW) == query.RAW
    assert query.pick_resolution(START, START + timedelta(days=1), now=START + timedelta(days=1)) == Resolution.MINUTE
    assert (
        query.pick_resolution(START, START + timedelta(days=6), now=START + timedelta(days=6))
        == Resolution.FIVE_MINUTES
    )
    assert query.pick_resolution(START, START + timedelta(days=30), now=START + timedelta(days=30)) == Resolution.HOUR
    # raw is gone after 7 days: an hour from two weeks ago reads the 1-minute rollups
    assert query.pick_resolution(START, START + timedelta(hours=1), now=START + timedelta(days=14)) == Resolution.MINUTE


@pytest.fixture
def fleet(world):
    rng = np.random.default_rng(3)
    rack2 = Rack.objects.create(hall=world.a.hall, name="alpha-r2", power_budget_kw=40)
    node2 = Node.objects.create(rack=rack2, hostname="alpha-n2")
    gpus = [world.a.gpu] + [
        Gpu.objects.create(
            node=node2, index=i, uuid=f"GPU-{i:08d}-aaaa-bbbb-cccc-dddddddddddd", model=world.a.gpu.model
        )
        for i in range(3)
    ]
    stamps = pd.date_range(START, END, freq="10s", inclusive="left")
    rows = [(g, ts, float(rng.uniform(0, 100))) for g in gpus for ts in stamps]
    batch = Batch(gpu_readings=[GpuReading(g.uuid, ts.to_pydatetime(), {"gpu_util": v}) for g, ts, v in rows])
    assert ingest(world.a.org, batch, now=NOW).accepted == len(rows)
    for level in rollups.LEVELS:
        rollups.rollup_range(level, START, END)
    frame = pd.DataFrame([{"gpu_id": g.id, "rack": g.node.rack_id, "ts": ts, "value": v} for g, ts, v in rows])
    return world, gpus, frame


def test_raw_series_are_capped_with_peaks_kept(fleet, django_assert_max_num_queries):
    world, gpus, frame = fleet
    with django_assert_max_num_queries(1):
        got = query.gpu_series(
            [g.id for g in gpus],
            "gpu_util",
            START,
            START + timedelta(hours=1),
            max_points=100,
            now=NOW,
            resolution=query.RAW,
        )
    assert set(got.groupby("gpu_id").size()) == {100}
    first = frame[(frame.gpu_id == gpus[0].id) & (frame.ts < START + timedelta(hours=1))]
    trace = got[got.gpu_id == gpus[0].id]
    assert trace.value.max() == pytest.approx(first.value.max(), rel=1e-6)
    assert trace.value.min() == pytest.approx(first.value.min(), rel=1e-6)


def test_rollup_series_at_five_minutes(fleet):
    world, gpus, frame = fleet
    got = query.gpu_series([gpus[1].id], "gpu_util", START, END, stat="max", max_points=40, now=NOW)
    expected = frame[frame.gpu_id == gpus[1].id].set_index("ts").value.resample("5min").max()
    assert len(got) == 36
    np.testing.assert_allclose(got.value, expected, rtol=1e-6)


@pytest.mark.parametrize("how", ["avg", "p95", "max"])
def test_rack_aggregates_equal_pandas(fleet, how, django_assert_max_num_queries):
    world, gpus, frame = fleet
    with django_assert_max_num_queries(1):
        got = query.aggregate_gpus([g.id for g in gpus], "gpu_util", START, END, how=how, group_by="rack", now=NOW)
    # the 3 hours fit at raw resolution (1080 points): aggregate raw values per timestamp
    reducer = {"avg": "mean", "max": "max", "p95": lambda s: s.quantile(0.95)}[how]
    expected = frame.groupby(["ts", "rack"]).value.agg(reducer).reset_index().sort_values(["rack", "ts"])
    np.testing.assert_allclose(got.value, expected.value, rtol=1e-5)


def test_hall_series_and_fleet_utilization_read_hall_rollups(fleet):
    world, gpus, frame = fleet
    hourly = query.hall_series([world.a.hall.id], "gpu_count", START, END, max_points=3, now=NOW)
    assert list(hourly.value) == [4, 4, 4]
    util = query.fleet_gpu_util([world.a.hall.id], START, END, max_points=3, now=NOW)
    expected = frame.groupby([pd.Grouper(key="ts", freq="1h"), "gpu_id"]).value.mean().groupby("ts").mean()
    np.testing.assert_allclose(util.value, expected, rtol=1e-5)


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="unknown GPU metric 'gpu_flux'"):
        query.gpu_series([1], "gpu_flux", START, END)
    with pytest.raises(ValueError, match="unknown aggregate"):
        query.aggregate_gpus([1], "gpu_util", START, END, how="median")
