"""One organization's bad stored data cannot stall another's rollups: values no aggregate can take (1e308 J
summed twice overflows float8) are quarantined with the reason, a failure that quarantine cannot cure keeps
only that organization's watermarks back (shown on the Sources page), and the refresh catches up after."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, connection
from django.test import override_settings

from telemetry import rollups
from telemetry.ingest import ingest
from telemetry.models import (
    GpuRollup,
    GpuSample,
    HallRollup,
    QuarantinedValue,
    Resolution,
    RollupWatermark,
    Sample,
    Series,
    SeriesRollup,
)
from telemetry.vocabulary import Batch, GpuReading, PointReading

START = datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
NOW = START + timedelta(minutes=30)


def good_data(org, gpu, host, minutes=20):
    """A reading per GPU and node every minute for `minutes`, through the checked ingest path."""
    stamps = [START + timedelta(minutes=m) for m in range(minutes)]
    batch = Batch(
        gpu_readings=[GpuReading(gpu.uuid, ts, {"gpu_power": 400.0, "gpu_energy": 1e9}) for ts in stamps],
        point_readings=[PointReading("node", host, "node_power", ts, 3000.0) for ts in stamps],
    )
    assert ingest(org, batch, now=NOW).rejected == 0


def poison(world):
    """Values stored around the bounds (as before they held): two 1e308 J in one minute, two 1e308 W too."""
    series = Series.objects.get(organization=world.a.org, metric="node_power")
    for second in (10, 20):
        ts = START + timedelta(minutes=5, seconds=second)
        GpuSample.objects.create(gpu=world.a.gpu, ts=ts, gpu_energy=1e308, gpu_util=50)
        Sample.objects.create(series=series, ts=ts, value=1e308)


@pytest.fixture
def two_fleets(world):
    good_data(world.a.org, world.a.gpu, world.a.node.hostname)
    good_data(world.b.org, world.b.gpu, world.b.node.hostname)
    return world


def hour_of(gpu):
    return GpuRollup.objects.get(resolution=Resolution.HOUR, gpu=gpu, ts=START)


def test_out_of_bounds_values_are_quarantined_and_every_organization_rolls_up(two_fleets):
    world = two_fleets
    poison(world)
    if connection.vendor == "postgresql":  # the overflow that stalled every tenant before (pandas gives inf)
        with pytest.raises(DatabaseError, match="out of range"):
            rollups.rollup_range(Resolution.MINUTE, START, NOW, organization=world.a.org)
    with override_settings(TELEMETRY_ROLLUP_LAG_S=60):
        done = rollups.refresh_rollups(now=NOW)
    assert set(done) == {world.a.org.pk, world.b.org.pk}
    assert hour_of(world.b.gpu).gpu_energy_avg == pytest.approx(1e9)
    a_hour = hour_of(world.a.gpu)
    assert a_hour.gpu_energy_max == pytest.approx(1e9)  # the poison is out of the aggregates ...
    assert a_hour.gpu_util_n == 2  # ... the rest of its rows are not
    quarantined = QuarantinedValue.objects.filter(organization=world.a.org)
    assert sorted(quarantined.values_list("metric", flat=True)) == ["gpu_energy"] * 2 + ["node_power"] * 2
    assert all("1e+308 is outside" in q.reason for q in quarantined)
    assert not GpuSample.objects.filter(gpu_energy__gt=1e15).exists()
    assert HallRollup.objects.filter(hall=world.a.hall, resolution=Resolution.HOUR).exists()


def test_a_failing_organization_keeps_only_its_own_watermark_back_and_catches_up(two_fleets, monkeypatch, client):
    world = two_fleets
    broken = world.a.org.pk
    series_step = "_series_sql" if connection.vendor == "postgresql" else "_series_sqlite"
    real = getattr(rollups, series_step)

    def failing_for_a(resolution, start, end, org=None):
        if org == broken:
            raise DatabaseError("simulated: value out of range: overflow")
        return real(resolution, start, end, org)

    monkeypatch.setattr(rollups, series_step, failing_for_a)
    with override_settings(TELEMETRY_ROLLUP_LAG_S=60):
        done = rollups.refresh_rollups(now=NOW)
        assert set(done) == {world.b.org.pk}
        assert SeriesRollup.objects.filter(series__organization=world.b.org).exists()
        assert not SeriesRollup.objects.filter(series__organization=world.a.org).exists()
        a_marks = RollupWatermark.objects.filter(organization=world.a.org)
        assert a_marks.count() == 3 and all("simulated" in m.error for m in a_marks)
        stuck = {m.name: m.upto for m in a_marks}
        rollups.refresh_rollups(now=NOW + timedelta(minutes=1))
        assert {m.name: m.upto for m in a_marks} == stuck
        assert a_marks.first().failing_since == NOW  # since the first failure
        b_marks = RollupWatermark.objects.filter(organization=world.b.org)
        assert b_marks.count() == 3 and not b_marks.exclude(error="").exists()
        client.force_login(world.a.users["viewer"])
        page = client.get("/sources/").content.decode()
        assert "Rollups failing" in page and "simulated" in page

        monkeypatch.setattr(rollups, series_step, real)
        done = rollups.refresh_rollups(now=NOW + timedelta(minutes=2))
    assert set(done) == {world.a.org.pk, world.b.org.pk}
    assert SeriesRollup.objects.filter(series__organization=world.a.org, resolution=Resolution.HOUR).exists()
    assert not RollupWatermark.objects.filter(organization=world.a.org).exclude(error="").exists()
    assert "Rollups failing" not in client.get("/sources/").content.decode()


def test_the_sources_page_shows_why_rollups_fail_and_what_was_quarantined(two_fleets, client):
    world = two_fleets
    poison(world)
    rollups.refresh_rollups(now=NOW)
    RollupWatermark.objects.filter(organization=world.a.org).update(error="DataError: overflow", failing_since=NOW)
    client.force_login(world.a.users["viewer"])
    page = client.get("/sources/").content.decode()
    assert "Rollups failing" in page and "DataError: overflow" in page
    assert "Quarantined values (4)" in page and "1e+308 is outside" in page
    client.force_login(world.b.users["viewer"])
    other = client.get("/sources/").content.decode()
    assert "Quarantined" not in other and "Rollups failing" not in other
