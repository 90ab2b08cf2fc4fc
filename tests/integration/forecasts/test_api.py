"""Forecast API: JSON, CSV and XLSX for forecasts, alerts and risk scores, scoped to the caller's
organization (another organization's rows are invisible, its objects 404), within a query budget."""

import io

import pytest
from openpyxl import load_workbook
from rest_framework.test import APIClient

from planner.forecasts import cooling, risk
from planner.forecasts.models import ForecastRun

from .helpers import last_hour, seed_hall, write_gpu_hours


@pytest.fixture
def forecasted(world):
    hall = world.a.hall
    as_of = last_hour(seed_hall(hall, weeks=3, capacity_kw=250.0))
    cooling.run_cooling_forecast(hall.pk, as_of=as_of, mode=ForecastRun.Mode.REFIT)
    write_gpu_hours(world.a.gpu, as_of, hours=48, gpu_temp_max=70.0, gpu_temp_avg=65.0)
    risk.run_risk_scoring(world.a.org.pk, as_of=as_of)
    return world


def _client(org, role="viewer"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {org.tokens[role]}")
    return client


@pytest.mark.parametrize("endpoint", ["forecasts", "alerts", "risk-scores", "forecast-runs"])
def test_lists_are_scoped_and_within_query_budget(forecasted, endpoint, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        mine = _client(forecasted.a).get(f"/api/planner/{endpoint}/")
    theirs = _client(forecasted.b).get(f"/api/planner/{endpoint}/")
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["count"] >= 1
    assert theirs.json()["count"] == 0


def test_forecast_detail_exports_hourly_rows_and_backtest(forecasted):
    client = _client(forecasted.a)
    forecast_id = client.get("/api/planner/forecasts/latest/").json()[0]["id"]
    data = client.get(f"/api/planner/forecasts/{forecast_id}/").json()
    rows = data["tables"]["Forecast"]
    assert len(rows) == 168
    assert rows[0]["max_inlet_c_lo95"] < rows[0]["max_inlet_c"] < rows[0]["max_inlet_c_hi95"]
    assert {r["target"] for r in data["tables"]["Backtest"]} == {"it_load_kw", "cooling_load_kw", "max_inlet_c"}

    csv = client.get(f"/api/planner/forecasts/{forecast_id}/", {"format": "csv"})
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    header = csv.content.decode().splitlines()[0]
    assert "IT load" in header and "(kW)" in header
    assert len(csv.content.decode().splitlines()) == 169

    xlsx = client.get(f"/api/planner/forecasts/{forecast_id}/", {"format": "xlsx"})
    workbook = load_workbook(io.BytesIO(xlsx.content))
    assert workbook.sheetnames == ["Forecast", "Backtest"]
    assert isinstance(workbook["Forecast"]["B2"].value, float)

    assert _client(forecasted.b).get(f"/api/planner/forecasts/{forecast_id}/").status_code == 404


def test_alerts_export_and_filter(forecasted):
    client = _client(forecasted.a)
    active = client.get("/api/planner/alerts/", {"active": "true"}).json()["results"]
    assert "inlet_recommended" in {a["kind"] for a in active}
    assert client.get("/api/planner/alerts/", {"active": "false"}).json()["count"] == 0
    assert client.get("/api/planner/alerts/", {"active": "maybe"}).status_code == 400
    csv = client.get("/api/planner/alerts/", {"format": "csv"}).content.decode().splitlines()
    assert len(csv) == 1 + len(active) and "inlet_recommended" in "".join(csv[1:])


def test_risk_scores_export_and_filters(forecasted):
    client = _client(forecasted.a)
    rows = client.get("/api/planner/risk-scores/").json()["results"]
    assert rows[0]["gpu_uuid"] == forecasted.a.gpu.uuid
    assert 0 < rows[0]["probability_30d"] < 1
    assert client.get("/api/planner/risk-scores/", {"min_probability": "0.9"}).json()["count"] == 0
    assert client.get("/api/planner/risk-scores/", {"min_probability": "x"}).status_code == 400
    xlsx = client.get("/api/planner/risk-scores/", {"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row == 2


def test_forecast_api_is_read_only(forecasted):
    client = _client(forecasted.a, "admin")
    assert client.post("/api/planner/alerts/", {}).status_code == 405
    assert client.delete(f"/api/planner/forecasts/{forecasted.a.hall.pk}/").status_code == 405
