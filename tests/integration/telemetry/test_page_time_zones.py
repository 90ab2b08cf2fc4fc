"""Telemetry pages show times in the site's zone and name it: a GPU's or hall's page in its own site's zone
(charts, event markers and the events table), lists in the picked site's zone, else UTC. Tokyo keeps
+09:00 all year, so the expected wall-clock times are the UTC ones plus nine hours."""

from datetime import timedelta

import pytest
from django.utils import timezone

from telemetry.ingest import ingest
from telemetry.models import CollectorRun, Event, HallRollup, Resolution, Source
from telemetry.vocabulary import Batch, GpuReading
from tests.integration.sites import add_site, shown

TOKYO = timedelta(hours=9)


def tokyo_iso(moment):
    """What a Tokyo date axis should carry for the UTC instant `moment`."""
    return (moment + TOKYO).replace(tzinfo=None).isoformat() + "+09:00"


@pytest.fixture
def tokyo(world, client):
    """Organization a with a second site in Tokyo: its GPU reports every minute of the last half hour and
    had an XID event; its hall has minute rollups for most of the last hour (all within `?range=1h`)."""
    east = add_site(world.a.org, name="east", timezone="Asia/Tokyo")
    now = timezone.now().replace(second=0, microsecond=0)
    east.reading_times = [now - timedelta(minutes=m) for m in range(30, 0, -1)]
    batch = Batch(gpu_readings=[GpuReading(east.gpu.uuid, ts, {"gpu_util": 50.0}) for ts in east.reading_times])
    assert ingest(world.a.org, batch, now=now).accepted == len(east.reading_times)
    east.event_ts = now - timedelta(minutes=10)
    Event.objects.create(organization=world.a.org, gpu=east.gpu, kind="xid", code=79, ts=east.event_ts, key="tokyo-xid")
    east.rollup_times = [now - timedelta(minutes=m) for m in range(59, 0, -1)]
    HallRollup.objects.bulk_create(
        HallRollup(resolution=Resolution.MINUTE, hall=east.hall, ts=ts, it_power_w=90_000.0) for ts in east.rollup_times
    )
    client.force_login(world.a.users["viewer"])
    return east


def test_a_gpu_page_draws_and_lists_in_its_sites_zone(client, tokyo):
    response = client.get(f"/gpus/{tokyo.gpu.pk}/", {"range": "1h"})
    html = shown(response)
    _id, utilization, _title = response.context["figures"][0]
    assert utilization.data[0].name == "gpu_util"
    assert list(utilization.data[0].x) == [tokyo_iso(ts) for ts in tokyo.reading_times]
    assert utilization.layout.xaxis.title.text == "time (Asia/Tokyo)"
    (xid,) = [t for t in utilization.data if t.name == "XID / GPU error"]
    assert list(xid.x) == [tokyo_iso(tokyo.event_ts)]
    assert all(x.endswith("+09:00") for x in utilization.layout.xaxis.range)
    assert "Time (Asia/Tokyo)" in html
    assert f"<td>{(tokyo.event_ts + TOKYO):%Y-%m-%d %H:%M:%S}</td>" in html


def test_a_gpu_page_ignores_another_picked_site_for_its_zone(client, world, tokyo):
    response = client.get(f"/gpus/{tokyo.gpu.pk}/", {"range": "1h", "site": world.a.site.pk})
    assert response.context["filters"].tz.key == "Asia/Tokyo"
    assert "Times in Asia/Tokyo" in response.content.decode()


def test_a_hall_page_draws_in_its_sites_zone(client, tokyo):
    response = client.get(f"/halls/{tokyo.hall.pk}/", {"range": "1h"})
    load = response.context["load_figure"]
    assert list(load.data[0].x) == [tokyo_iso(ts) for ts in tokyo.rollup_times]
    assert load.layout.xaxis.title.text == "time (Asia/Tokyo)"
    assert response.context["inlet_figure"].layout.xaxis.title.text == "time (Asia/Tokyo)"


@pytest.mark.parametrize(
    ("path", "header", "latest"),
    [
        ("/halls/", "As of", lambda east: east.rollup_times[-1]),
        ("/gpus/", "Last seen", lambda east: east.reading_times[-1]),
    ],
)
def test_lists_read_in_the_picked_site_else_utc(client, tokyo, path, header, latest):
    moment = latest(tokyo)
    picked = shown(client.get(path, {"site": tokyo.site.pk}))
    assert f"{header} (Asia/Tokyo)" in picked
    assert f"<td>{(moment + TOKYO):%Y-%m-%d %H:%M}</td>" in picked
    every_site = shown(client.get(path))
    assert f"{header} (UTC)" in every_site
    assert f"<td>{moment:%Y-%m-%d %H:%M}</td>" in every_site


def test_the_sources_page_reads_in_the_picked_site(client, world, tokyo):
    success = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    source = Source.objects.create(
        organization=world.a.org,
        name="tokyo-dcgm",
        kind=Source.Kind.PROMETHEUS,
        last_success_at=success,
        last_error_at=success + timedelta(minutes=1),
        last_error="connection refused",
    )
    CollectorRun.objects.create(source=source, started=success, status="ok", accepted=4)
    html = shown(client.get("/sources/", {"site": tokyo.site.pk}))
    assert "Last success (Asia/Tokyo)" in html and "Recent runs (Asia/Tokyo)" in html
    assert f"<td>{(success + TOKYO):%Y-%m-%d %H:%M:%S}</td>" in html
    assert f"{(success + TOKYO + timedelta(minutes=1)):%Y-%m-%d %H:%M}: connection refused" in html
    assert f"<li>{(success + TOKYO):%H:%M:%S} ok: 4 accepted" in html
    assert f"<td>{success:%Y-%m-%d %H:%M:%S}</td>" in shown(client.get("/sources/"))
