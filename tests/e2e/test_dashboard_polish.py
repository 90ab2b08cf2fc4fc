"""Issue #15's dashboard polish in a browser: the range carried across pages, event markers with hover text,
units on the GPU charts, the charts' width sent with the filters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from .pages import simulated

pytestmark = pytest.mark.e2e


def test_the_range_picked_on_one_page_stays_on_the_next(page):
    page.goto(page.base + "/halls/")
    page.get_by_label("Range", exact=True).select_option("7d")
    page.wait_for_url("**range=7d**")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="GPUs").click()
    page.wait_for_url("**/gpus/?range=7d**")
    assert page.get_by_label("Range", exact=True).input_value() == "7d"
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Forecasts").click()
    assert page.get_by_label("Range", exact=True).input_value() == "7d"
    assert page.errors == []


def test_gpu_charts_mark_events_with_hover_text_in_gib(page, e2e_world):
    from telemetry.models import Event

    world = simulated(e2e_world)
    ts = timezone.now() - timedelta(hours=3)
    Event.objects.create(organization=world.a.org, gpu=world.a.gpu, kind="xid", code=79, ts=ts, key="e2e-79")
    page.goto(f"{page.base}/gpus/{world.a.gpu.pk}/")
    page.wait_for_selector("#gpu-chart-1[data-rendered=true]")
    assert page.text_content("#gpu-chart-4 .g-ytitle") == "GiB"
    hovered = []
    for point in page.locator("#gpu-chart-1 .scatterlayer .point").all():  # the markers (the lines have none)
        point.hover(force=True)
        page.wait_for_selector("#gpu-chart-1 .hoverlayer .hovertext")
        hovered.append(page.text_content("#gpu-chart-1 .hoverlayer"))
    assert any("XID 79" in text for text in hovered), hovered
    assert page.errors == []


def test_the_filter_bar_sends_the_charts_width(page, e2e_world):
    world = simulated(e2e_world)
    page.goto(f"{page.base}/gpus/{world.a.gpu.pk}/")
    page.wait_for_selector("#gpu-chart-0[data-rendered=true]")
    page.get_by_label("Range", exact=True).select_option("6h")
    page.wait_for_url("**width=**")
    width = int(page.url.split("width=")[1].split("&")[0])
    assert 1000 < width < 1440  # the plot area of a full-width chart at 1440 px


def test_a_chart_with_nothing_in_the_range_shows_its_title_and_a_note_without_axes(page, e2e_world):
    world = simulated(e2e_world)
    past = timezone.now() - timedelta(days=40)  # before the simulated history
    page.goto(
        f"{page.base}/gpus/{world.a.gpu.pk}/?from={past:%Y-%m-%dT%H:00}&to={past + timedelta(hours=1):%Y-%m-%dT%H:00}"
    )
    page.wait_for_selector("#gpu-chart-1[data-rendered=true]")
    chart = page.locator("#gpu-chart-1")
    assert chart.locator(".chart-empty").text_content() == "No data for this range and selection."
    assert chart.locator(".gtitle").text_content() == "Power (W)"
    assert chart.locator(".xtick, .ytick").count() == 0
    assert chart.bounding_box()["height"] < 200  # the note and the title, not the 260 px reserved for a chart
    assert page.errors == []
