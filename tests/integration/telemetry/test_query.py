"""telemetry.query: resolution choice, point caps, aggregates equal to pandas, one query per call."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from telemetry import query, rollups
from telemetry.ingest import ingest
from telemetry.models import Gpu, GpuRollup, GpuSample, Node, Rack, Resolution
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
    with django_assert_max_num_queries(2):  # whether GPU-hours of the range are sealed, then the aggregate
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


def test_several_metrics_from_one_query_equal_one_metric_each(world, django_assert_max_num_queries):
    gpu = world.a.gpu
    stamps = pd.date_range(START, START + timedelta(minutes=30), freq="15s", inclusive="left")
    readings = [
        GpuReading(gpu.uuid, ts.to_pydatetime(), {"gpu_util": n % 101, "gpu_power": 100.5 + n, "gpu_sm_clock": 1980})
        for n, ts in enumerate(stamps)
    ]
    readings[3].values.pop("gpu_power")  # a reading without power: a gap in that trace only
    assert ingest(world.a.org, Batch(gpu_readings=readings), now=NOW).accepted == len(readings)
    rollups.rollup_range(Resolution.MINUTE, START, END)
    metrics = ["gpu_util", "gpu_power", "gpu_sm_clock", "gpu_temp"]
    for level in (query.RAW, Resolution.MINUTE):
        with django_assert_max_num_queries(1):
            together = query.gpu_metric_series([gpu.id], metrics, START, END, resolution=level)
        for metric in metrics:
            if level == query.RAW:
                rows = GpuSample.objects.filter(gpu=gpu, **{f"{metric}__isnull": False}).values_list("ts", metric)
            else:
                rows = GpuRollup.objects.filter(gpu=gpu, resolution=level, **{f"{metric}_avg__isnull": False})
                rows = rows.values_list("ts", f"{metric}_avg")
            expected = pd.DataFrame(list(rows.order_by("ts")), columns=["ts", "value"], dtype=object)
            got = together[metric]
            assert list(got["ts"]) == list(expected["ts"]) and list(got["value"]) == list(expected["value"]), metric
            assert (got["gpu_id"] == gpu.id).all()
    assert len(together["gpu_temp"]) == 0 and len(together["gpu_util"]) == 30


def test_gpu_page_fills_what_the_finer_level_lacks_from_hourly_rollups(world):
    from telemetry.pages.gpus import gpu_metric_frames

    gpu = world.a.gpu
    old = [GpuReading(gpu.uuid, START + timedelta(minutes=m), {"gpu_util": 40.0}) for m in range(0, 120, 10)]
    recent = [
        GpuReading(gpu.uuid, END - timedelta(minutes=30) + timedelta(seconds=s), {"gpu_util": 80.0, "gpu_power": 300.0})
        for s in range(0, 1800, 15)
    ]
    assert ingest(world.a.org, Batch(gpu_readings=old + recent), now=NOW).rejected == 0
    for level in rollups.LEVELS:
        rollups.rollup_range(level, START, END)
    # The 1-minute level of the first two hours is gone (as past its retention): hourly rollups fill it.
    GpuRollup.objects.filter(resolution=Resolution.MINUTE, ts__lt=START + timedelta(hours=2)).delete()
    frames = gpu_metric_frames(gpu.id, START, END, NOW + timedelta(days=8))  # raw past retention: 1-minute level
    util = frames["gpu_util"]
    assert list(util["ts"][:2]) == [pd.Timestamp(START), pd.Timestamp(START + timedelta(hours=1))]
    # three hourly buckets before the first 1-minute point (10:30; the 10:00 bucket holds its half hour), then 30
    assert list(util["value"][:2]) == [40.0, 40.0] and (util["value"][2:] == 80.0).all() and len(util) == 3 + 30
    power = frames["gpu_power"]  # only the last half hour: its own first point decides what is filled (10:00 bucket)
    assert len(power) == 1 + 30 and (power["value"] == 300.0).all()
