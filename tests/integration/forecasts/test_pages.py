"""Forecast pages render for the organization's own objects within a query budget; another
organization's hall or GPU answers 404; the overview shows the 24-hour outlook and active alerts. The
dashboard filters narrow every list and chart to a site or hall, the range picks the time window, times are
in the site's timezone, and bad filter values are reported on the page."""

import json
import re
import zoneinfo
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from planner.forecasts import cooling, risk
from planner.forecasts.models import Alert, ForecastRun, HallForecast
from telemetry.models import HallRollup
from tests.integration.sites import add_site, shown

from .helpers import last_hour, seed_hall, write_gpu_hours

BERLIN, NEW_YORK = zoneinfo.ZoneInfo("Europe/Berlin"), zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture
def forecasted(world):
    hall = world.a.hall
    as_of = last_hour(seed_hall(hall, weeks=3, capacity_kw=250.0))
    cooling.run_cooling_forecast(hall.pk, as_of=as_of, mode=ForecastRun.Mode.REFIT)
    write_gpu_hours(world.a.gpu, as_of, hours=48, gpu_temp_max=70.0, gpu_temp_avg=65.0, gpu_ecc_sbe_max=3.0)
    risk.run_risk_scoring(world.a.org.pk, as_of=as_of)
    return world


def _get(client, user, url, max_queries, django_assert_max_num_queries):
    client.force_login(user)
    with django_assert_max_num_queries(max_queries):
        return client.get(url)


