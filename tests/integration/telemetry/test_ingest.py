"""telemetry.ingest against the real database: partial batches, duplicates, series resolution, events."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from telemetry.ingest import ingest
from telemetry.ingest.gpu import GPU_PIECE, GpuReadingColumns
from telemetry.models import Event, GpuSample, Sample, Series, Source
from telemetry.vocabulary import GPU_METRICS, Batch, EventReading, GpuReading, PointReading

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def readings(uuid, n=3, start=NOW - timedelta(minutes=10)):
    return [
        GpuReading(
            uuid, start + timedelta(seconds=10 * i), {"gpu_util": 50.0 + i, "gpu_power": 300.5, "gpu_ecc_sbe": 2}
        )
        for i in range(n)
    ]


def test_gpu_readings_are_stored_typed_and_a_resend_adds_nothing(world):
    batch = Batch(gpu_readings=readings(world.a.gpu.uuid))
    first = ingest(world.a.org, batch, now=NOW)
    assert (first.accepted, first.duplicate, first.rejected, first.errors) == (3, 0, 0, [])
    again = ingest(world.a.org, batch, now=NOW)
    assert (again.accepted, again.duplicate, again.rejected) == (0, 3, 0)
    rows = list(GpuSample.objects.filter(gpu=world.a.gpu).order_by("ts"))
    assert [r.gpu_util for r in rows] == [50.0, 51.0, 52.0]
    assert rows[0].gpu_power == pytest.approx(300.5) and rows[0].gpu_ecc_sbe == 2 and rows[0].gpu_temp is None


def test_every_gpu_metric_round_trips_with_its_type(world):
    values = {name: 1.0 for name in GPU_METRICS} | {"gpu_mem_used": 8 * 10**10, "gpu_energy": 123456789.125}
    assert ingest(world.a.org, Batch(gpu_readings=[GpuReading(world.a.gpu.uuid, NOW, values)]), now=NOW).accepted == 1
    row = GpuSample.objects.get()
    assert {name: getattr(row, name) for name in GPU_METRICS} == values


def test_the_valid_part_of_a_batch_is_kept_and_each_bad_item_says_where_and_why(world):
    uuid = world.a.gpu.uuid
    good = readings(uuid, n=2)
    bad = [
        GpuReading(uuid, NOW, {"gpu_util": math.nan}),
        GpuReading(uuid, NOW, {"gpu_power": -5.0}),
        GpuReading(uuid, NOW, {"gpu_flux": 1.0}),
        GpuReading(uuid, NOW + timedelta(minutes=6), {"gpu_util": 1.0}),
        GpuReading(uuid, NOW - timedelta(days=8), {"gpu_util": 1.0}),
        GpuReading(uuid, NOW.replace(tzinfo=None), {"gpu_util": 1.0}),
        GpuReading(world.b.gpu.uuid, NOW, {"gpu_util": 1.0}),  # another organization's GPU
        GpuReading(uuid, NOW, {"gpu_util": 1.0, "gpu_ecc_dbe": math.inf}),  # one bad value spoils the item
        GpuReading(uuid, NOW, {"gpu_ecc_sbe": -1}),
    ]
    result = ingest(world.a.org, Batch(gpu_readings=good + bad), now=NOW)
    assert (result.accepted, result.rejected) == (2, len(bad))
    where = {(e["index"], e["field"]) for e in result.errors}
    assert where == {
        (2, "gpu_util"),
        (3, "gpu_power"),
        (4, "gpu_flux"),
        (5, "ts"),
        (6, "ts"),
        (7, "ts"),
        (8, "gpu_uuid"),
        (9, "gpu_ecc_dbe"),
        (10, "gpu_ecc_sbe"),
    }
    messages = {e["index"]: e["message"] for e in result.errors}
    assert "negative" in messages[3] and "future" in messages[5] and "retention" in messages[6]
    assert "timezone" in messages[7] and "unknown GPU" in messages[8]
    assert GpuSample.objects.count() == 2  # nothing of a rejected item, e.g. index 9's gpu_util, was written
    assert not GpuSample.objects.filter(ts=NOW).exists()


def test_points_of_a_known_node_get_a_series_in_its_hall_and_unknown_entities_follow_the_policy(world):
    points = [
        PointReading("node", world.a.node.hostname, "node_power", NOW, 5200.0),
        PointReading("node", "stranger-7", "node_power", NOW, 100.0),
        PointReading("rack", world.a.rack.name, "rack_power", NOW, 20000.0),
        PointReading("site", world.a.site.name, "site_outdoor_temp", NOW, -3.5),
    ]
    strict = ingest(world.a.org, Batch(point_readings=points), now=NOW)
    assert (strict.accepted, strict.rejected) == (3, 1)
    assert strict.errors[0]["index"] == 1 and "stranger-7" in strict.errors[0]["message"]
    node_series = Series.objects.get(organization=world.a.org, entity=world.a.node.hostname)
    assert (node_series.unit, node_series.hall_id) == ("W", world.a.hall.id)

    source = Source.objects.create(organization=world.a.org, name="bms", kind="push", unknown_device="auto_register")
    lenient = ingest(source, Batch(point_readings=points), now=NOW)
    assert (lenient.accepted, lenient.duplicate, lenient.rejected) == (1, 3, 0)
    assert Series.objects.get(entity="stranger-7").hall_id is None
    assert Sample.objects.count() == 4
    assert not Series.objects.filter(organization=world.b.org).exists()


def test_events_are_deduplicated_on_resend(world):
    events = [
        EventReading("xid", NOW, gpu_uuid=world.a.gpu.uuid, code=79, detail="fallen off the bus"),
        EventReading("xid", NOW, gpu_uuid=world.a.gpu.uuid, code=79, detail="same again in one batch"),
        EventReading("throttle", NOW, entity=world.a.node.hostname, code=0x40),
        EventReading("meteor", NOW, entity="x"),
    ]
    first = ingest(world.a.org, Batch(events=events), now=NOW)
    assert (first.accepted, first.duplicate, first.rejected) == (2, 1, 1)
    second = ingest(world.a.org, Batch(events=events), now=NOW)
    assert (second.accepted, second.duplicate) == (0, 3)
    assert Event.objects.get(kind="xid").gpu_id == world.a.gpu.id


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions exist on PostgreSQL only")
def test_ingest_creates_the_day_partitions_it_needs(world):
    late = NOW.replace(hour=23, minute=59, second=50)
    batch = Batch(
        gpu_readings=[
            GpuReading(world.a.gpu.uuid, late + timedelta(seconds=20 * i), {"gpu_util": 1.0}) for i in range(2)
        ]
    )
    assert ingest(world.a.org, batch, now=late).accepted == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM telemetry_gpusample ORDER BY ts")
        assert [r[0] for r in cursor.fetchall()] == ["telemetry_gpusample_p20250310", "telemetry_gpusample_p20250311"]


def test_a_batch_part_stored_already_keeps_its_new_part_and_counts_the_rest(world):
    uuid = world.a.gpu.uuid
    stored = readings(uuid, n=2)
    assert ingest(world.a.org, Batch(gpu_readings=stored), now=NOW).accepted == 2
    fresh = readings(uuid, n=2, start=NOW - timedelta(minutes=2))
    twice = [fresh[0], fresh[0]]  # the same GPU and instant twice in one batch
    result = ingest(world.a.org, Batch(gpu_readings=stored + fresh + twice), now=NOW)
    assert (result.accepted, result.duplicate, result.rejected) == (2, 4, 0)
    assert GpuSample.objects.count() == 4


def test_the_column_checks_hand_odd_values_to_the_exact_rules(world):
    """Values numpy cannot judge alone (bools, strings, 2**63, mixed metrics per reading, a non-dict) get the
    per-reading rules: exact integers stored, the rest rejected with reasons."""
    uuid = world.a.gpu.uuid
    big = 2**42  # the most gpu_mem_used can be
    batch = [
        GpuReading(uuid, NOW - timedelta(seconds=10), {"gpu_mem_used": big, "gpu_util": 5}),
        GpuReading(uuid, NOW - timedelta(seconds=20), {"gpu_ecc_sbe": 3.0, "gpu_temp": 40.5}),
        GpuReading(uuid, NOW - timedelta(seconds=30), {"gpu_util": True}),
        GpuReading(uuid, NOW - timedelta(seconds=40), {"gpu_util": "50"}),
        GpuReading(uuid, NOW - timedelta(seconds=50), {"gpu_ecc_dbe": 2.0**63}),
        GpuReading(uuid, NOW - timedelta(seconds=60), {"gpu_ecc_dbe": 1.5}),
        GpuReading(uuid, NOW - timedelta(seconds=70), ["gpu_util", 1.0]),
        GpuReading(uuid, NOW - timedelta(seconds=80), {}),
        GpuReading(uuid, "yesterday", {"gpu_util": 1.0}),
        GpuReading(None, NOW, {"gpu_util": 1.0}),
    ]
    result = ingest(world.a.org, Batch(gpu_readings=batch), now=NOW)
    assert (result.accepted, result.rejected) == (2, 8)
    assert {e["index"] for e in result.errors} == set(range(2, 10))
    messages = {e["index"]: e["message"] for e in result.errors}
    assert "expected a number, got bool" in messages[2] and "got str" in messages[3]
    assert "exceeds" in messages[4] and "whole number" in messages[5]
    rows = {r.ts: r for r in GpuSample.objects.all()}
    first, second = rows[NOW - timedelta(seconds=10)], rows[NOW - timedelta(seconds=20)]
    assert (first.gpu_mem_used, first.gpu_util, first.gpu_temp) == (big, 5.0, None)
    assert (second.gpu_ecc_sbe, second.gpu_temp, second.gpu_util) == (3, 40.5, None)


def test_readings_given_per_metric_are_judged_as_the_same_readings_given_one_by_one(world):
    """A columnar push hands ingest per metric lists (None: the reading lacks the metric) over several pieces;
    errors, indices and stored rows must be those of the same readings as GpuReading objects."""
    uuid, n = world.a.gpu.uuid, GPU_PIECE + 7
    batch = [
        GpuReading(uuid, NOW - timedelta(seconds=10 * i), {"gpu_util": i % 100, "gpu_ecc_sbe": 2}) for i in range(n)
    ]
    batch[3] = GpuReading(uuid, NOW, {"gpu_util": True})
    batch[5] = GpuReading(uuid, NOW - timedelta(seconds=50), {"gpu_ecc_sbe": 2.5, "gpu_flux": 1})
    batch[GPU_PIECE + 1] = GpuReading("GPU-unknown", batch[GPU_PIECE + 1].ts, {"gpu_temp": 40.5})
    batch[GPU_PIECE + 2] = GpuReading(uuid, batch[GPU_PIECE + 2].ts, {})
    batch[GPU_PIECE + 3] = GpuReading(uuid, batch[GPU_PIECE + 3].ts, {"gpu_mem_used": 2**42, "gpu_temp": 41})
    metrics = {
        m: [r.values.get(m) for r in batch] for m in ("gpu_util", "gpu_ecc_sbe", "gpu_flux", "gpu_temp", "gpu_mem_used")
    }
    columns = GpuReadingColumns([r.gpu_uuid for r in batch], [r.ts for r in batch], metrics=metrics)

    outcomes = []
    for readings in (columns, batch):
        result = ingest(world.a.org, Batch(gpu_readings=readings), now=NOW)
        rows = list(
            GpuSample.objects.order_by("ts").values_list("ts", "gpu_util", "gpu_ecc_sbe", "gpu_temp", "gpu_mem_used")
        )
        outcomes.append((result.as_dict(), rows))
        GpuSample.objects.all().delete()
    assert outcomes[0] == outcomes[1]
    result, rows = outcomes[0]
    assert (result["accepted"], result["rejected"]) == (n - 4, 4) and len(rows) == n - 4
    assert [(e["index"], e["field"]) for e in result["errors"]] == [
        (3, "gpu_util"),
        (5, "gpu_ecc_sbe"),
        (5, "gpu_flux"),
        (GPU_PIECE + 1, "gpu_uuid"),
        (GPU_PIECE + 2, "values"),
    ]
    assert (NOW - timedelta(seconds=10 * (GPU_PIECE + 3)), None, None, 41.0, 2**42) in rows


def test_a_none_value_is_an_error_not_a_missing_field(world):
    """Found by the push API's hypothesis test: None must not pass the column checks as 'absent'."""
    batch = [GpuReading(world.a.gpu.uuid, NOW, {"gpu_util": None, "gpu_mem_used": 0.0})]
    result = ingest(world.a.org, Batch(gpu_readings=batch), now=NOW)
    assert (result.accepted, result.rejected) == (0, 1) and result.errors[0]["field"] == "gpu_util"
    assert not GpuSample.objects.exists()


