"""Deployments edited in the browser and through /api/deployments/ (telemetry.serving.store): admins only,
scoped to the organization, every bad input a 400 naming its field (and replica), replicas kept by id or name
with their serving history, removed ones taken away with their Source, and the admin site."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from telemetry.models import Deployment, Gpu, GpuModel, Replica, ServingSample, Source
from telemetry.serving.store import add_replica, store_samples
from tests.base import PASSWORD

H100 = "H100 SXM 80GB"


def api(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def gpus(world):
    """Four H100s on alpha's node (gpu0 is the world's), and one H200 beside them."""
    a = world.a
    more = [
        Gpu.objects.create(node=a.node, index=i, uuid=f"GPU-0000000{i}-bbbb-0000-0000-000000000000", model=a.gpu.model)
        for i in range(1, 4)
    ]
    h200 = Gpu.objects.create(
        node=a.node,
        index=4,
        uuid="GPU-00000004-bbbb-0000-0000-000000000000",
        model=GpuModel.objects.get(name="H200 SXM 141GB"),
    )
    return [a.gpu, *more], h200


def body(**changes):
    return {
        "name": "chat",
        "llm_model": "Llama-3.1-8B",
        "engine": "vllm",
        "gpu_model": H100,
        "precision": "FP8",
        "tensor_parallel_size": 2,
        "replicas": [
            {"name": "r0", "metrics_url": "http://alpha-n1:8000/metrics", "gpus": ["alpha-n1/gpu0", "alpha-n1/gpu1"]},
            {"name": "r1", "metrics_url": "http://alpha-n1:8001/metrics", "gpus": ["alpha-n1/gpu2", "alpha-n1/gpu3"]},
        ],
        **changes,
    }


def test_an_admin_creates_a_deployment_with_its_replicas_and_their_sources(world, gpus):
    response = api(world.a.tokens["admin"]).post("/api/deployments/", body(), format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert [r["gpus"] for r in created["replicas"]] == [[g.uuid for g in gpus[0][:2]], [g.uuid for g in gpus[0][2:]]]
    deployment = Deployment.objects.get(pk=created["id"])
    assert deployment.organization == world.a.org and deployment.gpus_per_replica == 2
    sources = Source.objects.filter(serving_replica__deployment=deployment).order_by("name")
    assert [(s.name, s.kind, s.endpoint, s.options["engine"], s.interval_s) for s in sources] == [
        ("chat / r0", "serving", "http://alpha-n1:8000/metrics", "vllm", 15),
        ("chat / r1", "serving", "http://alpha-n1:8001/metrics", "vllm", 15),
    ]
    # Planners and viewers read it; only admins write.
    for role in ("viewer", "planner"):
        client = api(world.a.tokens[role])
        assert client.get(f"/api/deployments/{deployment.pk}/").status_code == 200
        assert client.post("/api/deployments/", body(name="mine"), format="json").status_code == 403
        assert client.delete(f"/api/deployments/{deployment.pk}/").status_code == 403
    # Another organization neither sees it nor uses alpha's GPUs.
    assert api(world.b.tokens["admin"]).get(f"/api/deployments/{deployment.pk}/").status_code == 404
    theirs = api(world.b.tokens["admin"]).post("/api/deployments/", body(), format="json")
    assert theirs.status_code == 400 and "no GPU alpha-n1/gpu0" in theirs.json()["replicas"][0]["gpus"][0]


@pytest.mark.parametrize(
    "changes, where, words",
    [
        ({"llm_model": "Llama-9-1T"}, ("llm_model",), "not in the LLM catalog"),
        ({"gpu_model": "Abacus"}, ("gpu_model",), "does not exist"),
        ({"tensor_parallel_size": 0}, ("tensor_parallel_size",), "greater than or equal to 1"),
        ({"tensor_parallel_size": 4}, ("replicas", 0, "gpus"), "a replica of TP 4 x PP 1 runs on 4"),
        ({"gpu_model": "H200 SXM 141GB"}, ("replicas", 0, "gpus"), "the deployment runs on H200"),
        ({"replicas": [{"name": "r0", "metrics_url": "file:///etc/passwd"}]}, ("replicas", 0, "metrics_url"), "http"),
        (
            {"replicas": [{"name": "r0", "metrics_url": "http://x/m", "interval_s": 1}]},
            ("replicas", 0, "interval_s"),
            "5 to 3600",
        ),
        (
            {"replicas": [{"name": "r0", "metrics_url": "http://x/m"}, {"name": "r0", "metrics_url": "http://y/m"}]},
            ("replicas", 1, "name"),
            "already named 'r0'",
        ),
        (
            {"replicas": [{"name": "r0", "metrics_url": "http://x/m", "gpus": ["alpha-n1/gpu0", "alpha-n1/gpu0"]}]},
            ("replicas", 0, "gpus"),
            "already a GPU of replica 1",
        ),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_saves_nothing(world, gpus, changes, where, words):
    response = api(world.a.tokens["admin"]).post("/api/deployments/", body(**changes), format="json")
    assert response.status_code == 400, response.json()
    detail = response.json()
    for key in where:
        detail = detail[key]
    assert words in " ".join(detail), response.json()
    assert not Deployment.objects.exists() and not Source.objects.filter(kind="serving").exists()


def test_a_duplicate_name_is_a_400_at_the_name(world, gpus):
    client = api(world.a.tokens["admin"])
    assert client.post("/api/deployments/", body(replicas=[]), format="json").status_code == 201
    again = client.post("/api/deployments/", body(replicas=[]), format="json")
    assert again.status_code == 400 and "already exists" in again.json()["name"][0]


def test_an_update_keeps_replicas_by_id_or_name_with_their_samples_and_removes_the_rest(world, gpus):
    client = api(world.a.tokens["admin"])
    created = client.post("/api/deployments/", body(), format="json").json()
    r0, r1 = (Replica.objects.get(pk=r["id"]) for r in created["replicas"])
    now = timezone.now()
    store_samples(r0, [{"ts": now - timedelta(minutes=m), "requests_running": 3.0} for m in range(5)])
    store_samples(r1, [{"ts": now, "requests_running": 1.0}])
    change = body(
        name="chat-v2",
        engine="sglang",
        replicas=[
            {
                "id": r0.pk,
                "name": "a",
                "metrics_url": "http://alpha-n1:9000/metrics",
                "gpus": ["alpha-n1/gpu0", "alpha-n1/gpu1"],
            },
            {"name": "r2", "metrics_url": "http://alpha-n1:9002/metrics", "gpus": ["alpha-n1/gpu2", "alpha-n1/gpu3"]},
        ],
    )
    response = client.put(f"/api/deployments/{created['id']}/", change, format="json")
    assert response.status_code == 200, response.json()
    assert [r["name"] for r in response.json()["replicas"]] == ["a", "r2"]
    assert ServingSample.objects.filter(replica=r0).count() == 5  # kept, renamed, its history with it
    assert not Replica.objects.filter(pk=r1.pk).exists() and not Source.objects.filter(pk=r1.source_id).exists()
    assert not ServingSample.objects.filter(replica_id=r1.pk).exists()
    source = Source.objects.get(pk=r0.source_id)
    assert (source.name, source.endpoint, source.options["engine"]) == (
        "chat-v2 / a",
        "http://alpha-n1:9000/metrics",
        "sglang",
    )
    # Without replicas a change of the deployment alone must still fit them: TP=4 does not fit 2 GPUs each.
    tp = client.patch(f"/api/deployments/{created['id']}/", {"tensor_parallel_size": 4}, format="json")
    assert tp.status_code == 400 and "runs on 4" in tp.json()["replicas"][0]["gpus"][0]
    assert Deployment.objects.get(pk=created["id"]).tensor_parallel_size == 2
    # Another deployment's replica id is refused.
    other = Deployment.objects.create(
        organization=world.a.org, name="o", llm_model="Llama-3.1-8B", engine="vllm", gpu_model=gpus[0][0].model
    )
    stranger = add_replica(other, name="x", metrics_url="http://o/metrics")
    bad = client.patch(
        f"/api/deployments/{created['id']}/",
        {"replicas": [{"id": stranger.pk, "name": "x", "metrics_url": "http://o/m"}]},
        format="json",
    )
    assert bad.status_code == 400 and "not a replica of this deployment" in bad.json()["replicas"][0]["id"][0]


def test_delete_removes_replicas_sources_and_history_and_a_used_gpu_model_answers_409(world, gpus):
    client = api(world.a.tokens["admin"])
    own = GpuModel.objects.create(
        organization=world.a.org,
        name="Lab accelerator",
        memory_gb=96,
        memory_bandwidth_tbps=4,
        bf16_tflops=900,
        tdp_w=650,
    )
    created = client.post(
        "/api/deployments/",
        body(gpu_model="Lab accelerator", replicas=[{"name": "r0", "metrics_url": "http://x/m"}]),
        format="json",
    )
    assert created.status_code == 201, created.json()
    conflict = client.delete(f"/api/gpu-models/{own.pk}/")
    assert conflict.status_code == 409 and "chat" in conflict.json()["detail"]
    replica = Replica.objects.get(deployment_id=created.json()["id"])
    store_samples(replica, [{"ts": timezone.now(), "requests_running": 2.0}])
    assert client.delete(f"/api/deployments/{created.json()['id']}/").status_code == 204
    assert not Source.objects.filter(kind="serving").exists()
    assert not ServingSample.objects.filter(replica_id=replica.pk).exists()


def form_data(**changes):
    data = {
        "name": "chat",
        "llm_model": "Llama-3.1-8B",
        "engine": "vllm",
        "gpu_model": GpuModel.objects.get(name=H100).pk,
        "precision": "BF16",
        "tensor_parallel_size": 1,
        "pipeline_parallel_size": 1,
        "replicas-TOTAL_FORMS": 1,
        "replicas-INITIAL_FORMS": 0,
        "replicas-MIN_NUM_FORMS": 0,
        "replicas-MAX_NUM_FORMS": 256,
        "replicas-0-name": "r0",
        "replicas-0-metrics_url": "http://alpha-n1:8000/metrics",
        "replicas-0-gpus": "alpha-n1/gpu0",
        "replicas-0-interval_s": 15,
        "replicas-0-timeout_s": 5,
        "replicas-0-enabled": "on",
    }
    return data | changes


def test_the_browser_form_creates_edits_and_deletes_for_admins_only(client, world, gpus):
    client.login(username="alpha-planner", password=PASSWORD)
    assert client.get(reverse("deployment-create")).status_code == 403
    assert client.post(reverse("deployment-create"), form_data()).status_code == 403
    assert b"New deployment" not in client.get(reverse("deployment-list")).content
    client.login(username="alpha-admin", password=PASSWORD)
    assert b"New deployment" in client.get(reverse("deployment-list")).content
    bad = client.post(reverse("deployment-create"), form_data(**{"replicas-0-gpus": "alpha-n1/gpu0, alpha-n1/gpu1"}))
    assert bad.status_code == 400 and "2 GPUs given; a replica of TP 1 x PP 1 runs on 1" in bad.content.decode()
    assert not Deployment.objects.exists()
    response = client.post(reverse("deployment-create"), form_data())
    deployment = Deployment.objects.get(name="chat")
    assert response.status_code == 302 and response.url == reverse("deployment-detail", args=[deployment.pk])
    assert list(deployment.replicas.get().gpus.all()) == [world.a.gpu]
    edit = client.get(reverse("deployment-edit", args=[deployment.pk]))
    assert edit.status_code == 200 and world.a.gpu.uuid in edit.content.decode()
    replica = deployment.replicas.get()
    # Edit: the replica is kept (renamed, collection paused) and a second added in the empty row.
    changed = form_data(
        **{
            "replicas-TOTAL_FORMS": 2,
            "replicas-INITIAL_FORMS": 1,
            "replicas-0-id": replica.pk,
            "replicas-0-name": "main",
            "replicas-0-enabled": "",
            "replicas-1-name": "r1",
            "replicas-1-metrics_url": "http://alpha-n1:8001/metrics",
            "replicas-1-gpus": "",
            "replicas-1-interval_s": 30,
            "replicas-1-timeout_s": 5,
        }
    )
    assert client.post(reverse("deployment-edit", args=[deployment.pk]), changed).status_code == 302
    names = {r.name: r for r in deployment.replicas.select_related("source")}
    assert set(names) == {"main", "r1"} and names["main"].pk == replica.pk
    assert not names["main"].source.enabled and names["r1"].source.interval_s == 30
    # Delete needs the confirmation box.
    client.post(reverse("deployment-delete", args=[deployment.pk]))
    assert Deployment.objects.filter(pk=deployment.pk).exists()
    assert client.post(reverse("deployment-delete", args=[deployment.pk]), {"confirm": "yes"}).status_code == 302
    assert not Deployment.objects.exists() and not Source.objects.filter(kind="serving").exists()


def test_the_admin_site_lists_edits_and_deletes_deployments(client, world, gpus):
    admin = world.a.users["admin"]
    admin.is_staff = admin.is_superuser = True
    admin.save()
    deployment = Deployment.objects.create(
        organization=world.a.org, name="chat", llm_model="Llama-3.1-8B", engine="vllm", gpu_model=world.a.gpu.model
    )
    add_replica(deployment, name="r0", metrics_url="http://x/m", gpus=[world.a.gpu])
    client.login(username=admin.username, password=PASSWORD)
    assert b"chat" in client.get("/admin/telemetry/deployment/").content
    page = client.get(f"/admin/telemetry/deployment/{deployment.pk}/change/")
    assert page.status_code == 200 and b"r0" in page.content
    fields = {
        "organization": world.a.org.pk,
        "name": "chat",
        "llm_model": "Llama-3.1-8B",
        "engine": "vllm",
        "gpu_model": world.a.gpu.model.pk,
        "precision": "BF16",
        "tensor_parallel_size": 2,
        "pipeline_parallel_size": 1,
        "replicas-TOTAL_FORMS": 1,
        "replicas-INITIAL_FORMS": 1,
        "replicas-MIN_NUM_FORMS": 0,
        "replicas-MAX_NUM_FORMS": 1000,
        "replicas-0-id": deployment.replicas.get().pk,
        "replicas-0-deployment": deployment.pk,
    }
    refused = client.post(f"/admin/telemetry/deployment/{deployment.pk}/change/", fields)
    assert refused.status_code == 200 and "runs on 2" in refused.content.decode()
    fields |= {"tensor_parallel_size": 1, "name": "chat-2"}
    assert client.post(f"/admin/telemetry/deployment/{deployment.pk}/change/", fields).status_code == 302
    assert Source.objects.get(serving_replica__deployment=deployment).name == "chat-2 / r0"
    client.post(f"/admin/telemetry/deployment/{deployment.pk}/delete/", {"post": "yes"})
    assert not Deployment.objects.exists() and not Source.objects.filter(kind="serving").exists()
