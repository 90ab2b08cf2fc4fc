"""The remaining classes of issue #13's fuzzing: time-zone offsets and times that leave datetime's range are 400
naming the parameter or item; a body in a content type an operation does not take is 415; deleting what others
use is 409 naming them."""

import json
from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from telemetry.models import Source


def api(world, role="admin", org="a"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {getattr(world, org).tokens[role]}")
    return client


OUT_OF_RANGE = [
    "2026-01-01T00:00:00+25:00",  # no such offset
    "2026-01-01T00:00:00+24:00",
    "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
]


def test_query_times_out_of_range_answer_400_naming_the_parameter(world):
    client = api(world, "viewer")
    for text in OUT_OF_RANGE:
        for url in (f"/api/gpus/{world.a.gpu.pk}/charts/", f"/api/halls/{world.a.hall.pk}/charts/"):
            response = client.get(url, {"from": text, "to": "2026-01-02T00:00:00Z"})
            assert response.status_code == 400, (url, text, response.status_code)
            assert "'from'" in json.dumps(response.json()), (url, text)


def test_filter_times_answer_in_utc_or_400_naming_the_filter(world):
    client = api(world, "viewer")
    # +23:45 is a valid Python offset that PostgreSQL refuses; it is compared in UTC.
    response = client.get("/api/planner/report-deliveries/", {"scheduled_for__lte": "1732-07-22T01:03:28+23:45"})
    assert response.status_code == 200, response.content
    response = client.get("/api/planner/report-deliveries/", {"scheduled_for__gte": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400, response.content
    assert "scheduled_for__gte" in response.json()


def test_ingest_times_out_of_range_are_rejected_items_the_rest_stored(world):
    source = Source.objects.create(organization=world.a.org, name="push", kind="push")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {source.issue_ingest_token()}")
    readings = [{"gpu_uuid": world.a.gpu.uuid, "ts": ts, "values": {"gpu_util": 1}} for ts in OUT_OF_RANGE]
    readings.append({"gpu_uuid": world.a.gpu.uuid, "ts": "2026-12-06T00:00:00+01:00", "values": {"gpu_util": 1}})
    response = client.post("/api/ingest/", {"gpu_readings": readings}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["rejected"] >= len(OUT_OF_RANGE)
    assert {e["index"] for e in body["errors"]} >= set(range(len(OUT_OF_RANGE)))
    assert all(e["field"] == "ts" for e in body["errors"] if e["index"] < len(OUT_OF_RANGE))


def test_ingest_names_with_nul_characters_are_rejected_items_the_rest_stored(world):
    """PostgreSQL text cannot hold NUL (a 500 before: the GPU lookup, the event's or series' row or the collector
    run's error failed, and the whole batch with it)."""
    source = Source.objects.create(organization=world.a.org, name="push", kind="push")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {source.issue_ingest_token()}")
    now, uuid, node = timezone.now(), world.a.gpu.uuid, world.a.node.hostname
    ts = [(now - timedelta(seconds=s)).isoformat() for s in range(3)]
    payload = {
        "gpu_readings": [
            {"gpu_uuid": uuid + "\x00", "ts": ts[0], "values": {"gpu_util": 1}},
            {"gpu_uuid": uuid, "ts": ts[1], "values": {"gpu_util": 1, "x\x00": 1}},
            {"gpu_uuid": uuid, "ts": ts[2], "values": {"gpu_util": 1}},
        ],
        "point_readings": [
            {"entity_kind": "node", "entity": "n\x00", "metric": "node_power", "ts": ts[0], "value": 1},
            {"entity_kind": "node", "entity": node, "metric": "node_power", "ts": ts[0], "value": 1},
        ],
        "events": [
            {"kind": "xid", "gpu_uuid": uuid + "\x00", "ts": ts[0]},
            {"kind": "xid", "gpu_uuid": uuid, "detail": "a\x00b", "ts": ts[0]},
            {"kind": "leak", "entity": "n\x00", "ts": ts[0]},
            {"kind": "xid", "gpu_uuid": uuid, "code": 79, "ts": ts[0]},
        ],
    }
    response = client.post("/api/ingest/", payload, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    rejected = {(e["item"], e["index"], e["field"]) for e in body["errors"]}
    assert rejected == {
        ("gpu_readings", 0, "gpu_uuid"),
        ("gpu_readings", 1, "x\x00"),  # named as sent; the collector run stores it escaped
        ("point_readings", 0, "entity"),
        ("events", 0, "gpu_uuid"),
        ("events", 1, "detail"),
        ("events", 2, "entity"),
    }, body
    assert (body["accepted"], body["rejected"]) == (3, 6), body
    assert "NUL" in next(e["message"] for e in body["errors"] if e["field"] == "gpu_uuid")
    assert "gpu_readings[1].x\\x00" in source.runs.get().error
    lines = ["ts,entity_kind,entity,metric,value", f"{ts[0]},gpu,{uuid}\x00,gpu_util,5"]
    lines.append(f"{ts[1]},node,{node},node_power,2")
    response = client.post("/api/ingest/csv/", "\n".join(lines), content_type="text/csv")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["accepted"], body["rejected"], body["errors"][0]["field"]) == (1, 1, "gpu_uuid"), body


def test_a_body_in_a_content_type_the_operation_does_not_take_answers_415(world):
    client = api(world)
    for content_type in ("text/plain", "application/xml", "multipart/form-data; boundary=x"):
        response = client.generic("POST", "/api/sites/", "name=x", content_type=content_type)
        assert response.status_code == 415, (content_type, response.status_code)
        assert content_type.split(";")[0] in response.json()["detail"]
    multipart = client.post("/api/sites/", {"name": "x", "timezone": "UTC"}, format="multipart")
    assert multipart.status_code == 415
    created = client.post("/api/sites/", {"name": "x", "timezone": "UTC"}, format="json")
    assert created.status_code == 201, created.content


def test_deleting_what_others_use_answers_409_naming_them(world):
    model = world.a.gpu.model
    response = api(world).delete(f"/api/gpus/{world.a.gpu.pk}/")
    assert response.status_code == 204  # a GPU protects nothing
    own = api(world).post(
        "/api/gpu-models/",
        {"name": "Own H100", "memory_gb": 80, "tdp_w": 700, "memory_bandwidth_tbps": 3.35, "bf16_tflops": 989},
        format="json",
    )
    assert own.status_code == 201, own.content
    api(world).post(
        "/api/gpus/",
        {
            "node": world.a.node.pk,
            "index": 1,
            "uuid": "GPU-00000001-409a-0000-0000-000000000000",
            "model": own.json()["id"],
        },
        format="json",
    )
    conflict = api(world).delete(f"/api/gpu-models/{own.json()['id']}/")
    assert conflict.status_code == 409
    assert "Still used by 1 gpu" in conflict.json()["detail"] and world.a.node.hostname in conflict.json()["detail"]
    assert model.pk