def test_a_batch_of_several_pieces_keeps_indices_and_starts_over_whole(world):
    """Readings go to the server piece by piece (GPU_PIECE) while the next is checked: an error's index is
    still its place in the batch, and a COPY that must start over (a stored row, a day without a partition,
    both met only in a later piece) sends every piece again, nothing lost, nothing doubled."""
    n = 2 * GPU_PIECE + 10
    start = NOW.replace(hour=0) - timedelta(seconds=10 * 2 * GPU_PIECE)  # only the last piece is on NOW's day
    batch = [GpuReading(world.a.gpu.uuid, start + timedelta(seconds=10 * i), {"gpu_util": i % 100}) for i in range(n)]
    batch[GPU_PIECE + 3] = GpuReading(world.a.gpu.uuid, batch[GPU_PIECE + 3].ts, {"gpu_util": -1.0})
    stored = batch[-1]
    assert ingest(world.a.org, Batch(gpu_readings=[stored]), now=NOW).accepted == 1

    result = ingest(world.a.org, Batch(gpu_readings=batch), now=NOW)
    assert (result.accepted, result.duplicate, result.rejected) == (n - 2, 1, 1)
    assert [(e["index"], e["field"]) for e in result.errors] == [(GPU_PIECE + 3, "gpu_util")]
    assert GpuSample.objects.count() == n - 1
    again = ingest(world.a.org, Batch(gpu_readings=batch), now=NOW)
    assert (again.accepted, again.duplicate, again.rejected) == (0, n - 1, 1)


def test_a_gpu_uuid_with_a_nul_is_a_rejected_item_and_the_rest_is_stored(world):
    """A pull collector's garbage: PostgreSQL cannot compare a NUL, so the lookup leaves it out and validation
    names it (the push API relies on the same path)."""
    garbage = world.a.gpu.uuid[:-1] + "\x00"
    batch = Batch(
        gpu_readings=[
            GpuReading(garbage, NOW, {"gpu_util": 1.0}),
            GpuReading(world.a.gpu.uuid, NOW, {"gpu_util": 2.0}),
        ],
        events=[
            EventReading("xid", NOW, gpu_uuid=garbage, code=79),
            EventReading("xid", NOW, gpu_uuid=world.a.gpu.uuid),
        ],
    )
    result = ingest(world.a.org, batch, now=NOW)
    assert (result.accepted, result.rejected) == (2, 2), result.errors
    assert [(e["item"], e["index"], e["field"]) for e in result.errors] == [
        ("gpu_readings", 0, "gpu_uuid"),
        ("events", 0, "gpu_uuid"),
    ]
    assert all("NUL" in e["message"] for e in result.errors)
    assert GpuSample.objects.get(gpu=world.a.gpu).gpu_util == 2.0
