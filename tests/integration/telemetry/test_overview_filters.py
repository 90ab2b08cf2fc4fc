"""The fleet overview follows the dashboard filters: a site or hall narrows the halls, racks and GPUs
counted and charted and the forecast panel; the range sets the IT-load chart's window, drawn in the site's
timezone; bad filter values are reported on the page."""

import json
import re
import zoneinfo
from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone

from telemetry.models import HallRollup, Organization, Resolution
from tests.base import build_org, make_user
from tests.integration.sites import add_site, shown


@pytest.fixture
def two_sites(world, client):
    """Organization a with its Berlin site and a New York one, an hour of minute rollups in each hall."""
    world.west = add_site(world.a.org)
    now = timezone.now().replace(second=0, microsecond=0)
    HallRollup.objects.bulk_create(
        HallRollup(resolution=Resolution.MINUTE, hall=hall, ts=now - timedelta(minutes=m), it_power_w=kw * 1000)
        for hall, kw in ((world.a.hall, 120.0), (world.west.hall, 80.0))
        for m in range(1, 61)
    )
    client.force_login(world.a.users["viewer"])
    return world


def figure(html, element_id):
    return json.loads(unescape(re.search(rf'id="{element_id}" [^>]*data-figure="([^"]*)"', html).group(1)))


def offset(tz_name):
    """The zone's UTC offset now as ISO 8601 writes it (+01:00)."""
    return timezone.now().astimezone(zoneinfo.ZoneInfo(tz_name)).isoformat()[-6:]


def test_without_filters_every_hall_counts(client, two_sites):
    html = shown(client.get("/"))
    assert "alpha-hall" in html and "west-hall" in html
    assert '<span class="kpi">2</span> GPUs' in html
    load = figure(html, "it-load-per-hall")
    assert sorted(t["name"] for t in load["data"]) == ["alpha-site / alpha-hall", "west-site / west-hall"]
    assert load["layout"]["xaxis"]["title"]["text"] == "time (UTC)"
    assert load["data"][0]["x"][0].endswith("+00:00")


@pytest.mark.parametrize("by", ["site", "hall"])
def test_a_site_or_hall_leaves_the_others_out(client, two_sites, by):
    west = two_sites.west
    html = shown(client.get("/", {by: getattr(west, by).pk}))
    assert "west-hall" in html and "alpha-hall" not in html
    assert '<span class="kpi">1</span> GPUs' in html and '<span class="kpi">1</span> racks' in html
    assert figure(html, "capacity-per-hall")["data"][0]["x"] == ["west-site / west-hall"]
    load = figure(html, "it-load-per-hall")
    assert [t["name"] for t in load["data"]] == ["west-site / west-hall"]
    assert load["layout"]["xaxis"]["title"]["text"] == "time (America/New_York)"
    assert all(x.endswith(offset("America/New_York")) for x in load["data"][0]["x"])


def test_the_range_sets_the_load_charts_window(client, two_sites):
    def window(query):
        load = figure(shown(client.get("/", query)), "it-load-per-hall")
        return load["layout"]["xaxis"]["range"], sum(len(t["x"]) for t in load["data"])

    (day_start, day_end), day_points = window({"range": "24h"})
    (hour_start, _), hour_points = window({"range": "1h"})
    assert hour_start > day_start and day_points == 120 and hour_points < day_points
    _, points_in_2020 = window({"from": "2020-01-01", "to": "2020-01-02"})
    assert points_in_2020 == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"site": "abc"}, "site=&#x27;abc&#x27; is not an id."),
        ({"site": "999999"}, "No site with id 999999 in your organization."),
        ({"range": "2w"}, "Unknown range &#x27;2w&#x27;"),
        ({"from": "2026-13-01"}, "is not a date or date-time"),
    ],
)
def test_bad_filter_values_are_reported_not_a_500(client, two_sites, query, message):
    response = client.get("/", query)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "west-hall" in shown(response)  # the rest of the page as without the bad filter


def test_another_organizations_hall_is_not_a_filter(client, two_sites):
    other = build_org("gamma")
    response = client.get("/", {"hall": other.hall.pk})
    assert f"No hall with id {other.hall.pk} in your organization." in response.content.decode()
    assert "gamma-hall" not in shown(response)


def test_overview_stays_within_its_query_budget(client, two_sites, django_assert_max_num_queries):
    with django_assert_max_num_queries(22):
        assert client.get("/", {"site": two_sites.west.site.pk}).status_code == 200


@pytest.mark.parametrize(
    ("role", "staff", "says"),
    [
        ("admin", True, "Add sites and halls in the <a"),
        ("admin", False, "Add sites and halls through the API"),
        ("planner", False, "An administrator of your organization adds them."),
    ],
)
def test_an_organization_without_halls_is_told_how_to_add_them(client, db, role, staff, says):
    user = make_user(f"new-{role}", Organization.objects.create(name="New", slug="new"), role)
    user.is_staff = staff
    user.save()
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "No halls yet." in html and says in html
    assert ("/admin/" in html) is staff  # a link to the admin only for those it lets in
