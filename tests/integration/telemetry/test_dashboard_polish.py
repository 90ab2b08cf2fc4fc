"""Dashboard polish on a small simulated fleet: units on the GPU charts, event markers with hover text, gaps
left as gaps, resolution from the chart width, the range carried in the navigation, the simulated IT-load
drops of a training hall marked as simulated."""

from datetime import timedelta

import pandas as pd
import pytest
from django.urls import reverse
from django.utils import timezone

from telemetry import demo_history
from telemetry.models import Event, GpuRollup, Resolution
from tests.base import PASSWORD, three_gpus


@pytest.fixture
def client_a(client, world):
    demo_history.seed_history(world.a.org, now=timezone.now(), weeks=1)
    client.login(username=world.a.users["viewer"].username, password=PASSWORD)
    return client


def chart(response, title):
    return next(fig for _id, fig, name in response.context["figures"] if name == title)


def test_gpu_memory_is_charted_in_gib(client_a, world):
    response = client_a.get(reverse("gpu-detail", args=[world.a.gpu.pk]))
    memory = chart(response, "Memory used")
    values = [v for v in memory.data[0].y if v is not None]
    assert memory.layout.yaxis.title.text == "GiB"
    assert values and 0 < max(values) <= world.a.gpu.model.memory_gb * 1.08  # GB of the model, as GiB


def test_gpu_charts_mark_events_with_hover_text(client_a, world):
    ts = timezone.now() - timedelta(hours=2)
    Event.objects.create(organization=world.a.org, gpu=world.a.gpu, kind="xid", code=79, ts=ts, key="x79")
    response = client_a.get(reverse("gpu-detail", args=[world.a.gpu.pk]))
    (xid,) = [t for t in chart(response, "Power").data if t.name == "XID / GPU error"]
    assert xid.yaxis == "y9" and list(xid.hovertext) == ["XID 79"]


def test_missing_samples_break_the_line(client_a, world):
    """An hour of the GPU's minute rollups deleted: the chart's line has a None there, and a gap marker."""
    now = timezone.now()
    hole = (now - timedelta(hours=5), now - timedelta(hours=4))
    GpuRollup.objects.create(gpu=world.a.gpu, resolution=Resolution.MINUTE, ts=now - timedelta(hours=6), gpu_util_avg=5)
    for minute in range(1, 180):
        ts = now - timedelta(hours=6) + timedelta(minutes=minute)
        if not hole[0] <= ts < hole[1]:
            GpuRollup.objects.update_or_create(
                gpu=world.a.gpu, resolution=Resolution.MINUTE, ts=ts, defaults={"gpu_util_avg": 50}
            )
    response = client_a.get(reverse("gpu-detail", args=[world.a.gpu.pk]) + "?range=6h&width=350")  # minutes
    util = chart(response, "Utilization")
    assert None in util.data[0].y
    gaps = [t for t in util.data if t.name == "collector gap"]
    assert gaps and "no data for" in gaps[0].hovertext[0]


