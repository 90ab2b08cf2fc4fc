"""Every query parameter of every GET operation in the OpenAPI schema, given values that Python or Django accept
and PostgreSQL does not (or the reverse), answers below 500: offsets PostgreSQL refuses (+23:45), moments that
leave years 1-9999 in UTC, integers past bigint, digits that str.isdigit() accepts and int() refuses (²),
numbers past a float, NaN, NUL characters. The fuzzing run (test_schemathesis.py) finds these by chance; this
walks them all."""

import json
import re

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from telemetry.timerange import is_id

HOSTILE = [
    "1732-07-22T01:03:28+23:45",  # a Python offset, not a PostgreSQL one
    "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
    "2026-01-01T00:00:00+25:00",
    "0001-01-01",
    "9999-12-31",
    "99999999999999999999",  # past bigint
    "-99999999999999999999",
    "2147483648",  # past integer
    "²",  # isdigit() but not int()
    "1e308",
    "1e999",  # inf as a float
    "-1e999",
    "nan",
    "a\x00b",
    "-1",
    "",
]


def get_operations():
    from drf_spectacular.generators import SchemaGenerator

    schema = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
    for path, item in schema["paths"].items():
        operation = item.get("get")
        if operation is None:
            continue
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        yield path, names


def concrete(path, world):
    """The path with its ids filled from organization a's world (a GPU id for GPU paths, else the hall's or 1)."""
    if "{" not in path:
        return path
    value = world.a.gpu.pk if path.startswith("/api/gpus/") else world.a.hall.pk
    return re.sub(r"\{[^}]+\}", str(value), path)


@pytest.mark.parametrize("path,names", list(get_operations()), ids=lambda v: v if isinstance(v, str) else "")
def test_hostile_query_values_never_answer_5xx(path, names, world):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.a.tokens['admin']}")
    url = concrete(path, world)
    failures = []
    for name in [n for n in names if n != "format"]:
        for value in HOSTILE:
            savepoint = transaction.savepoint()  # a database error must not abort the next requests' transaction
            response = client.get(url, {name: value})
            transaction.savepoint_rollback(savepoint)
            if response.status_code >= 500:
                failures.append((name, value, response.status_code))
    assert not failures, (url, failures)


def test_ids_that_are_digits_but_no_numbers_are_400_naming_the_parameter(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.a.tokens['admin']}")
    for url, name in [
        ("/api/halls/headroom/", "site"),
        ("/api/halls/headroom/", "hall"),
        ("/api/gpus/explorer/", "model"),
        ("/api/gpus/heatmap/", "model"),
    ]:
        response = client.get(url, {name: "²"})
        # Named as the key (require_ids) or in the dashboard filters' message (telemetry.timerange).
        assert response.status_code == 400 and name in json.dumps(response.json()), (url, name, response.content)
    response = client.post("/api/ingest/?source=²", {"gpus": []}, format="json")
    assert response.status_code == 400 and "source" in response.json()["detail"], response.content


def test_filter_times_with_offsets_postgresql_refuses_are_read_in_utc(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.a.tokens['viewer']}")
    window = {"from": "2026-01-01T01:00:00+23:45", "to": "2026-01-02T00:00:00+23:45"}
    for url in (f"/api/gpus/{world.a.gpu.pk}/charts/", f"/api/halls/{world.a.hall.pk}/charts/", "/api/gpus/heatmap/"):
        response = client.get(url, window)
        assert response.status_code == 200, (url, response.content)


def test_an_id_is_ascii_digits_within_the_bigint_range():
    # Past 2**63 - 1 SQLite cannot even compare the number (OverflowError: the GPU explorer answered 500 there).
    assert is_id("1") and is_id(str(2**63 - 1))
    hostile = (str(2**63), "99999999999999999999", "9" * 5000, "²", "-1", "1.0", " 1", "")  # 5000: past int()'s limit
    assert not any(is_id(text) for text in hostile)
