"""Serving pages in a real browser: a planner fills the recommendation form, gets the ranked configurations
with the memory and Pareto charts and launch flags, plans a week from it, sees the hourly chart, exports it;
both pages fit a phone's width and log no console errors."""

import csv
import io

import pytest

from .conftest import DESKTOP, PHONE, SCREENSHOTS, settle_layout
from .test_pages import CHART_STATE

pytestmark = pytest.mark.e2e


def charts_with_data(page):
    page.wait_for_selector("[data-figure]:not([data-rendered=true])", state="detached", timeout=15000)
    charts = page.evaluate(CHART_STATE)
    assert charts and all(c["rendered"] and c["traces"] > 0 and c["points"] > 0 for c in charts), charts
    return {c["id"] for c in charts}


def fits_phone_and_desktop(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        settle_layout(page, size["width"])
        page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"] + 1, f"{name} scrolls sideways at {label} ({width}px)"
    page.set_viewport_size(DESKTOP)


def test_recommend_then_plan_a_week_in_the_browser(page):
    page.goto(page.base + "/planner/serving/")
    page.get_by_role("link", name="New recommendation").click()
    page.get_by_label("Name").fill("browser chat")
    page.get_by_label("LLM").select_option("Llama-3.1-8B")
    page.get_by_label("GPU model").select_option(label="H100 SXM 80GB")
    page.get_by_label("FP8").check()
    page.get_by_label("Peak requests/s").fill("20")
    page.get_by_label("Mean input tokens").fill("1000")
    page.get_by_label("Mean output tokens").fill("250")
    page.get_by_label("p95 TTFT target (ms)").fill("1000")
    page.get_by_label("p95 TPOT target (ms)").fill("30")
    page.get_by_label("Rented price (USD/GPU-hour)").fill("3")
    page.get_by_role("button", name="Compute and save").click()
    page.wait_for_url("**/planner/serving/recommendations/*/")
    assert charts_with_data(page) == {"serving-memory", "serving-pareto"}
    assert "--tensor-parallel-size 1" in page.locator("pre").first.inner_text()
    assert page.locator("tbody tr").count() >= 10
    fits_phone_and_desktop(page, "serving-recommendation")

    page.get_by_role("link", name="Plan scaling for a week").click()
    page.get_by_label("Name").fill("browser week")
    page.get_by_role("button", name="Compute and save").click()
    page.wait_for_url("**/planner/serving/plans/*/")
    assert charts_with_data(page) == {"serving-hours"}
    assert "GPU-hours saved vs static peak" in page.locator(".kpis").inner_text()
    fits_phone_and_desktop(page, "serving-plan")
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV (hours)").click()
    rows = list(csv.reader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    assert rows[0][:4] == ["Hour of week", "Day", "Hour", "Demand (requests/s)"] and len(rows) == 169
    assert page.errors == []


def test_bad_input_stays_on_the_form(page):
    page.goto(page.base + "/planner/serving/recommendations/new/")
    page.get_by_label("Name").fill("bad")
    page.get_by_label("Peak requests/s").fill("-1")
    page.get_by_role("button", name="Compute and save").click()
    assert page.get_by_role("alert").count() > 0
    assert page.get_by_label("Name").input_value() == "bad"
