"""Planner pages: list, detail with every chart, editor with field-level errors, compare, copy; roles and isolation;
the dashboard's site/hall filter narrows the halls charted and stays in the links between the pages."""

import json
import re
from html import unescape

import pytest
from django.test import Client

from planner.models import Scenario
from telemetry.models import GpuModel
from tests.integration.sites import add_site, shown

from .factories import make_scenario


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def editor_data(**overrides):
    data = {
        "name": "Edited",
        "start_month": "2026-01-01",
        "horizon_months": 12,
        "gpu_model": GpuModel.objects.get(name="H100 SXM 80GB").pk,
        "precision": "FP8",
        "utilization_ceiling_pct": 80,
        "redundancy_replicas": 1,
        "annual_failure_rate_pct": 11,
        "failure_cover_days": 30,
        "on_demand_usd_per_gpu_hour": 3,
        "committed_1y_usd_per_gpu_hour": 2.4,
        "committed_3y_usd_per_gpu_hour": 1.9,
        "spot_usd_per_gpu_hour": 2.2,
        "spot_interruption_overhead_pct": 15,
        "mixed_baseline_pct": 60,
        "mixed_burst_hours_pct": 30,
        "server_capex_usd_per_gpu": 35000,
        "network_storage_pct": 15,
        "depreciation_years": 5,
        "cost_of_capital_pct": 8,
        "maintenance_pct_per_year": 5,
        "replacement_cost_pct": 50,
        "staff_usd_per_month": 0,
        "pue": 1.4,
        "electricity_usd_per_kwh": 0.08,
        "facility_usd_per_kw_month": 150,
        "discount_rate_pct": 8,
        "gpus_per_rack": 32,
        "calibration_days": 30,
        "growth_spread_pp": 3,
        "price_spread_pct": 20,
        "workloads-TOTAL_FORMS": 1,
        "workloads-INITIAL_FORMS": 0,
        "workloads-MIN_NUM_FORMS": 1,
        "workloads-MAX_NUM_FORMS": 1000,
        "workloads-0-name": "chat",
        "workloads-0-llm_model": "Llama-3.1-8B",
        "workloads-0-requests_per_day": 1000000,
        "workloads-0-mean_input_tokens": 1000,
        "workloads-0-mean_output_tokens": 200,
        "workloads-0-peak_to_mean": 2,
        "workloads-0-monthly_growth_pct": 3,
    }
    return data | overrides


def test_detail_page_shows_every_chart_within_a_query_cap(world, django_assert_max_num_queries):
    scenario = make_scenario(world.a.org, halls=[world.a.hall])
    client = client_for(world.a.users["viewer"])
    with django_assert_max_num_queries(18):  # 2 of them for the filter bar's site and hall menus
        response = client.get(f"/planner/scenarios/{scenario.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    for chart in ("cost-curves", "gpus-needed", "runway", "tornado", "bands"):
        assert f'id="{chart}"' in html
    assert "Breakeven" in html and "TDP-based" in html and "USD per 1M output tokens" in html
    assert "Edit" not in html  # a viewer gets no edit link


def test_list_and_compare_pages_within_query_caps(world, django_assert_max_num_queries):
    scenarios = [make_scenario(world.a.org, name=f"s{i}", halls=[world.a.hall]) for i in range(3)]
    client = client_for(world.a.users["viewer"])
    with django_assert_max_num_queries(11):
        listing = client.get("/planner/scenarios/")
    assert all(s.name in listing.content.decode() for s in scenarios)
    with django_assert_max_num_queries(30):
        compared = client.get("/planner/scenarios/compare/", {"ids": [s.pk for s in scenarios]})
    assert compared.status_code == 200
    assert 'id="compare-totals"' in compared.content.decode()
    assert client.get("/planner/scenarios/compare/", {"ids": [scenarios[0].pk]}).status_code == 302


def test_planner_creates_a_scenario_through_the_editor(world):
    client = client_for(world.a.users["planner"])
    assert client.get("/planner/scenarios/new/").status_code == 200
    response = client.post("/planner/scenarios/new/", editor_data(halls=[world.a.hall.pk]))
    scenario = Scenario.objects.get(name="Edited")
    assert response.status_code == 302 and response["Location"] == f"/planner/scenarios/{scenario.pk}/edit/"
    assert scenario.organization == world.a.org and scenario.workloads.get().name == "chat"
    page = client.get(response["Location"]).content.decode()
    assert 'id="cost-curves"' in page  # results shown after saving


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"depreciation_years": 0}, "Must be greater than 0."),
        ({"workloads-0-requests_per_day": -1}, "Must not be negative."),
        ({"workloads-0-requests_per_day": 0}, "zero GPUs"),
        ({"gpus_per_rack": 0}, "A rack must hold at least 1 GPU."),
        ({"precision": "BF16", "workloads-0-llm_model": "Llama-3.1-405B"}, "even at TP=8"),
        ({"workloads-0-max_ms_per_output_token": 0.1}, "Not reachable even at TP=8"),
    ],
)
def test_editor_reports_invalid_input_at_the_field_and_keeps_the_input(world, change, message):
    response = client_for(world.a.users["planner"]).post("/planner/scenarios/new/", editor_data(**change))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'value="Edited"' in html  # what was typed is kept
    assert not Scenario.objects.exists()


