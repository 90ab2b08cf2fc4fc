"""Serving pages and API on PostgreSQL: create through the form and the API, detail pages with their charts,
CSV/XLSX exports, roles, another organization's objects answering 404, bad input kept on the form."""

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from rest_framework.test import APIClient

from planner.models import ScalingPlan, ServingRecommendation
from telemetry.models import GpuModel
from tests.base import PASSWORD

from .factories import make_recommendation


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def api(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


FORM = {
    "name": "form chat",
    "llm_model": "Llama-3.1-8B",
    "precisions": ["FP8"],
    "requests_per_s": "10",
    "mean_input_tokens": "1000",
    "mean_output_tokens": "250",
    "p95_ttft_ms": "1000",
    "p95_tpot_ms": "30",
}


def test_form_computes_and_shows_the_recommendation_then_a_plan(client, world):
    login(client, world.a.users["planner"])
    gpu = GpuModel.objects.get(name="H100 SXM 80GB").pk
    response = client.post(reverse("planner:serving-recommendation-new"), FORM | {"gpu_model": gpu})
    rec = ServingRecommendation.objects.get(name="form chat")
    assert response.status_code == 302 and rec.organization == world.a.org
    page = client.get(response.url).content.decode()
    for text in ("serving-memory", "serving-pareto", "vllm serve meta-llama/Llama-3.1-8B-Instruct", "--tp_size"):
        assert text in page
    assert "<script>" not in page and "onclick" not in page
    response = client.post(
        reverse("planner:serving-plan-new"),
        {
            "name": "form plan",
            "recommendation": rec.pk,
            "peak_to_mean": "2.5",
            "peak_hour": "14",
            "weekend_pct": "60",
            "headroom_pct": "20",
            "min_replicas": "1",
            "startup_minutes": "10",
            "pue": "1.3",
            "electricity_usd_per_kwh": "0.1",
        },
    )
    plan = ScalingPlan.objects.get(name="form plan")
    assert response.status_code == 302 and len(plan.result["hours"]) == 168
    page = client.get(response.url).content.decode()
    assert "serving-hours" in page and "GPU-hours saved vs static peak" in page
    index = client.get(reverse("planner:serving-index")).content.decode()
    assert "form chat" in index and "form plan" in index


def test_bad_input_stays_on_the_form_and_saves_nothing(client, world):
    login(client, world.a.users["planner"])
    response = client.post(
        reverse("planner:serving-recommendation-new"), FORM | {"p95_input_tokens": "10", "name": "bad"}
    )
    assert response.status_code == 400
    assert "p95_input_tokens must be an integer" in response.content.decode()
    assert not ServingRecommendation.objects.filter(name="bad").exists()


def test_viewers_read_but_cannot_save(client, world):
    rec = make_recommendation(world.a.org)
    login(client, world.a.users["viewer"])
    assert client.get(reverse("planner:serving-recommendation", args=[rec.pk])).status_code == 200
    assert client.get(reverse("planner:serving-recommendation-new")).status_code == 403
    assert client.post(reverse("planner:serving-recommendation-recompute", args=[rec.pk])).status_code == 403


def test_another_organization_sees_nothing(client, world):
    rec = make_recommendation(world.a.org)
    login(client, world.b.users["admin"])
    assert client.get(reverse("planner:serving-recommendation", args=[rec.pk])).status_code == 404
    assert api(world.b.tokens["admin"]).get(f"/api/planner/serving-recommendations/{rec.pk}/").status_code == 404
    assert api(world.b.tokens["admin"]).get("/api/planner/serving-recommendations/").json()["count"] == 0
    body = {"name": "steal", "recommendation": rec.pk}
    response = api(world.b.tokens["planner"]).post("/api/planner/scaling-plans/", body, format="json")
    assert response.status_code == 400 and "recommendation" in response.json()


def test_api_creates_computes_and_exports(world):
    client = api(world.a.tokens["planner"])
    body = {
        "name": "api 70b",
        "llm_model": "Llama-3.3-70B",
        "gpu_model": GpuModel.objects.get(name="H200 SXM 141GB").pk,
        "gpu_count": 8,
        "precisions": ["BF16", "FP8"],
        "requests_per_s": 6,
        "mean_input_tokens": 2000,
        "mean_output_tokens": 500,
        "p95_ttft_ms": 2000,
        "p95_tpot_ms": 50,
    }
    response = client.post("/api/planner/serving-recommendations/", body, format="json")
    assert response.status_code == 201, response.json()
    rec_id = response.json()["id"]
    assert response.json()["chosen"]["gpus"] <= 8 and response.json()["chosen"]["meets_slo"]
    detail = client.get(f"/api/planner/serving-recommendations/{rec_id}/").json()
    assert set(detail["tables"]) == {"Configurations", "Pareto", "Memory", "Launch flags"}
    csv = client.get(f"/api/planner/serving-recommendations/{rec_id}/?format=csv").content.decode()
    header = csv.splitlines()[0]
    assert header.startswith("Rank,GPU,Weights,") and "P95 TTFT (ms)" in header and "Weights per GPU (GB)" in header
    response = client.post("/api/planner/scaling-plans/", {"name": "api plan", "recommendation": rec_id}, format="json")
    assert response.status_code == 201, response.json()
    plan_id = response.json()["id"]
    xlsx = client.get(f"/api/planner/scaling-plans/{plan_id}/?format=xlsx")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Hours", "Provisioning", "Savings"]
    assert book["Hours"].max_row == 169
    assert client.post(f"/api/planner/scaling-plans/{plan_id}/recompute/").status_code == 200
    bad = client.post(
        "/api/planner/serving-recommendations/", body | {"name": "x", "precisions": ["FP3"]}, format="json"
    )
    assert bad.status_code == 400 and "precisions" in bad.json()
    viewer = api(world.a.tokens["viewer"])
    assert viewer.post("/api/planner/serving-recommendations/", body | {"name": "v"}, format="json").status_code == 403


@pytest.mark.parametrize("url", ["/api/planner/serving-recommendations/", "/api/planner/scaling-plans/"])
def test_list_exports_one_row_per_object(world, url):
    rec = make_recommendation(world.a.org)
    ScalingPlan.objects.create(organization=world.a.org, name="p", recommendation=rec)
    csv = api(world.a.tokens["viewer"]).get(url + "?format=csv").content.decode()
    assert len(csv.splitlines()) == 2


def test_lists_do_not_query_per_object(client, world, django_assert_max_num_queries):
    for n in range(3):
        rec = make_recommendation(world.a.org, name=f"r{n}")
        ScalingPlan.objects.create(organization=world.a.org, name=f"p{n}", recommendation=rec, result=rec.result)
    login(client, world.a.users["viewer"])
    with django_assert_max_num_queries(10):
        assert client.get(reverse("planner:serving-index")).status_code == 200
    token = api(world.a.tokens["viewer"])
    for url in ("/api/planner/serving-recommendations/", "/api/planner/scaling-plans/"):
        with django_assert_max_num_queries(10):
            assert token.get(url).json()["count"] == 3
