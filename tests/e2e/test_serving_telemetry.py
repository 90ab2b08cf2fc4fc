"""Serving telemetry pages in a real browser: an admin creates a deployment with its replica in the form; on the
demo's serving seed the deployments list shows measured efficiency, a deployment's page charts every serving
metric, and the Anomalies page lists the injected queue build-up, which a planner acknowledges and mutes; each
page fits a phone's width and logs no console errors."""

import re

import pytest

from telemetry.models import Gpu
from tests.integration.serving.demo_world import serve_demo

from .test_pages import switch_user
from .test_serving_pages import charts_with_data, fits_phone_and_desktop

pytestmark = pytest.mark.e2e


def test_an_admin_creates_a_deployment_in_the_browser(page, e2e_world):
    a = e2e_world.a
    Gpu.objects.create(node=a.node, index=1, uuid="GPU-00000001-e2e0-0000-0000-000000000000", model=a.gpu.model)
    switch_user(page, e2e_world.a.users["admin"])
    page.goto(page.base + "/serving/")
    page.get_by_role("link", name="New deployment").first.click()
    deployment = page.get_by_role("group", name="Deployment")
    deployment.get_by_label("Name").fill("browser chat")
    deployment.get_by_label("LLM model").select_option("Llama-3.1-8B")
    deployment.get_by_label("Engine").select_option(label="vLLM")
    deployment.get_by_label("GPU model").select_option(label="H100 SXM 80GB")
    replica = page.get_by_role("group", name="Replica 1")
    replica.get_by_label("Name").fill("r0")
    replica.get_by_label("/metrics URL").fill("http://alpha-n1:8000/metrics")
    replica.get_by_label("GPUs").fill("alpha-n1/gpu0, alpha-n1/gpu1")
    page.get_by_role("button", name="Save deployment").click()
    # Two GPUs for a TP=1 replica: the form comes back with the problem at the replica's GPUs.
    assert "a replica of TP 1 x PP 1 runs on 1" in page.get_by_role("group", name="Replica 1").inner_text()
    assert [e for e in page.errors if "status of 400" not in e] == []  # the refused form answers 400
    page.errors.clear()
    page.get_by_role("group", name="Replica 1").get_by_label("GPUs").fill("alpha-n1/gpu0")
    page.get_by_role("button", name="Save deployment").click()
    page.wait_for_url(re.compile(r".*/serving/\d+/$"))
    assert "Saved deployment “browser chat” with 1 replicas." in page.get_by_role("status").inner_text()
    replicas = page.locator("table", has=page.get_by_role("columnheader", name="/metrics"))
    assert "http://alpha-n1:8000/metrics" in replicas.inner_text() and "gpu0" in replicas.inner_text()
    page.get_by_role("link", name="Edit").click()
    fits_phone_and_desktop(page, "deployment-edit")
    assert page.errors == []


def test_serving_pages_show_measured_efficiency_charts_and_the_injected_anomaly(page, e2e_world):
    serve_demo(e2e_world)
    page.goto(page.base + "/serving/")
    row = page.get_by_role("row", name=re.compile("llama-8b-chat"))
    cells = row.get_by_role("cell").all_inner_texts()
    assert cells[4] == "4" and float(cells[5].replace(",", "")) > 0, cells  # replicas, tokens per GPU-hour
    fits_phone_and_desktop(page, "serving")
    row.get_by_role("link", name="llama-8b-chat").click()
    page.wait_for_url(re.compile(r".*/serving/\d+/$"))
    assert len(charts_with_data(page)) == 6
    measured = page.locator(".kpis dd").first.inner_text()
    assert float(measured.replace(",", "")) > 0, measured  # output tokens per GPU-hour
    fits_phone_and_desktop(page, "serving-deployment")

    page.goto(page.base + "/anomalies/")
    anomaly = page.locator("tbody tr", has_text="llama-8b-chat/r2").first
    assert "ongoing" in anomaly.inner_text() or "requests_waiting" in anomaly.inner_text()
    fits_phone_and_desktop(page, "anomalies")
    anomaly.get_by_role("button", name="Acknowledge").click()
    assert "Acknowledged: llama-8b-chat/r2" in page.get_by_role("status").inner_text()
    acknowledged = page.locator("tbody tr", has_text="acknowledged").filter(has_text="llama-8b-chat/r2").first
    acknowledged.get_by_label("Mute").select_option("8")
    acknowledged.get_by_role("button", name="Mute").click()
    assert "for 8 h" in page.get_by_role("status").inner_text()
    assert page.errors == []
