"""Forecast pages render for the organization's own objects within a query budget; another
organization's hall or GPU answers 404; the overview shows the 24-hour outlook and active alerts."""

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse

from planner import forecasting
from planner.models import ForecastRun
from telemetry.models import HallRollup

from .helpers import last_hour, seed_hall, write_gpu_hours


@pytest.fixture
def forecasted(world):
    hall = world.a.hall
    as_of = last_hour(seed_hall(hall, weeks=3, capacity_kw=250.0))
    forecasting.run_cooling_forecast(hall.pk, as_of=as_of, mode=ForecastRun.Mode.REFIT)
    write_gpu_hours(world.a.gpu, as_of, hours=48, gpu_temp_max=70.0, gpu_temp_avg=65.0, gpu_ecc_sbe_max=3.0)
    forecasting.run_risk_scoring(world.a.org.pk, as_of=as_of)
    return world


def _get(client, user, url, max_queries, django_assert_max_num_queries):
    client.force_login(user)
    with django_assert_max_num_queries(max_queries):
        return client.get(url)


@pytest.mark.parametrize(
    ("name", "args", "max_queries", "expect"),
    [
        ("planner:forecast-index", False, 12, "Cooling outlook"),
        ("planner:forecast-hall", "hall", 15, "beats its baseline"),
        ("planner:forecast-alerts", False, 8, "inlet_recommended"),
        ("planner:forecast-risk", False, 10, "30-day risk"),
        ("planner:forecast-risk-detail", "gpu", 10, "Signals over time"),
        ("planner:forecast-fleet", False, 8, "Spares to keep"),
    ],
)
def test_page_renders_within_query_budget(
    client, forecasted, name, args, max_queries, expect, django_assert_max_num_queries
):
    a = forecasted.a
    url = reverse(name, args=[{"hall": a.hall.pk, "gpu": a.gpu.pk}[args]] if args else [])
    response = _get(client, a.users["viewer"], url, max_queries, django_assert_max_num_queries)
    assert response.status_code == 200
    assert expect in response.content.decode()


def test_hall_page_shows_bands_limits_and_backtest(client, forecasted):
    a = forecasted.a
    client.force_login(a.users["viewer"])
    html = client.get(reverse("planner:forecast-hall", args=[a.hall.pk])).content.decode()
    assert "95% interval" in html and "80% interval" in html
    assert "ASHRAE recommended 27" in html and "class A1 allowable 32" in html
    assert "MAE ratio to naive" in html


def test_hall_page_shows_last_good_forecast_after_a_failed_run(client, forecasted):
    a = forecasted.a
    good = forecasting.latest_hall_forecasts(a.org)[a.hall.pk]
    HallRollup.objects.filter(hall=a.hall).delete()
    forecasting.run_cooling_forecast(a.hall.pk, as_of=good.as_of + timedelta(hours=1))
    client.force_login(a.users["viewer"])
    html = client.get(reverse("planner:forecast-hall", args=[a.hall.pk])).content.decode()
    assert "The latest run" in html and "failed" in html and "last good one" in html
    assert good.as_of.strftime("%Y-%m-%d %H:%M") in html


def test_overview_shows_outlook_and_alerts(client, forecasted, django_assert_max_num_queries):
    a = forecasted.a
    response = _get(client, a.users["viewer"], reverse("overview"), 25, django_assert_max_num_queries)
    html = response.content.decode()
    assert "Cooling outlook, next 24 hours" in html
    assert "Active cooling alerts" in html and "inlet_recommended" in html
    assert reverse("planner:forecast-hall", args=[a.hall.pk]) in html


def test_risk_table_filters_and_sorts(client, forecasted):
    a = forecasted.a
    client.force_login(a.users["viewer"])
    url = reverse("planner:forecast-risk")
    assert a.node.hostname in client.get(url, {"model": "H100 SXM 80GB", "sort": "gpu"}).content.decode()
    assert "No GPU matches" in client.get(url, {"min_risk": "99"}).content.decode()
    assert client.get(url, {"min_risk": "abc", "sort": "bogus"}).status_code == 200


@pytest.mark.parametrize(
    ("name", "target"), [("planner:forecast-hall", "hall"), ("planner:forecast-risk-detail", "gpu")]
)
def test_other_organizations_objects_are_404(client, forecasted, name, target):
    b = forecasted.b
    client.force_login(b.users["admin"])
    a_object = getattr(forecasted.a, target)
    assert client.get(reverse(name, args=[a_object.pk])).status_code == 404


def test_other_organization_sees_none_of_the_forecasts(client, forecasted):
    b = forecasted.b
    client.force_login(b.users["viewer"])
    assert "inlet_recommended" not in client.get(reverse("planner:forecast-alerts")).content.decode()
    assert "No risk scores yet" in client.get(reverse("planner:forecast-risk")).content.decode()
    assert forecasted.a.hall.name not in client.get(reverse("planner:forecast-index")).content.decode()


def test_pages_require_login(client, forecasted):
    response = client.get(reverse("planner:forecast-index"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_hall_page_history_follows_the_range_picker(client, forecasted):
    a = forecasted.a
    client.force_login(a.users["viewer"])
    url = reverse("planner:forecast-hall", args=[a.hall.pk])

    def measured_points(query):
        html = client.get(url + query).content.decode()
        assert 'name="range"' in html  # the filter bar is shown
        figure = json.loads(unescape(re.search(r'id="it" [^>]*data-figure="([^"]*)"', html).group(1)))
        (trace,) = [t for t in figure["data"] if t.get("name") == "measured"]
        return len(trace["x"])

    assert measured_points("?range=24h") < measured_points("?range=7d") <= measured_points("")
