import pytest
from django.db import connection


def test_healthy_when_database_and_broker_answer(client, db, redis_url):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "cache": "ok"}


def test_names_the_broker_when_it_is_down(client, db, monkeypatch):
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("error")


@pytest.mark.django_db(transaction=True)
def test_names_the_database_when_it_is_down(client, monkeypatch):
    connection.close()
    key, dead = ("PORT", 1) if connection.vendor == "postgresql" else ("NAME", "/nonexistent/dir/db.sqlite3")
    monkeypatch.setitem(connection.settings_dict, key, dead)
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
    assert response.status_code == 503
    assert response.json()["database"].startswith("error")
