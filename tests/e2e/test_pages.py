"""Every page in a real browser: renders, charts carry data, no console errors, screenshots; the time range
changes a chart; an export downloads."""

import io

import openpyxl
import pytest
from django.conf import settings
from django.test import Client

from .conftest import DESKTOP, PHONE, SCREENSHOTS, settle_layout
from .pages import PAGES

pytestmark = pytest.mark.e2e

CHART_STATE = """() => [...document.querySelectorAll('[data-figure]')].map(el => ({
    id: el.id, rendered: el.dataset.rendered === 'true', traces: (el.data || []).length,
    points: Number(el.dataset.points || 0), xs: (el.data || []).map(t => (t.x || []).length) }))"""

# Tables wider than the box that holds them (their .table-wrap scrolls, hiding columns).
WIDE_TABLES = """() => [...document.querySelectorAll('.table-wrap')].filter(w => w.scrollWidth > w.clientWidth + 1)
    .map(w => (w.querySelector('th') || w).textContent.trim() + ': ' + w.scrollWidth + ' > ' + w.clientWidth)"""


def switch_user(page, user):
    """Give the browser a session of `user` (the page fixture logged in the planner)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": page.base}])


@pytest.mark.parametrize("spec", PAGES, ids=[p.name for p in PAGES])
def test_page_renders_with_charts_and_no_console_errors(page, e2e_world, spec):
    if spec.role != "planner":
        switch_user(page, e2e_world.a.users[spec.role])
    response = page.goto(page.base + spec.path(e2e_world))
    assert response.status == 200, f"{spec.name}: HTTP {response.status}"
    page.wait_for_load_state("networkidle")
    if page.locator("[data-figure]").count():
        page.wait_for_selector("[data-figure]:not([data-rendered=true])", state="detached", timeout=15000)
    charts = page.evaluate(CHART_STATE)
    assert len(charts) >= spec.charts, f"{spec.name}: expected {spec.charts} charts, found {charts}"
    for chart in charts:
        assert chart["rendered"] and chart["traces"] > 0 and chart["points"] > 0, f"{spec.name}: {chart}"
    assert page.errors == [], f"{spec.name}: console errors {page.errors}"
    if spec.screenshot:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            settle_layout(page, size["width"])
            page.screenshot(path=SCREENSHOTS / f"{spec.name}-{label}.png", full_page=True)
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= size["width"] + 1, f"{spec.name} scrolls sideways at {label} ({scroll_width}px)"
            if label == "desktop":  # tables fit their card; on a phone they may scroll inside it
                assert page.evaluate(WIDE_TABLES) == [], f"{spec.name}: tables wider than their card at {label}"


def test_time_range_picker_changes_the_chart_and_the_url(page):
    page.goto(page.base + "/planner/reports/deliveries/?range=7d")
    page.wait_for_selector("#deliveries-per-day[data-rendered=true]")
    week = page.evaluate(CHART_STATE)[0]
    assert page.locator("tbody tr").count() == 1  # the 3-hour-old delivery only
    page.get_by_label("Range", exact=True).select_option("30d")
    page.wait_for_url("**range=30d**")
    page.wait_for_selector("#deliveries-per-day[data-rendered=true]")
    month = page.evaluate(CHART_STATE)[0]
    assert month["xs"] != week["xs"]  # one bar slot per day of the range
    assert page.locator("tbody tr").count() == 2
    assert page.errors == []


def test_export_downloads_an_xlsx_with_the_page_data(page):
    page.goto(page.base + "/")
    with page.expect_download() as info:
        page.get_by_role("link", name="XLSX").first.click()
    path = info.value.path()
    sheet = openpyxl.load_workbook(io.BytesIO(open(path, "rb").read())).worksheets[0]
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[2]][1] == "alpha-hall"


def test_controls_are_keyboard_reachable_and_labelled(page):
    page.goto(page.base + "/planner/reports/deliveries/")
    focused = set()
    for _ in range(25):
        page.keyboard.press("Tab")
        focused.add(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert {"f-range", "f-site", "f-hall"} <= focused
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.name)"""
    )
    assert unlabelled == []


def test_scenario_editor_results_follow_the_input_as_it_is_typed(page, e2e_world):
    from tests.integration.planner.factories import make_scenario

    scenario = make_scenario(e2e_world.a.org, halls=[e2e_world.a.hall])
    page.goto(f"{page.base}/planner/scenarios/{scenario.pk}/edit/")
    page.wait_for_selector("#cost-curves[data-rendered=true]")
    saved = page.inner_text("#live-results")
    page.get_by_role("group", name="Workload 1").get_by_label("Requests per day").fill("20000000")
    page.wait_for_selector("#live-results:has-text('preview of unsaved changes') #cost-curves[data-rendered=true]")
    assert page.inner_text("#live-results") != saved
    page.get_by_role("group", name="Workload 1").get_by_label("Requests per day").fill("-5")
    page.wait_for_selector("#live-results:has-text('Requests per day: Must not be negative.')")
    assert page.errors == []