@pytest.mark.parametrize(("width", "resolution"), [(1200, "1 min"), (350, "5 min")])
def test_resolution_follows_the_chart_width(client_a, world, width, resolution):
    now = timezone.now()
    for level in (Resolution.MINUTE, Resolution.FIVE_MINUTES):
        GpuRollup.objects.bulk_create(
            GpuRollup(gpu=world.a.gpu, resolution=level, ts=now - timedelta(seconds=level * n), gpu_util_avg=40)
            for n in range(1, 24 * 3600 // level)
        )
    response = client_a.get(reverse("gpu-detail", args=[world.a.gpu.pk]) + f"?width={width}")
    assert response.context["resolution"] == resolution


def test_a_bad_width_is_reported_and_the_default_used(client_a, world):
    response = client_a.get(reverse("gpu-detail", args=[world.a.gpu.pk]) + "?width=9x")
    assert "width='9x' is not a chart width" in " ".join(response.context["filters"].errors)
    assert response.context["filters"].max_points == 2400


def test_every_page_defaults_to_24_hours_and_the_navigation_carries_the_range(client_a, world):
    for name, args in (("gpu-list", []), ("hall-detail", [world.a.hall.pk]), ("gpu-detail", [world.a.gpu.pk])):
        assert client_a.get(reverse(name, args=args)).context["filters"].range == "24h"
    page = client_a.get(reverse("hall-list") + f"?range=7d&site={world.a.site.pk}").content.decode()
    assert f'href="/gpus/?range=7d&amp;site={world.a.site.pk}"' in page
    assert f'href="/planner/forecasts/?range=7d&amp;site={world.a.site.pk}"' in page


def test_a_training_halls_simulated_restarts_are_marked_simulated(client_a, world):
    world.a.hall.cooling_type = "liquid"
    world.a.hall.save()
    response = client_a.get(reverse("hall-detail", args=[world.a.hall.pk]) + "?range=7d")
    simulated = [t for t in response.context["load_figure"].data if t.name == "simulated event"]
    assert simulated and all(text.startswith("simulated by") for text in simulated[0].hovertext)
    overview = client_a.get(reverse("overview") + "?range=7d").context["load_figure"]
    assert any(t.name == "simulated event" for t in overview.data)


def test_the_gpus_page_has_a_fleet_heatmap_per_gpu_or_per_rack(client_a, world, monkeypatch):
    from telemetry.pages import heatmaps

    response = client_a.get(reverse("gpu-list") + "?heat=power&range=1h")
    heatmap = response.context["heatmap"].data[0]
    assert response.context["heatmap"].layout.title.text.startswith("GPU power per GPU (W)")
    assert f"{world.a.gpu.node.hostname}/gpu{world.a.gpu.index}" in heatmap.y
    assert any(v is not None for row in heatmap.z for v in row)
    monkeypatch.setattr(heatmaps, "MAX_GPU_ROWS", 0)
    by_rack = client_a.get(reverse("gpu-list") + "?heat=temp&range=1h").context["heatmap"]
    assert "per rack" in by_rack.layout.title.text
    assert list(by_rack.data[0].y) == [f"{world.a.hall.name} / {world.a.rack.name}"]
    assert all(15 < v < 100 for v in by_rack.data[0].z[0] if v is not None)


def test_an_hour_older_than_the_finer_levels_is_drawn_from_hourly_rollups(client, world):
    """An hour past the finer levels' retention has only its hourly rollup: the heatmap reads that."""
    hour = (timezone.now() - timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    GpuRollup.objects.create(resolution=Resolution.HOUR, gpu=world.a.gpu, ts=hour, gpu_power_avg=412.0, gpu_power_n=60)
    client.login(username=world.a.users["viewer"].username, password=PASSWORD)
    window = f"?heat=power&from={hour:%Y-%m-%dT%H:%M}&to={hour + timedelta(hours=1):%Y-%m-%dT%H:%M}"
    heatmap = client.get(reverse("gpu-list") + window).context["heatmap"]
    assert heatmap.layout.title.text.endswith("1h buckets")
    assert [v for row in heatmap.data[0].z for v in row if v is not None] == [412.0]


def test_the_last_hour_of_a_partly_reporting_fleet_keeps_its_minutes(client, world):
    """One GPU of three reports: a third of the minute cells is filled and the hourly level holds none yet."""
    gpus = three_gpus(world.a, "7777")
    now = timezone.now().replace(second=0, microsecond=0)
    minutes = [now - timedelta(minutes=m) for m in range(1, 50)]
    minute = {"resolution": Resolution.MINUTE, "gpu": gpus[0], "gpu_power_avg": 300.0, "gpu_power_n": 4}
    GpuRollup.objects.bulk_create(GpuRollup(ts=ts, **minute) for ts in minutes)
    client.login(username=world.a.users["viewer"].username, password=PASSWORD)
    heatmap = client.get(reverse("gpu-list") + "?heat=power&range=1h").context["heatmap"]
    assert heatmap.layout.title.text.endswith("1m buckets")
    assert [v for row in heatmap.data[0].z for v in row if v is not None] == [300.0] * len(minutes)


def test_the_heatmap_downloads_its_cells(client_a, world):
    response = client_a.get(reverse("gpu-list") + "?heat=power&range=1h")
    grid = response.context["heatmap"].data[0]
    rows = client_a.get(reverse("gpu-heatmap") + "?heat=power&range=1h").json()
    assert len(rows) == len(grid.y) * len(grid.x)
    shown = sorted(round(v, 3) for row in grid.z for v in row if v is not None)
    assert shown and shown == sorted(round(r["gpu_power_w"], 3) for r in rows if r["gpu_power_w"] is not None)


def test_a_week_of_hall_load_reads_hourly_history_before_the_finer_levels(client_a, world):
    """7 d at 1200 px reads 5-minute rollups, which the demo holds for its last day only: hourly fills the rest."""
    figure = client_a.get(reverse("overview") + "?range=7d").context["load_figure"]
    line = next(t for t in figure.data if t.name == str(world.a.hall))
    span = pd.Timestamp(line.x[-1]) - pd.Timestamp(line.x[0])
    assert span > pd.Timedelta(days=6)
