"""Report pages: list, edit form, preview, send now, delivery log; org scoping, roles and query counts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from planner.reports.models import ReportDelivery, ReportSubscription
from tests.base import PASSWORD


@pytest.fixture
def logged_in(client, world):
    def login(role="planner", org="a"):
        client.login(username=f"{getattr(world, org).org.slug}-{role}", password=PASSWORD)
        return client

    return login


@pytest.fixture
def subscription(world):
    return ReportSubscription.objects.create(
        organization=world.a.org, name="Weekly fleet", recipients=["ops@example.com"], sections=["fleet_summary"]
    )


def test_list_shows_subscriptions_with_bounded_queries(logged_in, subscription, django_assert_max_num_queries):
    client = logged_in("viewer")
    with django_assert_max_num_queries(10):
        response = client.get("/planner/reports/")
    assert response.status_code == 200
    assert b"Weekly fleet" in response.content
    assert b"Send now" not in response.content  # viewers cannot send


def test_create_through_the_form_with_field_errors_first(logged_in, world):
    client = logged_in("planner")
    form = {"name": "Daily", "recipients": "a@example.com, not-an-address", "cadence": "daily", "send_time": "07:00"}
    form |= {"timezone": "Europe/Berlin", "weekday": 0, "monthday": 1, "sections": ["fleet_summary"]}
    form |= {"format": "html+xlsx", "enabled": "on"}
    response = client.post("/planner/reports/new/", form)
    assert response.status_code == 200
    assert "&#x27;not-an-address&#x27; is not an email address." in response.content.decode()
    response = client.post("/planner/reports/new/", {**form, "recipients": "a@example.com\nb@example.com"})
    assert response.status_code == 302
    created = ReportSubscription.objects.get(name="Daily")
    assert created.recipients == ["a@example.com", "b@example.com"] and created.organization == world.a.org
    assert created.next_run_at > timezone.now()


def test_viewer_cannot_edit_or_send(logged_in, subscription):
    client = logged_in("viewer")
    assert client.get(f"/planner/reports/{subscription.pk}/").status_code == 403
    assert client.post(f"/planner/reports/{subscription.pk}/send/").status_code == 403


def test_other_org_gets_404(logged_in, subscription):
    client = logged_in("admin", org="b")
    for url in ("/", "/preview/", "/send/"):
        method = client.post if url == "/send/" else client.get
        assert method(f"/planner/reports/{subscription.pk}{url}").status_code == 404


def test_preview_renders_live_chart_and_table(logged_in, subscription, django_assert_max_num_queries):
    client = logged_in("viewer")
    with django_assert_max_num_queries(12):
        response = client.get(f"/planner/reports/{subscription.pk}/preview/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-figure="' in html and "alpha-hall" in html and "<html" not in html.split("<main", 1)[1]


def test_send_now_queues_a_delivery(logged_in, subscription):
    response = logged_in("planner").post(f"/planner/reports/{subscription.pk}/send/")
    assert response.status_code == 302
    assert ReportDelivery.objects.get().status == ReportDelivery.Status.QUEUED


def test_delivery_log_honours_time_range(logged_in, subscription, django_assert_max_num_queries):
    now = timezone.now()
    ReportDelivery.objects.create(subscription=subscription, scheduled_for=now - timedelta(hours=2), status="sent")
    ReportDelivery.objects.create(subscription=subscription, scheduled_for=now - timedelta(days=20), status="failed")
    client = logged_in("viewer")
    with django_assert_max_num_queries(12):
        recent = client.get("/planner/reports/deliveries/?range=7d")
    assert recent.content.decode().count('class="status-') == 1
    month = client.get("/planner/reports/deliveries/?range=30d").content.decode()
    assert month.count('class="status-') == 2
    bad = client.get("/planner/reports/deliveries/?range=5x&hall=999999").content.decode()
    assert "Unknown range" in bad and "No hall with id 999999" in bad


def test_help_page_has_anchor_for_each_page(logged_in):
    html = logged_in("viewer").get("/help/").content.decode()
    for anchor in ("overview", "reports", "exports", "api"):
        assert f'id="{anchor}"' in html


def test_an_empty_delivery_log_shows_no_empty_chart(logged_in, subscription):
    client = logged_in("viewer")
    assert client.get("/planner/reports/deliveries/").context["filters"].range == "24h"  # the dashboard's default
    empty = client.get("/planner/reports/deliveries/").content.decode()
    assert "No deliveries in this range" in empty and "deliveries-per-day" not in empty
    ReportDelivery.objects.create(subscription=subscription, scheduled_for=timezone.now() - timedelta(hours=1))
    assert "deliveries-per-day" in client.get("/planner/reports/deliveries/").content.decode()
