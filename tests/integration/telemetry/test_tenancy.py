"""Organization isolation and role permissions, applied the same way to every inventory endpoint."""

import pytest
from rest_framework.test import APIClient

ENDPOINTS = {
    "sites": lambda org: org.site,
    "halls": lambda org: org.hall,
    "racks": lambda org: org.rack,
    "nodes": lambda org: org.node,
    "gpus": lambda org: org.gpu,
}


def api(token=None):
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_other_organizations_objects_are_invisible(world, endpoint):
    mine, theirs = ENDPOINTS[endpoint](world.a), ENDPOINTS[endpoint](world.b)
    client = api(world.a.tokens["admin"])
    listed = client.get(f"/api/{endpoint}/").json()["results"]
    assert [row["id"] for row in listed] == [mine.id]
    assert client.get(f"/api/{endpoint}/{theirs.id}/").status_code == 404
    assert client.patch(f"/api/{endpoint}/{theirs.id}/", {}, format="json").status_code == 404
    assert client.delete(f"/api/{endpoint}/{theirs.id}/").status_code == 404
    assert client.get(f"/api/{endpoint}/{mine.id}/").status_code == 200


def test_cannot_attach_to_another_organizations_hall(world):
    response = api(world.a.tokens["admin"]).post(
        "/api/racks/", {"hall": world.b.hall.id, "name": "sneaky", "power_budget_kw": 10}, format="json"
    )
    assert response.status_code == 400
    assert "hall" in response.json()


@pytest.mark.parametrize("role,expected", [("viewer", 403), ("planner", 403), ("admin", 201)])
def test_only_admins_change_inventory(world, role, expected):
    response = api(world.a.tokens[role]).post(
        "/api/racks/", {"hall": world.a.hall.id, "name": f"new-{role}", "power_budget_kw": 10}, format="json"
    )
    assert response.status_code == expected


@pytest.mark.parametrize("role", ["viewer", "planner", "admin"])
def test_every_role_reads(world, role):
    assert api(world.a.tokens[role]).get("/api/racks/").status_code == 200


def test_api_without_credentials_is_refused(world):
    assert api().get("/api/racks/").status_code == 401


def test_pages_require_login(client, world):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_overview_shows_only_own_organization(client, world):
    client.force_login(world.a.users["viewer"])
    page = client.get("/").content.decode()
    assert world.a.hall.name in page
    assert world.b.hall.name not in page


def test_admin_site_hides_other_organizations(client, world):
    from django.contrib.auth.models import Permission

    admin = world.a.users["admin"]
    admin.is_staff = True
    admin.save()
    assert admin.has_perm("telemetry.view_rack")
    client.force_login(admin)
    assert client.get(f"/admin/telemetry/rack/{world.a.rack.id}/change/").status_code == 200
    assert client.get(f"/admin/telemetry/rack/{world.b.rack.id}/change/").status_code == 302  # "doesn't exist"
    assert Permission.objects.filter(group__name="viewer", codename="change_rack").count() == 0


def test_user_without_organization_is_told_why(client, world, django_user_model):
    from django.contrib.auth.models import Group

    loner = django_user_model.objects.create_user("loner", password="x")
    loner.groups.add(Group.objects.get(name="viewer"))
    client.force_login(loner)
    response = client.get("/api/racks/")
    assert response.status_code == 403
    assert "no organization" in response.json()["detail"]