@pytest.mark.parametrize(
    ("name", "args", "max_queries", "expect"),
    [
        ("forecasts:index", False, 14, "Cooling outlook"),
        ("forecasts:hall", "hall", 17, "beats its baseline"),
        ("forecasts:alerts", False, 10, "inlet_recommended"),
        ("forecasts:risk", False, 15, "30-day risk"),  # + 3: how many GPUs are scored and why not
        ("forecasts:risk-detail", "gpu", 12, "Signals over time"),
        ("forecasts:fleet", False, 10, "Spares to keep"),
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
    html = client.get(reverse("forecasts:hall", args=[a.hall.pk])).content.decode()
    assert "95% interval" in html and "80% interval" in html
    assert "ASHRAE recommended 27" in html and "class A1 allowable 32" in html
    assert "MAE ratio to best" in html and "MAE same hour last week" in html
    assert "IT-load model:" in html and "chosen by backtest" in html
    hours_ahead = re.findall(r'<td class="num">(\d+)</td><td class="num">[\d.]+</td>', html)
    assert {"1", "6", "24", "72"} <= set(hours_ahead)


def test_hall_page_says_when_the_forecast_is_a_baseline(client, forecasted):
    a = forecasted.a
    latest = HallForecast.objects.filter(hall=a.hall).first()
    latest.backtest = {**latest.backtest, "it_model": "yesterday"}
    latest.save()
    client.force_login(a.users["viewer"])
    text = " ".join(client.get(reverse("forecasts:hall", args=[a.hall.pk])).content.decode().split())
    assert "same hour yesterday" in text and "no model beat the best naive baseline" in text


def test_hall_page_shows_last_good_forecast_after_a_failed_run(client, forecasted):
    a = forecasted.a
    good = cooling.latest_hall_forecasts(a.org)[a.hall.pk]
    HallRollup.objects.filter(hall=a.hall).delete()
    cooling.run_cooling_forecast(a.hall.pk, as_of=good.as_of + timedelta(hours=1))
    client.force_login(a.users["viewer"])
    html = client.get(reverse("forecasts:hall", args=[a.hall.pk])).content.decode()
    assert "The latest run" in html and "failed" in html and "last good one" in html
    assert good.as_of.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M (Europe/Berlin)") in html


def test_overview_shows_outlook_and_alerts(client, forecasted, django_assert_max_num_queries):
    a = forecasted.a
    response = _get(client, a.users["viewer"], reverse("overview"), 25, django_assert_max_num_queries)
    html = response.content.decode()
    assert "Cooling outlook, next 24 hours" in html
    assert "Active cooling alerts" in html and "inlet_recommended" in html
    assert reverse("forecasts:hall", args=[a.hall.pk]) in html


def test_risk_table_filters_and_sorts(client, forecasted):
    a = forecasted.a
    client.force_login(a.users["viewer"])
    url = reverse("forecasts:risk")
    assert a.node.hostname in client.get(url, {"model": "H100 SXM 80GB", "sort": "gpu"}).content.decode()
    assert "No GPU matches" in client.get(url, {"min_risk": "99"}).content.decode()
    assert client.get(url, {"min_risk": "abc", "sort": "bogus"}).status_code == 200


@pytest.mark.parametrize(("name", "target"), [("forecasts:hall", "hall"), ("forecasts:risk-detail", "gpu")])
def test_other_organizations_objects_are_404(client, forecasted, name, target):
    b = forecasted.b
    client.force_login(b.users["admin"])
    a_object = getattr(forecasted.a, target)
    assert client.get(reverse(name, args=[a_object.pk])).status_code == 404


def test_other_organization_sees_none_of_the_forecasts(client, forecasted):
    b = forecasted.b
    client.force_login(b.users["viewer"])
    assert "inlet_recommended" not in client.get(reverse("forecasts:alerts")).content.decode()
    assert "No risk scores yet" in client.get(reverse("forecasts:risk")).content.decode()
    assert forecasted.a.hall.name not in client.get(reverse("forecasts:index")).content.decode()


def test_pages_require_login(client, forecasted):
    response = client.get(reverse("forecasts:index"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_hall_page_history_follows_the_range_picker(client, forecasted):
    a = forecasted.a
    client.force_login(a.users["viewer"])
    url = reverse("forecasts:hall", args=[a.hall.pk])

    def measured_points(query):
        html = client.get(url + query).content.decode()
        assert 'name="range"' in html  # the filter bar is shown
        figure = json.loads(unescape(re.search(r'id="it" [^>]*data-figure="([^"]*)"', html).group(1)))
        (trace,) = [t for t in figure["data"] if t.get("name") == "measured"]
        return len(trace["x"])

    assert measured_points("") == measured_points("?range=24h") < measured_points("?range=7d")  # 24 h by default


@pytest.fixture
def two_sites(world, client):
    """Organization a's Berlin hall and a New York one, both forecast (with cooling alerts) and scored."""
    world.west = add_site(world.a.org)
    for hall, gpu in ((world.a.hall, world.a.gpu), (world.west.hall, world.west.gpu)):
        world.as_of = last_hour(seed_hall(hall, weeks=3, capacity_kw=250.0))
        cooling.run_cooling_forecast(hall.pk, as_of=world.as_of, mode=ForecastRun.Mode.REFIT)
        write_gpu_hours(gpu, world.as_of, hours=48, gpu_temp_max=70.0, gpu_temp_avg=65.0, gpu_ecc_sbe_max=3.0)
    risk.run_risk_scoring(world.a.org.pk, as_of=world.as_of)
    client.force_login(world.a.users["viewer"])
    return world


def _figure(html, element_id):
    return json.loads(unescape(re.search(rf'id="{element_id}" [^>]*data-figure="([^"]*)"', html).group(1)))


LISTS = ["forecasts:index", "forecasts:alerts", "forecasts:risk", "forecasts:fleet"]


def test_a_site_or_hall_leaves_the_other_sites_halls_out(client, two_sites):
    west = two_sites.west
    for name in LISTS:  # one fixture for all pages: it runs two cooling refits
        html = shown(client.get(reverse(name), {"show": "all"}))
        assert "alpha-hall" in html and "west-hall" in html, name
        for by in ("site", "hall"):
            html = shown(client.get(reverse(name), {by: getattr(west, by).pk, "show": "all"}))
            assert "west-hall" in html and "alpha-hall" not in html, (name, by)


BAD_FILTERS = [
    ({"site": "abc"}, "site=&#x27;abc&#x27; is not an id."),
    ({"hall": "999999"}, "No hall with id 999999 in your organization."),
    ({"from": "yesterday"}, "&#x27;from&#x27;=&#x27;yesterday&#x27; is not a date"),
]


def test_bad_filter_values_are_reported_not_a_500(client, two_sites):
    other_hall = two_sites.b.hall.pk
    for name in LISTS:
        for query, message in [*BAD_FILTERS, ({"hall": other_hall}, f"No hall with id {other_hall} in your")]:
            response = client.get(reverse(name), query)
            assert response.status_code == 200 and message in response.content.decode(), (name, query)
            assert "west-hall" in shown(response), (name, query)  # the rest of the page as unfiltered


@pytest.mark.parametrize(
    ("name", "query", "message"),
    [
        ("forecasts:risk", {"min_risk": "high"}, "min_risk=&#x27;high&#x27; is not a number"),
        ("forecasts:alerts", {"show": "some"}, "Unknown show=&#x27;some&#x27;; choose one of active, all."),
    ],
)
def test_bad_page_filters_are_reported_too(client, two_sites, name, query, message):
    response = client.get(reverse(name), query)
    assert response.status_code == 200 and message in response.content.decode()


def test_fleet_page_says_when_the_selection_has_no_scored_gpu(client, two_sites):
    empty = add_site(two_sites.a.org, name="east", timezone="Asia/Tokyo")
    html = shown(client.get(reverse("forecasts:fleet"), {"site": empty.site.pk}))
    assert "No scored GPUs in this selection." in html and "west-hall" not in html


def test_risk_times_are_in_the_picked_sites_timezone(client, two_sites):
    html = shown(client.get(reverse("forecasts:risk"), {"site": two_sites.west.site.pk}))
    assert two_sites.as_of.astimezone(NEW_YORK).strftime("Scored %Y-%m-%d %H:%M (America/New_York)") in html
    html = shown(client.get(reverse("forecasts:fleet"), {"hall": two_sites.a.hall.pk}))
    assert two_sites.as_of.astimezone(BERLIN).strftime("scores of %Y-%m-%d %H:%M (Europe/Berlin)") in html


def test_alert_times_are_in_the_picked_sites_timezone(client, two_sites):
    alert = Alert.objects.filter(hall=two_sites.west.hall).first()
    html = shown(client.get(reverse("forecasts:alerts"), {"site": two_sites.west.site.pk}))
    assert "Times in America/New_York" in html
    assert f"<td>{alert.start.astimezone(NEW_YORK):%Y-%m-%d %H:%M}</td>" in html
    assert f"<td>{alert.start:%Y-%m-%d %H:%M}</td>" not in html  # UTC is 5 hours off in January


def test_hall_forecast_is_in_the_halls_timezone(client, two_sites):
    forecast = cooling.latest_hall_forecasts(two_sites.a.org)[two_sites.west.hall.pk]
    html = shown(client.get(reverse("forecasts:hall", args=[two_sites.west.hall.pk])))
    assert forecast.as_of.astimezone(NEW_YORK).strftime("Made %Y-%m-%d %H:%M (America/New_York)") in html
    chart = _figure(html, "cooling")
    assert chart["layout"]["xaxis"]["title"]["text"] == "time (America/New_York)"
    (line,) = [t for t in chart["data"] if t.get("name") == "forecast"]
    assert line["x"][0] == (forecast.as_of + timedelta(hours=1)).astimezone(NEW_YORK).isoformat()


def test_risk_detail_range_and_timezone(client, two_sites):
    url = reverse("forecasts:risk-detail", args=[two_sites.west.gpu.pk])
    end = two_sites.as_of

    def chart(days):
        html = shown(client.get(url, {"from": (end - timedelta(days=days)).isoformat(), "to": end.isoformat()}))
        return _figure(html, "gpu-signals")

    day, two_days = chart(1), chart(2)
    assert day["layout"]["xaxis"]["title"]["text"] == "time (America/New_York)"
    temperature = [t for t in day["data"] if t["name"] == "max temperature (°C)"][0]["x"]
    assert temperature[-1] == (end - timedelta(hours=1)).astimezone(NEW_YORK).isoformat()
    assert len(temperature) == 24
    assert len([t for t in two_days["data"] if t["name"] == "max temperature (°C)"][0]["x"]) == 48
    risk = [t for t in day["data"] if t["name"] == "30-day risk (%)"][0]["x"]
    assert risk == [two_sites.as_of.astimezone(NEW_YORK).isoformat()]


def test_alert_list_range_keeps_alerts_open_in_it(client, two_sites):
    now = timezone.now()
    old = Alert.objects.filter(hall=two_sites.a.hall).first()
    Alert.objects.filter(pk=old.pk).update(first_seen=now - timedelta(days=12), resolved_at=now - timedelta(days=10))
    url = reverse("forecasts:alerts")
    link = f"{old.kind}</td>"

    def listed(range_key):
        return shown(client.get(url, {"show": "all", "range": range_key, "hall": two_sites.a.hall.pk})).count(link)

    assert listed("30d") == listed("7d") + 1


def test_index_lists_the_runs_in_the_range(client, two_sites):
    html = shown(client.get(reverse("forecasts:index"), {"from": "2020-01-01", "to": "2020-01-02"}))
    assert "No forecast runs in this range." in html
    html = shown(client.get(reverse("forecasts:index"), {"site": two_sites.west.site.pk}))
    assert "<td>west-hall</td>" in html and "<td>all</td>" in html  # the west hall's runs and the risk run


def test_risk_page_explains_how_its_gpu_count_differs_from_the_overviews(client, forecasted):
    from telemetry.models import Gpu

    a = forecasted.a
    Gpu.objects.filter(pk=a.gpu.pk).update(status=Gpu.Status.FAILED)  # scored before it failed: now out of service
    client.force_login(a.users["viewer"])
    coverage = client.get(reverse("forecasts:risk")).context["coverage"]
    inventory = Gpu.objects.for_org(a.org).count()
    assert coverage["inventory"] == inventory and coverage["out_of_service"] == 1
    assert coverage["scored"] + coverage["out_of_service"] + coverage["lost"] + coverage["later"] >= inventory
