"""Telemetry pages on a small simulated fleet: they render, stay within a query budget, and hide other
organizations' objects (404)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from telemetry import demo_history
from telemetry.models import Event, GpuSample, HallRollup
from tests.base import PASSWORD


@pytest.fixture
def simulated(world):
    demo_history.seed_history(world.a.org, now=timezone.now(), weeks=1)
    return world


@pytest.fixture
def client_a(client, simulated):
    client.login(username=simulated.a.users["viewer"].username, password=PASSWORD)
    return client


def test_history_is_written_for_the_fleet(simulated):
    a = simulated.a
    assert HallRollup.objects.filter(hall=a.hall, resolution=3600).count() >= 6 * 24
    assert GpuSample.objects.filter(gpu=a.gpu).count() >= 20
    assert not HallRollup.objects.filter(hall=simulated.b.hall).exists()


PAGES = [
    ("gpu-list", None, 12),
    ("gpu-detail", "gpu", 40),  # two reads per metric at most (its level, and hourly for older parts)
    ("hall-list", None, 12),
    ("hall-detail", "hall", 30),
    ("source-list", None, 12),  # + failing rollups, quarantined values
]


@pytest.mark.parametrize(("name", "obj", "max_queries"), PAGES)
@pytest.mark.parametrize("query", ["", "?range=7d", "?range=1h"])
def test_pages_render_within_their_query_budget(
    client_a, simulated, django_assert_max_num_queries, name, obj, max_queries, query
):
    args = [getattr(simulated.a, obj).pk] if obj else []
    with django_assert_max_num_queries(max_queries):
        response = client_a.get(reverse(name, args=args) + query)
    assert response.status_code == 200
    assert b"Traceback" not in response.content


def test_gpu_explorer_shows_current_values_and_sorts(client_a, simulated):
    response = client_a.get(reverse("gpu-list") + "?sort=-temp")
    row = response.context["page"].object_list[0]
    assert row["gpu"] == simulated.a.gpu and row["power"] > 0 and row["temp"] > 20 and row["last_seen"]
    assert simulated.b.gpu.node.hostname.encode() not in response.content
    assert b"1 GPU; 1 reported in the last 5 min." in response.content


def test_hall_page_shows_measured_headroom_and_pue(client_a, simulated):
    response = client_a.get(reverse("hall-detail", args=[simulated.a.hall.pk]))
    headroom = response.context["headroom"]
    assert headroom["it_kw"] > 0 and headroom["inlet_max"] > 15
    assert response.context["pue_figure"] is not None
    assert b"rack-power-map" in response.content


def test_gpu_detail_marks_events(client_a, simulated):
    Event.objects.create(
        organization=simulated.a.org, gpu=simulated.a.gpu, kind="xid", code=79, ts=timezone.now(), key="k1"
    )
    response = client_a.get(reverse("gpu-detail", args=[simulated.a.gpu.pk]))
    assert [e.code for e in response.context["events"]] == [79]
    assert b"79" in response.content


@pytest.mark.parametrize(("name", "obj"), [("gpu-detail", "gpu"), ("hall-detail", "hall")])
def test_another_organizations_objects_are_404(client_a, simulated, name, obj):
    assert client_a.get(reverse(name, args=[getattr(simulated.b, obj).pk])).status_code == 404


@pytest.mark.parametrize("name", ["gpu-list", "hall-list", "source-list"])
def test_pages_need_a_login(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
