"""The Export links page: create (secret shown once), list, revoke with confirmation; a revoked link's CSV URL
answers 401 at once."""

import re
from html import unescape

from django.test import Client
from django.urls import reverse

from planner.reports.models import ExportLink
from tests.base import PASSWORD


def logged_in(user):
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=user.username, password=PASSWORD)
    return client


def post(client, url, data=None):
    """A POST as the browser sends it: with the CSRF token of the page's form."""
    page = client.get(url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": token})


def test_create_shows_the_secret_once_and_revoke_stops_it_at_once(world):
    user = world.a.users["viewer"]
    client = logged_in(user)
    url = reverse("export-links")
    created = post(client, url, {"name": "capacity sheet"})
    assert created.status_code == 302 and created["Location"] == url
    shown = client.get(url)
    assert "no-store" in shown["Cache-Control"]
    html = shown.content.decode()
    secret = re.search(r'id="export-secret" type="text" value="([^"]+)"', html).group(1)
    example = unescape(re.search(r'id="export-example" type="text" value="([^"]+)"', html).group(1))
    assert example.startswith("http://testserver/api/halls/headroom/?format=csv&export_token=" + secret)

    listed = client.get(url).content.decode()  # shown once: a reload no longer has it
    assert "capacity sheet" in listed and secret not in listed and "active" in listed

    anonymous = Client()
    response = anonymous.get(example)
    assert response.status_code == 200 and "alpha-hall" in response.content.decode()
    assert "beta-hall" not in response.content.decode()
    link = ExportLink.objects.get(user=user)
    assert link.last_used_at is not None
    assert "never" not in client.get(url).content.decode().split("capacity sheet")[1].split("</tr>")[0]

    revoke_url = reverse("export-link-revoke", args=[link.pk])
    confirm = client.get(revoke_url).content.decode()
    assert "Revoke export link “capacity sheet”?" in confirm and "csrfmiddlewaretoken" in confirm
    assert client.post(revoke_url).status_code == 403  # no CSRF token, nothing revoked
    assert anonymous.get(example).status_code == 200
    revoked = post(client, revoke_url)
    assert revoked.status_code == 302 and revoked["Location"] == url
    assert anonymous.get(example).status_code == 401
    assert "revoked" in client.get(url).content.decode()


def test_another_users_link_cannot_be_revoked(world):
    theirs, _ = ExportLink.issue(user=world.a.users["admin"], name="admin's")
    client = logged_in(world.a.users["viewer"])
    revoke_url = reverse("export-link-revoke", args=[theirs.pk])
    assert client.get(revoke_url).status_code == 404
    assert "admin's" not in client.get(reverse("export-links")).content.decode()
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_name_is_required(world):
    client = logged_in(world.a.users["viewer"])
    response = post(client, reverse("export-links"), {"name": ""})
    assert "This field is required." in response.content.decode()
    assert 'id="export-secret"' not in response.content.decode()
    assert not ExportLink.objects.exists()


def test_page_needs_a_login(client, db):
    response = client.get(reverse("export-links"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
