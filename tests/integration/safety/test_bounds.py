"""Physical bounds at ingest, through the push API in every format: an impossible value (1e308 W) answers with
an error naming item, index and field while the rest of the batch is stored; NaN and infinity are counted and
reported, never dropped silently."""

import json
import sys
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from telemetry.models import GpuSample, Sample, Source
from telemetry.validation import RULES, value_problem
from telemetry.vocabulary import GPU_METRICS, POINT_METRICS


@pytest.fixture
def pusher(world):
    source = Source.objects.create(organization=world.a.org, name="push-a", kind="push")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {source.issue_ingest_token()}")
    return world, client


def stamp(minutes_ago):
    return (datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)).isoformat()


def test_every_metric_has_finite_physical_bounds_far_from_float_overflow():
    for name, metric in {**GPU_METRICS, **POINT_METRICS}.items():
        low, high, _ = RULES[name]
        assert low < high < 1e16, name  # a million readings of it sum and average without overflow
        assert value_problem(name, high) is None and "exceeds" in value_problem(name, high * 1.01 + 1)
        assert metric.unit  # bounds are in the vocabulary's unit


def test_an_impossible_value_is_rejected_by_name_and_the_rest_kept(pusher):
    world, client = pusher
    uuid, host = world.a.gpu.uuid, world.a.node.hostname
    payload = {
        "gpu_readings": [
            {"gpu_uuid": uuid, "ts": stamp(3), "values": {"gpu_power": 400.0, "gpu_energy": 1.5e9}},
            {"gpu_uuid": uuid, "ts": stamp(2), "values": {"gpu_power": 1e308}},
            {"gpu_uuid": uuid, "ts": stamp(1), "values": {"gpu_energy": 1e308}},
        ],
        "point_readings": [
            {"entity_kind": "node", "entity": host, "metric": "node_power", "ts": stamp(2), "value": 1e308},
            {"entity_kind": "node", "entity": host, "metric": "node_power", "ts": stamp(1), "value": 3500.0},
        ],
    }
    response = client.post("/api/ingest/", json.dumps(payload), content_type="application/json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 3)
    where = {(e["item"], e["index"], e["field"]) for e in body["errors"]}
    assert where == {
        ("gpu_readings", 1, "gpu_power"),
        ("gpu_readings", 2, "gpu_energy"),
        ("point_readings", 0, "value"),
    }
    assert all("1e+308 exceeds" in e["message"] for e in body["errors"])
    assert list(GpuSample.objects.values_list("gpu_power", flat=True)) == [400.0]
    assert list(Sample.objects.values_list("value", flat=True)) == [3500.0]


def test_nan_and_infinity_are_counted_and_reported_in_json_and_csv(pusher):
    world, client = pusher
    uuid = world.a.gpu.uuid
    text = (
        '{"gpu_readings": ['
        f'{{"gpu_uuid": "{uuid}", "ts": "{stamp(3)}", "values": {{"gpu_util": NaN}}}},'
        f'{{"gpu_uuid": "{uuid}", "ts": "{stamp(2)}", "values": {{"gpu_power": Infinity}}}},'
        f'{{"gpu_uuid": "{uuid}", "ts": "{stamp(1)}", "values": {{"gpu_util": 50}}}}]}}'
    )
    body = client.post("/api/ingest/", text, content_type="application/json").json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, "gpu_util"), (1, "gpu_power")]
    assert all("not a finite number" in e["message"] for e in body["errors"])

    csv_text = (
        "ts,entity_kind,entity,metric,value\n"
        f"{stamp(4)},gpu,{uuid},gpu_temp,nan\n{stamp(5)},gpu,{uuid},gpu_temp,-inf\n{stamp(6)},gpu,{uuid},gpu_temp,41\n"
    )
    body = client.post("/api/ingest/csv/", csv_text, content_type="text/csv").json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert {e["index"] for e in body["errors"]} == {0, 1}


def test_nan_in_prometheus_text_is_reported_not_dropped(pusher):
    world, client = pusher
    labels = f'gpu="0",UUID="{world.a.gpu.uuid}",Hostname="alpha-n1"'
    text = (
        f"DCGM_FI_DEV_GPU_UTIL{{{labels}}} 63\n"
        f"DCGM_FI_DEV_POWER_USAGE{{{labels}}} NaN\n"
        f"DCGM_FI_DEV_GPU_TEMP{{{labels}}} +Inf\n"
        'ipmi_fan_speed_rpm{name="Fan1"} NaN\n'
        "unrelated_metric NaN\n"
    )
    response = client.post("/api/ingest/prometheus/?node=alpha-n1", text, content_type="text/plain")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 3)
    assert [(e["item"], e["field"]) for e in body["errors"]] == [
        ("prometheus", "DCGM_FI_DEV_POWER_USAGE"),
        ("prometheus", "DCGM_FI_DEV_GPU_TEMP"),
        ("prometheus", "ipmi_fan_speed_rpm"),
    ]
    assert world.a.gpu.uuid in body["errors"][0]["message"]
    assert GpuSample.objects.get().gpu_util == 63


def test_float_max_in_every_gpu_column_is_rejected_not_stored(pusher):
    world, client = pusher
    readings = [
        {"gpu_uuid": world.a.gpu.uuid, "ts": stamp(i + 1), "values": {metric: sys.float_info.max}}
        for i, metric in enumerate(GPU_METRICS)
    ]
    body = client.post("/api/ingest/", json.dumps({"gpu_readings": readings}), content_type="application/json").json()
    assert (body["accepted"], body["rejected"]) == (0, len(GPU_METRICS))
    assert [e["field"] for e in body["errors"]] == list(GPU_METRICS)
    assert not GpuSample.objects.exists()


@pytest.mark.parametrize(
    ("url", "field", "value"),
    [("pdus", "rated_kw", 1.3e150), ("halls", "it_power_capacity_kw", 1e308), ("racks", "power_budget_kw", 1e9)],
)
def test_inventory_capacities_are_bounded_too(world, url, field, value):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.a.tokens['admin']}")
    target = {"pdus": None, "halls": world.a.hall.pk, "racks": world.a.rack.pk}[url]
    if target is None:
        response = client.post("/api/pdus/", {"name": "p", "rack": world.a.rack.pk, field: value}, format="json")
    else:
        response = client.patch(f"/api/{url}/{target}/", {field: value}, format="json")
    assert response.status_code == 400, response.content
    message = str(response.json()[field])
    assert "at most" in message or "less than or equal" in message  # the model's or DRF's words for the bound