def test_duplicate_name_is_reported_at_the_name_field(world):
    make_scenario(world.a.org, name="Edited")
    response = client_for(world.a.users["planner"]).post("/planner/scenarios/new/", editor_data())
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_viewer_cannot_edit_copy_or_delete(world):
    scenario = make_scenario(world.a.org)
    client = client_for(world.a.users["viewer"])
    assert client.get("/planner/scenarios/new/").status_code == 403
    assert client.get(f"/planner/scenarios/{scenario.pk}/edit/").status_code == 403
    assert client.post(f"/planner/scenarios/{scenario.pk}/copy/").status_code == 403
    assert client.post(f"/planner/scenarios/{scenario.pk}/delete/").status_code == 403
    assert Scenario.objects.count() == 1


def test_copy_and_delete_by_a_planner(world):
    scenario = make_scenario(world.a.org)
    client = client_for(world.a.users["planner"])
    response = client.post(f"/planner/scenarios/{scenario.pk}/copy/")
    copy = Scenario.objects.get(name=f"{scenario.name} (copy)")
    assert response["Location"] == f"/planner/scenarios/{copy.pk}/edit/"
    client.post(f"/planner/scenarios/{copy.pk}/delete/")
    assert list(Scenario.objects.all()) == [scenario]


def test_another_organizations_scenario_is_not_found(world):
    theirs = make_scenario(world.b.org, name="Their secret plan")
    client = client_for(world.a.users["admin"])
    for url in ("", "edit/"):
        assert client.get(f"/planner/scenarios/{theirs.pk}/{url}").status_code == 404
    assert client.post(f"/planner/scenarios/{theirs.pk}/copy/").status_code == 404
    assert client.post(f"/planner/scenarios/{theirs.pk}/delete/").status_code == 404
    compared = client.get("/planner/scenarios/compare/", {"ids": [theirs.pk, make_scenario(world.a.org).pk]})
    assert compared.status_code == 302  # only one of the two is visible
    assert theirs.name not in client.get("/planner/scenarios/").content.decode()


