"""Sealed GPU-hours (telemetry.sealing) on PostgreSQL: rows moved into compressed blocks answer every query as
the rows did, late rows after sealing are merged once, and repairs and retention reach the blocks."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from telemetry import query, rollups, sealing, tasks
from telemetry.ingest import ingest
from telemetry.models import GpuBlock, GpuRollup, GpuSample, QuarantinedValue, Resolution
from telemetry.vocabulary import Batch, GpuReading
from tests.base import three_gpus

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="sealing runs on PostgreSQL only")

START = datetime(2025, 3, 9, 22, 0, tzinfo=UTC)  # 4 h across midnight: a whole day sealed, then hours of the next
END = START + timedelta(hours=4)
NOW = END + timedelta(hours=3, minutes=30)  # sealing 3 h after: every hour of the data
METRICS = ["gpu_util", "gpu_power", "gpu_energy", "gpu_temp", "gpu_mem_used", "gpu_throttle_reasons"]
LEVELS = (query.RAW, Resolution.MINUTE, Resolution.FIVE_MINUTES, Resolution.HOUR)


@pytest.fixture
def fleet(world):
    """Three GPUs on two nodes, 15 s samples with fields missing now and then, rolled up at every level."""
    rng = np.random.default_rng(14)
    gpus = three_gpus(world.a, "5ea1")
    readings = []
    for gpu in gpus:
        energy = float(rng.uniform(1e6, 1e9))
        for ts in pd.date_range(START, END, freq="15s", inclusive="left"):
            energy += float(rng.integers(0, 10**7)) / 1000
            values = {
                "gpu_util": int(rng.integers(0, 101)),
                "gpu_power": int(rng.integers(80_000, 700_000)) / 1000,  # mW resolution
                "gpu_energy": energy,
                "gpu_temp": float(rng.uniform(30, 90)),  # not quantised: stored as float4 bits
                "gpu_mem_used": int(rng.integers(0, 80 * 2**30)),
                "gpu_throttle_reasons": int(rng.choice([0, 4, 36])),
            }
            for name in rng.choice(METRICS, size=int(rng.integers(0, 3)), replace=False):
                del values[name]
            readings.append(GpuReading(gpu.uuid, ts.to_pydatetime(), values))
    assert ingest(world.a.org, Batch(gpu_readings=readings), now=END).rejected == 0
    _roll_up()
    return world, [g.id for g in gpus]


def _roll_up(start=START, end=END):
    for resolution in rollups.LEVELS:
        rollups.rollup_range(resolution, start, end)


def _answers(world, gpu_ids):
    """What the readers of raw samples and rollups answer, at every level, for the whole span and a part."""
    answers = {}
    part = (START + timedelta(minutes=97, seconds=7), END - timedelta(minutes=31))
    for start, end in ((START, END), part):
        for level in LEVELS:
            stats = ("avg",) if level == query.RAW else ("avg", "min", "max", "last")
            for stat in stats:
                frames = query.gpu_metric_series(gpu_ids, METRICS, start, end, stat=stat, resolution=level)
                for metric, frame in frames.items():
                    answers[("series", start, level, stat, metric)] = frame
            for how, group in (("avg", None), ("p95", "rack"), ("max", "hall")):
                frame = query.aggregate_gpus(
                    gpu_ids, "gpu_power", start, end, how=how, group_by=group, resolution=level
                )
                answers[("aggregate", start, level, how, group)] = frame
    for level in (Resolution.MINUTE, Resolution.FIVE_MINUTES, Resolution.HOUR):
        answers[("hall", level)] = query.hall_series([world.a.hall.id], "gpu_power_w", START, END, resolution=level)
    return answers


def _assert_same(before, after, *, exact_rollups=True):
    assert before.keys() == after.keys()
    for key, expected in before.items():
        got = after[key]
        assert len(got) == len(expected) > 0, key
        assert list(got.columns) == list(expected.columns), key
        for column in expected.columns:
            derived = key[0] == "aggregate" or key[2:3] == (Resolution.MINUTE,)
            if column == "value" and (derived or (not exact_rollups and key[2:3] != (query.RAW,))):
                # Derived from the blocks in float8 where the stored rollups or SQL aggregates read float4 exactly;
                # recomputed rollups add the float4 rounding of each level in another order.
                np.testing.assert_allclose(got[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-6)
            else:
                assert got[column].astype(str).tolist() == expected[column].astype(str).tolist(), (key, column)


def test_sealed_hours_answer_every_query_as_the_rows_did(fleet):
    world, gpu_ids = fleet
    before = _answers(world, gpu_ids)
    rows = GpuSample.objects.count()

    done = sealing.seal(now=NOW, after_hours=3)
    assert done["rows"] == rows and done["blocks"] == GpuBlock.objects.count() == 3 * 4
    assert done["truncated"] == ["telemetry_gpusample_p20250309"]
    assert GpuSample.objects.count() == 0
    assert not GpuRollup.objects.filter(resolution=Resolution.MINUTE).exists()  # derived from the blocks on read
    assert GpuRollup.objects.filter(resolution=Resolution.FIVE_MINUTES).count() == 3 * 48
    _assert_same(before, _answers(world, gpu_ids))

    # Sealing again finds nothing; rollups recomputed over sealed hours equal those computed from rows.
    assert sealing.seal(now=NOW, after_hours=3) == {"blocks": 0, "rows": 0, "truncated": []}
    _roll_up()
    assert not GpuRollup.objects.filter(resolution=Resolution.MINUTE).exists()
    _assert_same(before, _answers(world, gpu_ids), exact_rollups=False)


def test_late_rows_are_read_with_the_block_and_merged_into_it_once(fleet):
    world, gpu_ids = fleet
    sealing.seal(now=NOW, after_hours=3)
    gpu = world.a.gpu
    taken = START + timedelta(hours=1)  # an instant the block holds
    new = START + timedelta(hours=1, seconds=7)  # one it does not
    late = [GpuReading(gpu.uuid, taken, {"gpu_util": 99.0}), GpuReading(gpu.uuid, new, {"gpu_util": 42.0})]
    window = (taken - timedelta(minutes=1), taken + timedelta(minutes=1))

    def util():
        frame = query.gpu_series([gpu.id], "gpu_util", *window, resolution=query.RAW)
        return frame.set_index("ts")["value"]

    sealed = util()
    assert ingest(world.a.org, Batch(gpu_readings=late), now=NOW).accepted == 2
    seen = util()
    assert seen.index.is_unique and seen[new] == 42.0 and len(seen) == len(sealed) + 1
    pd.testing.assert_series_equal(seen.drop(new), sealed)  # the block's value stays where the row repeats it
    done = sealing.seal(now=NOW, after_hours=3)
    assert done["rows"] == 2 and done["blocks"] == 1 and GpuSample.objects.count() == 0
    pd.testing.assert_series_equal(util(), seen)
    assert GpuBlock.objects.get(gpu=gpu, start=START + timedelta(hours=1)).rows == 240 + 1


def test_quarantine_reaches_sealed_values(fleet):
    world, gpu_ids = fleet
    bad = START + timedelta(hours=2, minutes=5)
    GpuSample.objects.filter(gpu=world.a.gpu, ts=bad).update(gpu_temp=1e30)  # written around ingest's bounds
    sealing.seal(now=NOW, after_hours=3)
    moved = rollups.quarantine_out_of_bounds(world.a.org, START, END)
    assert moved == 1 and QuarantinedValue.objects.get().value == 1e30
    assert GpuSample.objects.count() == 3 * 960  # the range unsealed, the value NULL
    sealing.seal(now=NOW, after_hours=3)
    temps = query.gpu_series([world.a.gpu.id], "gpu_temp", START, END, resolution=query.RAW)
    assert bad not in set(temps["ts"]) and temps["value"].max() < 100


def test_retention_drops_blocks_with_their_days_and_the_command_seals(fleet):
    world, gpu_ids = fleet
    before = query.gpu_series(gpu_ids, "gpu_util", START, END, resolution=query.RAW)
    call_command("seal_samples", "--after-hours", "0")
    assert GpuSample.objects.count() == 0 and GpuBlock.objects.count() == 12
    removed = rollups.apply_retention(now=datetime(2025, 3, 17, 6, tzinfo=UTC))  # raw 7 days: before 2025-03-10
    assert removed["blocks"] == 3 * 2
    assert GpuBlock.objects.filter(start__lt=datetime(2025, 3, 10, tzinfo=UTC)).count() == 0
    kept = before[before["ts"] >= pd.Timestamp("2025-03-10", tz=UTC)].reset_index(drop=True)
    pd.testing.assert_frame_equal(query.gpu_series(gpu_ids, "gpu_util", START, END, resolution=query.RAW), kept)


def test_a_seal_that_dies_half_way_loses_and_doubles_nothing(fleet, monkeypatch):
    world, gpu_ids = fleet
    before = query.gpu_metric_series(gpu_ids, METRICS, START, END, resolution=query.RAW)
    encode, calls = sealing.blocks.encode, []

    def dies_at_the_eighth(*args, **kwargs):  # the whole day 2025-03-09 (6 blocks) commits, then hour 00:00 dies
        calls.append(1)
        if len(calls) == 8:
            raise RuntimeError("killed")
        return encode(*args, **kwargs)

    monkeypatch.setattr(sealing.blocks, "encode", dies_at_the_eighth)
    with pytest.raises(RuntimeError):
        sealing.seal(now=NOW, after_hours=3)
    assert GpuBlock.objects.count() == 6 and GpuSample.objects.filter(ts__lt=START + timedelta(hours=2)).count() == 0
    assert GpuSample.objects.count() == 3 * 480  # the two hours after midnight are still rows
    after = query.gpu_metric_series(gpu_ids, METRICS, START, END, resolution=query.RAW)
    for metric in METRICS:
        pd.testing.assert_frame_equal(after[metric], before[metric])

    monkeypatch.setattr(sealing.blocks, "encode", encode)
    assert sealing.seal(now=NOW, after_hours=3)["blocks"] == 6 and GpuSample.objects.count() == 0
    after = query.gpu_metric_series(gpu_ids, METRICS, START, END, resolution=query.RAW)
    for metric in METRICS:
        pd.testing.assert_frame_equal(after[metric], before[metric])


def test_the_hourly_task_seals_what_is_due(fleet):
    assert settings.CELERY_BEAT_SCHEDULE["telemetry-seal-samples"]["task"] == tasks.seal_samples.name
    rows = GpuSample.objects.count()
    assert tasks.seal_samples() == {"blocks": 12, "rows": rows, "truncated": 2}  # both days are long over
    assert tasks.seal_samples() == {"blocks": 0, "rows": 0, "truncated": 0}
