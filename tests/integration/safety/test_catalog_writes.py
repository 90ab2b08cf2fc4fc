"""No tenant can write another's data or the shared catalogs (GPU models, cloud offers): every write endpoint
of both API routers, walked as each role of another organization, and the admin site as a tenant's staff."""

import pytest
from django.contrib.auth import get_user_model
from django.forms.models import model_to_dict
from rest_framework.test import APIClient

from planner.api.urls import router as planner_router
from planner.models import CloudOffer, ScalingPlan
from planner.reports.models import ExportLink, ReportSubscription
from planner.services import suggested_rent_prices
from telemetry.api.urls import router as telemetry_router
from telemetry.models import ApiToken, CoolingUnit, Deployment, Gpu, GpuModel, Pdu, Source
from telemetry.serving.store import add_replica
from tests.integration.planner.factories import make_recommendation, make_scenario

ROLES = ("viewer", "planner", "admin")
H100 = "H100 SXM 80GB"


def api(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def own_gpu_model(org, name="Custom accelerator", tdp_w=650):
    return GpuModel.objects.create(
        organization=org, name=name, memory_gb=96, memory_bandwidth_tbps=4, bf16_tflops=900, tdp_w=tdp_w
    )


def own_offer(org, gpu_model, price=1.11, instance="p5.48xlarge", provider="AWS"):
    return CloudOffer.objects.create(
        organization=org,
        provider=provider,
        instance=instance,
        gpu_model=gpu_model,
        gpus_per_instance=8,
        term="on-demand",
        usd_per_gpu_hour=price,
        as_of="2026-11",
        source="negotiated",
    )


def targets_of(world):
    """One object of organization A per model behind a write endpoint, plus the shared catalog rows."""
    a = world.a
    scenario = make_scenario(a.org, halls=[a.hall])
    model = own_gpu_model(a.org)
    recommendation = make_recommendation(a.org)
    deployment = Deployment.objects.create(
        organization=a.org, name="chat", llm_model="Llama-3.1-8B", engine="vllm", gpu_model=a.gpu.model
    )
    add_replica(deployment, name="r0", metrics_url="http://a-n1:8000/metrics", gpus=[a.gpu])
    return {
        "site": a.site,
        "hall": a.hall,
        "rack": a.rack,
        "node": a.node,
        "gpu": a.gpu,
        "coolingunit": CoolingUnit.objects.create(hall=a.hall, name="crah-1", kind="CRAH", capacity_kw=100),
        "pdu": Pdu.objects.create(rack=a.rack, name="pdu-a", outlets=24, rated_kw=17),
        "source": Source.objects.create(organization=a.org, name="dcgm", kind="prometheus", endpoint="http://x"),
        "gpumodel": model,
        "deployment": deployment,
        "cloudoffer": own_offer(a.org, model),
        "scenario": scenario,
        "reportsubscription": ReportSubscription.objects.create(
            organization=a.org, name="weekly", recipients=["ops@example.com"]
        ),
        "exportlink": ExportLink.issue(user=a.users["admin"], name="sheet")[0],
        "servingrecommendation": recommendation,
        "scalingplan": ScalingPlan.objects.create(organization=a.org, name="week", recommendation=recommendation),
    }


def detail_writes(router):
    """(url prefix, model name, [(method, url suffix)]) for every registered viewset that writes one object."""
    for prefix, viewset, _basename in router.registry:
        model = viewset.queryset.model._meta.model_name
        methods = [
            m
            for m, name in (("put", "update"), ("patch", "partial_update"), ("delete", "destroy"))
            if hasattr(viewset, name)
        ]
        actions = [
            ("post", f"{action.url_path}/")
            for action in viewset.get_extra_actions()
            if action.detail and "post" in action.mapping
        ]
        yield prefix, model, [(m, "") for m in methods] + actions


ENDPOINTS = [(f"/api/{p}/", m, w) for p, m, w in detail_writes(telemetry_router)] + [
    (f"/api/planner/{p}/", m, w) for p, m, w in detail_writes(planner_router)
]


def test_every_write_endpoint_is_walked():
    walked = {model for _url, model, writes in ENDPOINTS if writes}
    assert {"gpumodel", "cloudoffer", "gpu", "scenario", "reportsubscription", "exportlink", "deployment"} <= walked


def snapshot(obj):
    return model_to_dict(type(obj).objects.get(pk=obj.pk))


def test_no_role_of_another_organization_writes_any_object(world):
    targets = targets_of(world)
    body = {"name": "taken over", "usd_per_gpu_hour": 0.01, "tdp_w": 1}
    missing = []
    for url, model, writes in ENDPOINTS:
        obj = targets.get(model)
        if obj is None:
            if writes:
                missing.append(model)
            continue
        before = snapshot(obj)
        for role in ROLES:
            client = api(world.b.tokens[role])
            for method, suffix in writes:
                response = getattr(client, method)(f"{url}{obj.pk}/{suffix}", body, format="json")
                assert response.status_code in (403, 404), (role, method, url, response.status_code)
        assert snapshot(obj) == before, url
    assert not missing, f"no target object built for {missing}"


@pytest.mark.parametrize(
    "url, model",
    [("/api/gpu-models/", lambda: GpuModel.objects.get(name=H100)), ("/api/planner/cloud-offers/", None)],
)
def test_shared_catalog_rows_are_read_only_to_every_role(world, url, model):
    shared = model() if model else CloudOffer.objects.shared().first()
    before = snapshot(shared)
    for org in (world.a, world.b):
        for role in ROLES:
            client = api(org.tokens[role])
            assert client.get(f"{url}{shared.pk}/").status_code == 200
            for method in ("put", "patch", "delete"):
                response = getattr(client, method)(f"{url}{shared.pk}/", {"tdp_w": 1, "usd_per_gpu_hour": 0.01})
                assert response.status_code == 403, (role, method, response.content)
            if role == "admin":
                assert "shared catalog" in response.json()["detail"]
    assert snapshot(shared) == before


def test_superuser_edits_the_shared_catalog(world):
    root = get_user_model().objects.create_superuser("root", password="x")
    client = api(ApiToken.issue(user=root)[1])
    shared = GpuModel.objects.get(name=H100)
    assert client.patch(f"/api/gpu-models/{shared.pk}/", {"list_price_usd": "30000.00"}).status_code == 200
    created = client.post(
        "/api/gpu-models/",
        {"name": "Next GPU", "memory_gb": 192, "memory_bandwidth_tbps": 8, "bf16_tflops": 2250, "tdp_w": 1000},
    )
    assert created.status_code == 201, created.json()
    assert created.json()["organization"] is None


def test_an_organization_adds_and_overrides_catalog_rows_seen_only_by_it(world):
    shared = GpuModel.objects.get(name=H100)
    a_admin, b_admin = api(world.a.tokens["admin"]), api(world.b.tokens["admin"])
    fields = {"memory_gb": 80, "memory_bandwidth_tbps": 3.35, "bf16_tflops": 989, "tdp_w": 600}
    created = a_admin.post("/api/gpu-models/", {"name": H100, **fields})
    assert created.status_code == 201, created.json()
    mine = created.json()
    assert mine["organization"] == world.a.org.pk
    assert a_admin.post("/api/gpu-models/", {"name": H100, **fields}).status_code == 400  # one per organization

    def listed(client):
        return {m["id"]: m for m in client.get("/api/gpu-models/?limit=1000").json()["results"]}

    assert mine["id"] in listed(a_admin) and shared.pk not in listed(a_admin)  # overridden for A
    assert shared.pk in listed(b_admin) and mine["id"] not in listed(b_admin)
    assert b_admin.get(f"/api/gpu-models/{mine['id']}/").status_code == 404
    assert a_admin.patch(f"/api/gpu-models/{mine['id']}/", {"tdp_w": 650}).status_code == 200
    assert GpuModel.objects.get(pk=shared.pk).tdp_w == shared.tdp_w

    # B cannot point its GPUs or offers at A's private model.
    b_gpu = api(world.b.tokens["admin"]).patch(f"/api/gpus/{world.b.gpu.pk}/", {"model": mine["id"]})
    assert b_gpu.status_code == 400 and "model" in b_gpu.json()
    offer = {
        "provider": "Lab",
        "instance": "x8",
        "gpu_model": mine["id"],
        "gpus_per_instance": 8,
        "term": "spot",
        "usd_per_gpu_hour": 1.0,
        "as_of": "2026-11",
        "source": "quote",
    }
    assert api(world.b.tokens["planner"]).post("/api/planner/cloud-offers/", offer).status_code == 400
    assert api(world.a.tokens["planner"]).post("/api/planner/cloud-offers/", offer).status_code == 201


def test_an_overriding_offer_changes_only_its_organizations_prices(world):
    h100 = GpuModel.objects.get(name=H100)
    shared = CloudOffer.objects.shared().filter(gpu_model=h100, term="on-demand")
    before = suggested_rent_prices(world.b.org, h100)
    for provider, instance in set(shared.values_list("provider", "instance")):
        own_offer(world.a.org, h100, price=0.5, instance=instance, provider=provider)
    assert suggested_rent_prices(world.a.org, h100)["on_demand_usd_per_gpu_hour"] == pytest.approx(0.5)
    assert suggested_rent_prices(world.b.org, h100) == before


def test_deleting_a_model_in_use_answers_409_naming_what_uses_it(world):
    model = own_gpu_model(world.a.org)
    Gpu.objects.filter(pk=world.a.gpu.pk).update(model=model)
    response = api(world.a.tokens["admin"]).delete(f"/api/gpu-models/{model.pk}/")
    assert response.status_code == 409
    assert str(world.a.gpu) in response.json()["detail"]
    assert GpuModel.objects.filter(pk=model.pk).exists()


@pytest.fixture
def staff_admin(client, world):
    admin = world.a.users["admin"]
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    return client


def test_admin_site_keeps_shared_catalog_read_only_to_tenant_staff(staff_admin, world):
    shared_model = GpuModel.objects.get(name=H100)
    shared_offer = CloudOffer.objects.shared().first()
    for path, obj in (("telemetry/gpumodel", shared_model), ("planner/cloudoffer", shared_offer)):
        before = snapshot(obj)
        assert staff_admin.get(f"/admin/{path}/{obj.pk}/change/").status_code == 200  # view only
        assert staff_admin.post(f"/admin/{path}/{obj.pk}/change/", {"tdp_w": 1}).status_code == 403
        assert staff_admin.post(f"/admin/{path}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403
        changelist = staff_admin.post(
            f"/admin/{path}/", {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
        )
        assert changelist.status_code in (200, 302, 403)
        assert snapshot(obj) == before


def test_admin_site_adds_rows_to_the_staff_members_organization(staff_admin, world):
    other = own_gpu_model(world.b.org, name="Theirs")
    assert staff_admin.get(f"/admin/telemetry/gpumodel/{other.pk}/change/").status_code == 302  # "doesn't exist"
    response = staff_admin.post(
        "/admin/telemetry/gpumodel/add/",
        {"name": "Ours", "memory_gb": 96, "memory_bandwidth_tbps": 4, "bf16_tflops": 900, "tdp_w": 700},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert GpuModel.objects.get(name="Ours").organization == world.a.org
