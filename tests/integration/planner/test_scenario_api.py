"""The scenario API on PostgreSQL: CRUD with nested workloads, copy, results as JSON/CSV/XLSX, roles, isolation."""

import io

import pytest
from openpyxl import load_workbook
from rest_framework.test import APIClient

from planner.models import Scenario
from telemetry.models import GpuModel

from .factories import make_scenario


def api(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


WORKLOAD = {
    "name": "chat",
    "llm_model": "Llama-3.1-8B",
    "requests_per_day": 1_000_000,
    "mean_input_tokens": 1000,
    "mean_output_tokens": 200,
}


def payload(**overrides):
    body = {
        "name": "API chat",
        "start_month": "2026-01-01",
        "horizon_months": 12,
        "gpu_model": GpuModel.objects.get(name="H100 SXM 80GB").pk,
        "precision": "FP8",
        "workloads": [WORKLOAD],
    }
    return body | overrides


def test_planner_creates_updates_and_deletes_a_scenario(world):
    client = api(world.a.tokens["planner"])
    created = client.post("/api/planner/scenarios/", payload(halls=[world.a.hall.id]), format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    scenario = Scenario.objects.get(pk=pk)
    assert scenario.organization == world.a.org and scenario.workloads.count() == 1
    two = [WORKLOAD, dict(WORKLOAD, name="rag", llm_model="Llama-3.3-70B")]
    updated = client.patch(f"/api/planner/scenarios/{pk}/", {"pue": 1.2, "workloads": two}, format="json")
    assert updated.status_code == 200, updated.json()
    assert [w["name"] for w in updated.json()["workloads"]] == ["chat", "rag"]
    assert (
        client.patch(f"/api/planner/scenarios/{pk}/", {"description": "kept workloads"}, format="json").status_code
        == 200
    )
    assert Scenario.objects.get(pk=pk).workloads.count() == 2
    assert client.delete(f"/api/planner/scenarios/{pk}/").status_code == 204
    assert not Scenario.objects.filter(pk=pk).exists()


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        ({"depreciation_years": 0}, ("depreciation_years",), "greater than 0"),
        ({"gpus_per_rack": 0}, ("gpus_per_rack",), "greater than or equal to 1"),
        ({"workloads": [dict(WORKLOAD, requests_per_day=-5)]}, ("workloads", 0, "requests_per_day"), "negative"),
        ({"workloads": [dict(WORKLOAD, requests_per_day=0)]}, ("workloads", 0, "requests_per_day"), "zero GPUs"),
        (
            {"precision": "BF16", "workloads": [dict(WORKLOAD, llm_model="Llama-3.1-405B")]},
            ("workloads", 0, "llm_model"),
            "even at TP=8",
        ),
    ],
)
def test_invalid_input_answers_400_at_the_field(world, change, where, words):
    response = api(world.a.tokens["planner"]).post("/api/planner/scenarios/", payload(**change), format="json")
    assert response.status_code == 400
    errors = response.json()
    for key in where:  # DRF keys a nested list's errors by position
        errors = errors[key] if isinstance(errors, list) else errors[str(key)]
    assert words in " ".join(errors)
    assert not Scenario.objects.exists()


def test_viewer_reads_but_cannot_write(world):
    scenario = make_scenario(world.a.org)
    client = api(world.a.tokens["viewer"])
    assert client.get(f"/api/planner/scenarios/{scenario.pk}/").status_code == 200
    assert client.get(f"/api/planner/scenarios/{scenario.pk}/results/").status_code == 200
    assert client.post("/api/planner/scenarios/", payload(), format="json").status_code == 403
    assert client.patch(f"/api/planner/scenarios/{scenario.pk}/", {"pue": 1.1}, format="json").status_code == 403
    assert client.post(f"/api/planner/scenarios/{scenario.pk}/copy/").status_code == 403
    assert client.delete(f"/api/planner/scenarios/{scenario.pk}/").status_code == 403


def test_another_organizations_scenario_is_not_found(world):
    theirs = make_scenario(world.b.org)
    mine = make_scenario(world.a.org)
    client = api(world.a.tokens["admin"])
    assert [row["id"] for row in client.get("/api/planner/scenarios/").json()["results"]] == [mine.pk]
    for response in (
        client.get(f"/api/planner/scenarios/{theirs.pk}/"),
        client.get(f"/api/planner/scenarios/{theirs.pk}/results/"),
        client.patch(f"/api/planner/scenarios/{theirs.pk}/", {"pue": 1.1}, format="json"),
        client.post(f"/api/planner/scenarios/{theirs.pk}/copy/"),
        client.delete(f"/api/planner/scenarios/{theirs.pk}/"),
    ):
        assert response.status_code == 404
    sneaky = client.post("/api/planner/scenarios/", payload(halls=[world.b.hall.id]), format="json")
    assert sneaky.status_code == 400 and "halls" in sneaky.json()


def test_copy_answers_the_copy(world):
    scenario = make_scenario(world.a.org, halls=[world.a.hall])
    response = api(world.a.tokens["planner"]).post(f"/api/planner/scenarios/{scenario.pk}/copy/", {"name": "Variant"})
    assert response.status_code == 201
    assert response.json()["name"] == "Variant" and response.json()["halls"] == [world.a.hall.id]
    assert len(response.json()["workloads"]) == 1


def test_results_as_json_csv_and_xlsx(world):
    scenario = make_scenario(world.a.org, halls=[world.a.hall])
    client = api(world.a.tokens["viewer"])
    body = client.get(f"/api/planner/scenarios/{scenario.pk}/results/").json()
    assert body["summary"]["options"]["own"]["total_usd"] > 0
    assert len(body["tables"]["Monthly"]) == 24
    csv = client.get(f"/api/planner/scenarios/{scenario.pk}/results/?format=csv")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    header, *rows = csv.content.decode().splitlines()
    assert "Own cumulative cash (USD)" in header and len(rows) == 24
    xlsx = client.get(f"/api/planner/scenarios/{scenario.pk}/results/?format=xlsx")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Monthly", "Options", "Inputs", "Runway"]
    assert isinstance(book["Monthly"]["B2"].value, int)  # typed cells, not text


def test_list_query_count_is_capped(world, django_assert_max_num_queries):
    for i in range(5):
        make_scenario(world.a.org, name=f"s{i}", halls=[world.a.hall])
    client = api(world.a.tokens["viewer"])
    with django_assert_max_num_queries(10):
        assert len(client.get("/api/planner/scenarios/").json()["results"]) == 5


def test_cloud_offer_catalog_is_readable_and_shared_rows_read_only(world):
    viewer, admin = api(world.a.tokens["viewer"]), api(world.a.tokens["admin"])
    offers = viewer.get("/api/planner/cloud-offers/?term=spot").json()["results"]
    assert offers and all(o["source"] and o["as_of"] for o in offers)
    assert viewer.patch(f"/api/planner/cloud-offers/{offers[0]['id']}/", {"usd_per_gpu_hour": 1.5}).status_code == 403
    # Shared rows: tests/integration/safety/test_catalog_writes.py
    assert admin.patch(f"/api/planner/cloud-offers/{offers[0]['id']}/", {"usd_per_gpu_hour": 1.5}).status_code == 403
