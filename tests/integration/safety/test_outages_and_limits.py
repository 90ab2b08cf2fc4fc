"""Outages answer 503 with Retry-After (JSON for the API and ingest, a plain page for pages); rate limits answer
429 with Retry-After (DRF throttles per user/token and per ingest token, django-axes on the login form);
security headers; the schema needs a login."""

import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from telemetry.models import Source
from tests.base import PASSWORD

DEAD_REDIS = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
}


def token_client(token, scheme="Token"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token}")
    return client


@pytest.fixture
def database_down(monkeypatch):
    """PostgreSQL (or SQLite) unreachable from the next query on, as when the server is stopped."""
    connection.close()
    key, dead = ("PORT", 1) if connection.vendor == "postgresql" else ("NAME", "/nonexistent/dir/db.sqlite3")
    monkeypatch.setitem(connection.settings_dict, key, dead)
    yield
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_api_ingest_and_pages_answer_503_with_retry_after_while_the_database_is_down(world, database_down):
    api = APIClient(raise_request_exception=False)
    api.credentials(HTTP_AUTHORIZATION="Token whatever")
    for response in (api.get("/api/racks/"), api.post("/api/ingest/", "{}", content_type="application/json")):
        assert response.status_code == 503
        assert response["Retry-After"] == "30"
        assert "database is unavailable" in response.json()["detail"]
    from django.test import Client

    page = Client(raise_request_exception=False).post("/accounts/login/", {"username": "x", "password": "y"})
    assert page.status_code == 503 and page["Retry-After"] == "30"
    assert "Headroom is unavailable" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_api_answers_json_503_while_redis_is_down(world):
    client = token_client(world.a.tokens["viewer"])
    client.raise_request_exception = False
    with override_settings(CACHES=DEAD_REDIS):
        response = client.get("/api/racks/")
        health = client.get("/healthz")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "cache is unavailable" in response.json()["detail"]
    assert health.status_code == 503 and health.json()["cache"].startswith("error")


@pytest.fixture
def low_rates(monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "2/min", "ingest": "2/min"})
    cache.clear()
    yield
    cache.clear()


def test_api_tokens_are_throttled_with_429_and_retry_after(world, low_rates):
    client = token_client(world.a.tokens["viewer"])
    statuses = [client.get("/api/racks/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/api/racks/")
    assert int(limited["Retry-After"]) > 0 and "throttled" in limited.json()["detail"].lower()
    assert token_client(world.b.tokens["viewer"]).get("/api/racks/").status_code == 200  # per user


def test_ingest_tokens_are_throttled_per_source(world, low_rates):
    pushers = []
    for name in ("one", "two"):
        source = Source.objects.create(organization=world.a.org, name=name, kind="push")
        pushers.append(token_client(source.issue_ingest_token(), scheme="Bearer"))
    body = json.dumps({"gpu_readings": []})
    statuses = [pushers[0].post("/api/ingest/", body, content_type="application/json").status_code for _ in range(3)]
    assert statuses == [202, 202, 429]
    assert pushers[1].post("/api/ingest/", body, content_type="application/json").status_code == 202


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_login_locks_a_user_name_from_an_address_after_failures(client, world):
    user = world.a.users["viewer"]
    cache.clear()
    wrong = {"username": user.username, "password": "x"}
    wrong = [client.post("/accounts/login/", wrong).status_code for _ in range(3)]
    assert wrong == [200, 200, 429]  # the third failure locks
    locked = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()
    other_user = client.post("/accounts/login/", {"username": world.a.users["planner"].username, "password": PASSWORD})
    assert other_user.status_code == 302  # only that user name from that address


def test_pages_send_csp_referrer_and_permissions_policies(client, world):
    client.force_login(world.a.users["viewer"])
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert "<script>" not in response.content.decode()  # no inline script


def test_the_schema_needs_a_login(client, world):
    assert client.get("/api/schema/").status_code in (401, 403)
    client.force_login(world.a.users["viewer"])
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