def test_pages_need_a_login(world):
    scenario = make_scenario(world.a.org)
    response = Client().get(f"/planner/scenarios/{scenario.pk}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_live_preview_shows_results_of_unsaved_input_and_stores_nothing(world):
    scenario = make_scenario(world.a.org, halls=[world.a.hall])
    before = (scenario.name, list(scenario.workloads.values_list("requests_per_day", flat=True)))
    client = client_for(world.a.users["planner"])
    url = f"/planner/scenarios/{scenario.pk}/preview/"
    existing = {"workloads-INITIAL_FORMS": 1, "workloads-0-id": scenario.workloads.get().pk}
    small = client.post(url, editor_data(**existing, **{"workloads-0-requests_per_day": 10**5}))
    large = client.post(url, editor_data(**existing, **{"workloads-0-requests_per_day": 10**8}))
    assert small.status_code == large.status_code == 200
    assert 'id="cost-curves"' in small.content.decode() and "preview of unsaved changes" in small.content.decode()
    assert small.content != large.content  # the results follow the typed demand
    scenario.refresh_from_db()
    assert (scenario.name, list(scenario.workloads.values_list("requests_per_day", flat=True))) == before
    assert client.post("/planner/scenarios/preview/", editor_data()).status_code == 200
    assert not Scenario.objects.filter(name="Edited").exists()


def test_live_preview_lists_what_to_fix(world):
    response = client_for(world.a.users["planner"]).post(
        "/planner/scenarios/preview/", editor_data(precision="BF16", **{"workloads-0-llm_model": "Llama-3.1-405B"})
    )
    html = response.content.decode()
    assert "Results appear once the input is valid" in html and "even at TP=8" in html
    assert 'id="cost-curves"' not in html


def test_live_preview_needs_the_right_to_edit_and_the_organization(world):
    scenario = make_scenario(world.a.org)
    assert client_for(world.a.users["viewer"]).post("/planner/scenarios/preview/", editor_data()).status_code == 403
    other = client_for(world.b.users["planner"])
    assert other.post(f"/planner/scenarios/{scenario.pk}/preview/", editor_data()).status_code == 404


@pytest.fixture
def two_site_scenario(world):
    """A scenario planning on organization a's Berlin hall and a New York one."""
    world.west = add_site(world.a.org)
    world.scenario = make_scenario(world.a.org, halls=[world.a.hall, world.west.hall])
    return world


def runway_halls(html):
    figure = json.loads(unescape(re.search(r'id="runway" [^>]*data-figure="([^"]*)"', html).group(1)))
    return sorted({hall for trace in figure["data"] for hall in trace["y"]})


def test_detail_runway_shows_the_filtered_halls(two_site_scenario):
    w = two_site_scenario
    client = client_for(w.a.users["viewer"])
    url = f"/planner/scenarios/{w.scenario.pk}/"
    assert runway_halls(shown(client.get(url))) == ["alpha-site / alpha-hall", "west-site / west-hall"]
    for by in ("site", "hall"):
        html = shown(client.get(url, {by: getattr(w.west, by).pk}))
        assert runway_halls(html) == ["west-site / west-hall"] and "alpha-hall" not in html, by
    east = add_site(w.a.org, name="east", timezone="Asia/Tokyo")
    html = shown(client.get(url, {"site": east.site.pk}))
    assert 'id="runway"' not in html and "None of this scenario's halls is at east-site" in html


def test_list_names_the_filtered_halls_and_links_keep_the_filter(two_site_scenario):
    w = two_site_scenario
    client = client_for(w.a.users["planner"])
    html = shown(client.get("/planner/scenarios/"))
    assert "alpha-site / alpha-hall, west-site / west-hall" in html
    assert f'href="/planner/scenarios/{w.scenario.pk}/"' in html  # no filter set: plain links
    query = f"site={w.west.site.pk}"
    html = shown(client.get(f"/planner/scenarios/?{query}"))
    assert "west-site / west-hall" in html and "alpha-hall" not in html
    assert f'href="/planner/scenarios/{w.scenario.pk}/?range=24h&amp;{query}"' in html
    assert f'href="/planner/scenarios/new/?range=24h&amp;{query}"' in html
    assert f'<input type="hidden" name="site" value="{w.west.site.pk}">' in html  # the compare form keeps it
    detail = shown(client.get(f"/planner/scenarios/{w.scenario.pk}/?{query}"))
    for target in ("", f"{w.scenario.pk}/edit/", f"{w.scenario.pk}/copy/"):
        assert f'"/planner/scenarios/{target}?range=24h&amp;{query}"' in detail, target


def test_redirects_keep_the_filter(two_site_scenario):
    w = two_site_scenario
    client = client_for(w.a.users["planner"])
    query = f"range=24h&hall={w.west.hall.pk}"
    one = client.get(f"/planner/scenarios/compare/?ids={w.scenario.pk}&{query}")
    assert one.status_code == 302 and one["Location"] == f"/planner/scenarios/?{query}"
    copied = client.post(f"/planner/scenarios/{w.scenario.pk}/copy/?{query}")
    copy = Scenario.objects.get(name=f"{w.scenario.name} (copy)")
    assert copied["Location"] == f"/planner/scenarios/{copy.pk}/edit/?{query}"
    saved = client.post(f"/planner/scenarios/new/?{query}", editor_data())
    assert saved["Location"] == f"/planner/scenarios/{Scenario.objects.get(name='Edited').pk}/edit/?{query}"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"site": "abc"}, "site=&#x27;abc&#x27; is not an id."),
        ({"hall": "999999"}, "No hall with id 999999 in your organization."),
        ({"range": "forever"}, "Unknown range &#x27;forever&#x27;"),
    ],
)
def test_bad_filter_values_are_reported_not_a_500(two_site_scenario, query, message):
    w = two_site_scenario
    client = client_for(w.a.users["viewer"])
    for url in ("/planner/scenarios/", f"/planner/scenarios/{w.scenario.pk}/"):
        response = client.get(url, query)
        assert response.status_code == 200 and message in response.content.decode(), url
    html = shown(client.get(f"/planner/scenarios/{w.scenario.pk}/", query))
    assert runway_halls(html) == ["alpha-site / alpha-hall", "west-site / west-hall"]  # as without the filter
