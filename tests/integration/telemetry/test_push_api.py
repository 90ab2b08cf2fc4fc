"""The push API: token scoping, formats, 413, per-item errors, and garbage never giving a 5xx or a partial item."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from telemetry.models import CollectorRun, GpuSample, Sample, Source
from telemetry.vocabulary import GPU_METRICS


@pytest.fixture
def pusher(world):
    source = Source.objects.create(organization=world.a.org, name="push-a", kind="push")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {source.issue_ingest_token()}")
    return world, source, client


def _now():
    return datetime.now(UTC).replace(microsecond=0)


def post_json(client, payload, **extra):
    return client.post("/api/ingest/", json.dumps(payload), content_type="application/json", **extra)


def test_a_json_batch_is_accepted_with_per_item_errors(pusher):
    world, source, client = pusher
    ts = _now() - timedelta(minutes=1)
    payload = {
        "gpu_readings": [
            {"gpu_uuid": world.a.gpu.uuid, "ts": ts.isoformat(), "values": {"gpu_util": 77, "gpu_power": 412.5}},
            {"gpu_uuid": world.a.gpu.uuid, "ts": "yesterday-ish", "values": {"gpu_util": 1}},
            {
                "gpu_uuid": world.a.gpu.uuid,
                "ts": ts.timestamp() + 10,
                "values": {"gpu_power": 1},
                "units": {"gpu_power": "kW"},
            },
            {"gpu_uuid": world.b.gpu.uuid, "ts": ts.isoformat(), "values": {"gpu_util": 1}},
        ],
        "point_readings": [
            {
                "entity_kind": "node",
                "entity": world.a.node.hostname,
                "metric": "node_power",
                "ts": ts.isoformat(),
                "value": 4000,
                "unit": "W",
            }
        ],
    }
    response = post_json(client, payload)
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 0, 3)
    assert {(e["item"], e["index"], e["field"]) for e in body["errors"]} == {
        ("gpu_readings", 1, "ts"),
        ("gpu_readings", 2, "gpu_power"),
        ("gpu_readings", 3, "gpu_uuid"),
    }
    assert GpuSample.objects.get().gpu_util == 77 and Sample.objects.get().value == 4000
    assert post_json(client, payload).json()["duplicate"] == 2
    run = CollectorRun.objects.filter(source=source).first()
    assert run.status == "ok" and run.rejected == 3


def as_columns(readings):
    """The gpu_readings of a payload in the columnar form (null where a reading lacks a metric)."""
    metrics = list(dict.fromkeys(m for r in readings for m in r["values"]))
    return {
        "gpu_uuid": [r["gpu_uuid"] for r in readings],
        "ts": [r["ts"] for r in readings],
        "values": {m: [r["values"].get(m) for r in readings] for m in metrics},
    }


def test_gpu_readings_as_columns_are_stored_and_each_bad_cell_rejects_its_reading(pusher):
    world, source, client = pusher
    ts = _now() - timedelta(minutes=1)
    columns = {
        "gpu_uuid": [world.a.gpu.uuid, world.a.gpu.uuid, 7, world.b.gpu.uuid, world.a.gpu.uuid, world.a.gpu.uuid],
        "ts": [ts.isoformat(), ts.timestamp() + 10, ts.isoformat(), ts.isoformat(), "soon", ts.isoformat() + "x"],
        "values": {"gpu_util": [77, None, 5, 1, 1, 1], "gpu_power": [412.5, 300, 1, 1, 1, -3]},
        "units": {"gpu_power": "W"},
    }
    response = post_json(client, {"gpu_columns": columns, "events": [{"kind": "xid", "ts": "x"}]})
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 0, 5)
    assert [(e["item"], e["index"], e["field"]) for e in body["errors"]] == [
        ("events", 0, "ts"),
        ("gpu_columns", 2, "gpu_uuid"),
        ("gpu_columns", 3, "gpu_uuid"),
        ("gpu_columns", 4, "ts"),
        ("gpu_columns", 5, "ts"),
    ]
    rows = list(GpuSample.objects.order_by("ts").values_list("gpu_util", "gpu_power"))
    assert rows == [(77, 412.5), (None, 300)]
    assert post_json(client, {"gpu_columns": columns}).json()["duplicate"] == 2
    columns["values"]["gpu_power"][0] = 1e9
    error = post_json(client, {"gpu_columns": columns}).json()["errors"][0]
    assert (error["item"], error["index"], error["field"]) == ("gpu_columns", 0, "gpu_power")
    assert error["message"].startswith("1e+09 exceeds")


@pytest.mark.parametrize(
    ("columns", "fragment"),
    [
        ([], "must be an object"),
        ({"gpu_uuid": ["a"], "ts": [1], "values": {}, "rows": 1}, "must be an object"),
        ({"gpu_uuid": "a", "ts": [1], "values": {}}, "gpu_uuid as a list"),
        ({"gpu_uuid": ["a", "b"], "ts": [1], "values": {"gpu_util": [1, 2, 3]}}, "ts, gpu_util must be lists as long"),
        ({"gpu_uuid": ["a"], "ts": [1], "values": {"gpu_util": 1}}, "gpu_util must be lists"),
        ({"gpu_uuid": ["a"], "ts": [1], "values": {"gpu_power": [1]}, "units": {"gpu_power": "kW"}}, "'W', got 'kW'"),
    ],
)
def test_a_malformed_column_block_answers_400_naming_what(pusher, columns, fragment):
    _, _, client = pusher
    response = post_json(client, {"gpu_columns": columns})
    assert response.status_code == 400 and fragment in response.json()["detail"], response.content
    both = post_json(client, {"gpu_columns": columns, "gpu_readings": []})
    assert both.status_code == 400 and "not both" in both.json()["detail"]
    assert not GpuSample.objects.exists()


def test_tokens_are_scoped_and_checked(pusher):
    world, source, client = pusher
    assert APIClient().post("/api/ingest/", "{}", content_type="application/json").status_code == 401
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Bearer hr_not-a-token")
    assert post_json(stranger, {}).status_code == 401
    viewer = APIClient()
    viewer.credentials(HTTP_AUTHORIZATION=f"Token {world.a.tokens['viewer']}")
    assert post_json(viewer, {}, QUERY_STRING=f"source={source.pk}").status_code == 403
    admin_b = APIClient()
    admin_b.credentials(HTTP_AUTHORIZATION=f"Token {world.b.tokens['admin']}")
    assert post_json(admin_b, {}, QUERY_STRING=f"source={source.pk}").status_code == 404  # another org's source
    admin_a = APIClient()
    admin_a.credentials(HTTP_AUTHORIZATION=f"Token {world.a.tokens['admin']}")
    assert post_json(admin_a, {}, QUERY_STRING=f"source={source.pk}").status_code == 202
    # a source token writes to its own organization only: another org's GPU is unknown to it
    body = post_json(
        client, {"gpu_readings": [{"gpu_uuid": world.b.gpu.uuid, "ts": _now().isoformat(), "values": {"gpu_util": 1}}]}
    ).json()
    assert body["rejected"] == 1 and not GpuSample.objects.exists()


@override_settings(TELEMETRY_PUSH_MAX_BYTES=1000)
def test_oversized_payloads_get_a_clear_413(pusher):
    _, _, client = pusher
    response = post_json(client, {"events": [{"kind": "xid", "detail": "x" * 2000}]})
    assert response.status_code == 413 and "limit of 1000 bytes" in response.json()["detail"]


def test_malformed_payloads_answer_400_with_the_reason(pusher):
    _, _, client = pusher
    assert "not JSON" in client.post("/api/ingest/", "{", content_type="application/json").json()["detail"]
    assert "Unknown keys" in post_json(client, {"readings": []}).json()["detail"]
    response = client.post("/api/ingest/csv/", "when,what\n", content_type="text/csv")
    assert response.status_code == 400 and "header" in response.json()["detail"]


def test_prometheus_and_csv_pushes(pusher):
    world, _, client = pusher
    uuid = world.a.gpu.uuid
    labels = f'gpu="0",UUID="{uuid}",modelName="NVIDIA H100 80GB HBM3",Hostname="alpha-n1"'
    text = (
        "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
        f"DCGM_FI_DEV_GPU_UTIL{{{labels}}} 63\n"
        f"DCGM_FI_DEV_POWER_USAGE{{{labels}}} 402.5\n"
    )
    response = client.post("/api/ingest/prometheus/?node=alpha-n1", text, content_type="text/plain")
    assert response.status_code == 202 and response.json()["accepted"] == 1, response.content
    sample = GpuSample.objects.get()
    assert (sample.gpu_util, sample.gpu_power) == (63, pytest.approx(402.5))

    ts = (_now() - timedelta(minutes=2)).isoformat()
    csv_text = (
        "ts,entity_kind,entity,metric,value\n"
        f"{ts},gpu,{uuid},gpu_util,12\n{ts},gpu,{uuid},gpu_temp,55\n"
        f"{ts},node,{world.a.node.hostname},node_inlet_temp,24.5\n{ts},node,x,node_fan,abc\n"
    )
    body = client.post("/api/ingest/csv/", csv_text, content_type="text/csv").json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert body["errors"][0] == {"item": "csv", "index": 3, "field": "value", "message": "cannot read value 'abc'"}
    assert GpuSample.objects.filter(gpu_temp=55, gpu_util=12).exists()


def test_the_schema_documents_the_push_endpoints(admin_client):
    schema = admin_client.get("/api/schema/?format=json").json()
    assert {"/api/ingest/", "/api/ingest/prometheus/", "/api/ingest/csv/"} <= set(schema["paths"])
    assert "PushBatch" in schema["components"]["schemas"]


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)
_metric = st.sampled_from([*GPU_METRICS, "gpu_flux"])
_value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70), st.text(max_size=3), st.none()
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    garbage=_json,
    readings=st.lists(
        st.fixed_dictionaries(
            {
                "ts_offset_s": st.integers(-(10**6), 10**4),
                "values": st.dictionaries(_metric, _value, max_size=5),
                "known_gpu": st.booleans(),
            }
        ),
        max_size=6,
    ),
)
def test_garbage_never_gives_a_5xx_nor_a_partial_item(pusher, monkeypatch, garbage, readings):
    # three pushes per example, and shrinking a failure replays hundreds: the rate limit would hide it behind a 429
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, "ingest": None})
    world, _, client = pusher
    GpuSample.objects.all().delete()
    assert post_json(client, garbage).status_code in (202, 400)
    base = _now()
    payload = {
        "gpu_readings": [
            {
                "gpu_uuid": world.a.gpu.uuid if r["known_gpu"] else "GPU-nope",
                "ts": (base + timedelta(seconds=r["ts_offset_s"], microseconds=i)).isoformat(),
                "values": r["values"],
            }
            for i, r in enumerate(readings)
        ]
    }
    response = post_json(client, payload)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] + body["duplicate"] + body["rejected"] == len(readings)
    rejected = {e["index"] for e in body["errors"]}
    stored = {s.ts: s for s in GpuSample.objects.all()}
    assert len(stored) == body["accepted"] and body["duplicate"] == 0  # distinct timestamps
    for i, item in enumerate(payload["gpu_readings"]):
        row = stored.get(datetime.fromisoformat(item["ts"]))
        assert (row is None) == (i in rejected)
        if row is not None:  # written whole: every value of the item, nothing else
            assert {m for m in GPU_METRICS if getattr(row, m) is not None} == set(item["values"])

    # The same readings as columns: the same answer (null there is a missing value), the same rows.
    if any(v is None for item in payload["gpu_readings"] for v in item["values"].values()):
        return
    GpuSample.objects.all().delete()
    as_cells = post_json(client, {"gpu_columns": as_columns(payload["gpu_readings"])}).json()
    assert {e["item"] for e in as_cells["errors"]} <= {"gpu_columns"}
    assert _outcome(as_cells) == _outcome(body)
    assert {s.ts: _values(s) for s in GpuSample.objects.all()} == {ts: _values(s) for ts, s in stored.items()}


def _outcome(body):
    """Counts and errors but the item's name, the server's time some messages quote (" (server time ...)") and
    the order of one reading's errors (per metric as the columns or as the reading's object lists them)."""
    errors = sorted((e["index"], e["field"], e["message"].split(" (")[0]) for e in body["errors"])
    return body["accepted"], body["duplicate"], body["rejected"], errors


def _values(sample):
    return {m: getattr(sample, m) for m in GPU_METRICS}


def test_nan_literals_and_huge_integers_are_item_errors_not_a_bad_payload(pusher):
    """orjson refuses NaN and >64-bit integers; the json module's reading of them must still apply."""
    world, _, client = pusher
    ts = (_now() - timedelta(minutes=1)).isoformat()
    uuid = world.a.gpu.uuid
    body = (
        f'{{"gpu_readings": [{{"gpu_uuid": "{uuid}", "ts": "{ts}", "values": {{"gpu_util": NaN}}}},'
        f'{{"gpu_uuid": "{uuid}", "ts": "{ts}", "values": {{"gpu_ecc_sbe": {2**70}}}}},'
        f'{{"gpu_uuid": "{uuid}", "ts": "{ts}", "values": {{"gpu_util": 12.5}}}}]}}'
    )
    response = client.post("/api/ingest/", body, content_type="application/json")
    assert response.status_code == 202, response.content
    assert (response.json()["accepted"], response.json()["rejected"]) == (1, 2)
    assert {(e["index"], e["field"]) for e in response.json()["errors"]} == {(0, "gpu_util"), (1, "gpu_ecc_sbe")}
    assert GpuSample.objects.get().gpu_util == 12.5
