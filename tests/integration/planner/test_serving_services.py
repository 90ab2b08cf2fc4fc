"""Saved serving recommendations and scaling plans on PostgreSQL: computed on save, calibrated on a deployment's
measured serving samples, demand from its measured requests, bad input refused without saving."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from planner.domain.costs import cheapest_token_prices
from planner.models import ScalingPlan, Scenario, ServingRecommendation
from planner.serving import services as serving_services
from telemetry.models import Deployment, GpuModel, Source
from telemetry.serving.store import add_replica, store_samples

from .factories import make_recommendation, make_scenario

NOW = datetime(2026, 3, 16, 0, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def deployment(world):
    dep = Deployment.objects.create(
        organization=world.a.org,
        name="chat-8b",
        llm_model="Llama-3.1-8B",
        engine="vllm",
        gpu_model=GpuModel.objects.get(name="H100 SXM 80GB"),
        precision="FP8",
        tensor_parallel_size=1,
    )
    return dep


def add_history(deployment, *, days, replicas=2, running=30.0, tokens_per_s=3000.0, waiting=None, ttft_s=None):
    """Minute samples per replica: requests/s per replica follows the hour of day (hour + 1) / 10."""
    for r in range(replicas):
        replica = add_replica(deployment, name=f"r{r}", metrics_url=f"http://127.0.0.1:1/{r}")
        rows = []
        for m in range(days * 24 * 60):
            ts = NOW - timedelta(days=days) + timedelta(minutes=m)
            rows.append(
                {
                    "ts": ts,
                    "interval_s": 60.0,
                    "requests_running": running,
                    "requests_finished": 60 * (ts.hour + 1) / 10,
                    "generation_tokens": 60 * tokens_per_s,
                    "requests_waiting": waiting,
                    "ttft_p50": ttft_s,
                }
            )
        store_samples(replica, rows)


def test_recommendation_is_computed_and_stored(world):
    rec = make_recommendation(world.a.org)
    rec.refresh_from_db()
    chosen = rec.chosen
    assert chosen["rank"] == 1 and chosen["meets_slo"] and chosen["gpu"] == "H100 SXM 80GB"
    assert chosen["weights_per_gpu_gb"] > 0 and chosen["kv_cache_per_gpu_gb"] > 0
    assert "--tensor-parallel-size" in rec.result["launch"]["vllm"]
    assert rec.result["evaluated"] >= len(rec.result["configurations"]) > 10
    assert any(row["pareto"] for row in rec.result["configurations"])


def test_what_to_buy_compares_every_gpu_model_at_catalog_prices(world):
    rec = make_recommendation(
        world.a.org, name="buy", gpu=None, owned_usd_per_gpu_hour=None, rented_usd_per_gpu_hour=None
    )
    gpus = {row["gpu"] for row in rec.result["configurations"]}
    assert len(gpus) > 1
    assert rec.chosen["usd_per_million_tokens_rented"] is not None


def test_bad_input_is_refused_and_nothing_saved(world):
    with pytest.raises(serving_services.ServingInputError, match="p95_input_tokens"):
        make_recommendation(world.a.org, name="bad", p95_input_tokens=10)
    assert not ServingRecommendation.objects.filter(name="bad").exists()


def test_measured_samples_calibrate_the_recommendation(world, deployment):
    add_history(deployment, days=1, running=30.0, tokens_per_s=1500.0)
    rec = make_recommendation(world.a.org, name="calibrated", deployment=deployment, precisions=["FP8"], now=NOW)
    cal = rec.result["calibration"]
    assert cal["decode_factor"] > 1  # 30 running at 1,500 tokens/s is slower than the roofline model
    assert "chat-8b" in cal["source"]
    assert any("calibrated" in n for n in rec.result["notes"])
    plain = make_recommendation(world.a.org, name="plain", precisions=["FP8"])
    assert rec.chosen["tpot_p95_ms"] > plain.chosen["tpot_p95_ms"]


def test_the_ttft_of_unqueued_requests_calibrates_ttft(world, deployment):
    add_history(deployment, days=1, running=30.0, tokens_per_s=1500.0, waiting=0.0, ttft_s=0.4)
    rec = make_recommendation(world.a.org, name="ttft", deployment=deployment, precisions=["FP8"], now=NOW)
    cal = rec.result["calibration"]
    assert cal["ttft_overhead_s"] > 0.3 and "unqueued median TTFT 400 ms" in cal["source"]
    assert any("TTFT are calibrated" in n for n in rec.result["notes"])
    # The same load without TTFTs calibrates decode alone: the same configurations answer sooner.
    twin = Deployment.objects.get(pk=deployment.pk)
    twin.pk, twin.name = None, "chat-8b-twin"
    twin.save()
    add_history(twin, days=1, running=30.0, tokens_per_s=1500.0, waiting=0.0)
    decode_only = make_recommendation(world.a.org, name="decode only", deployment=twin, precisions=["FP8"], now=NOW)
    assert decode_only.result["calibration"]["ttft_overhead_s"] == 0
    keys = ("gpu", "precision", "tp", "pp", "replicas", "max_num_seqs", "gpu_memory_utilization")
    ttft = {tuple(r[k] for k in keys): r["ttft_p95_ms"] for r in decode_only.result["configurations"]}
    pairs = [
        (r["ttft_p95_ms"], ttft[c]) for r in rec.result["configurations"] if (c := tuple(r[k] for k in keys)) in ttft
    ]
    assert pairs and all(a > b for a, b in pairs if a is not None and b is not None)


def test_queued_minutes_do_not_calibrate_ttft(world, deployment):
    add_history(deployment, days=1, running=30.0, tokens_per_s=1500.0, waiting=12.0, ttft_s=0.4)
    rec = make_recommendation(world.a.org, name="queued", deployment=deployment, precisions=["FP8"], now=NOW)
    assert rec.result["calibration"]["ttft_overhead_s"] == 0
    assert "TTFT" not in rec.result["calibration"]["source"]


def test_plan_from_measured_requests_and_history(world, deployment):
    add_history(deployment, days=8, replicas=2)
    rec = make_recommendation(world.a.org, precisions=["FP8"])
    plan = ScalingPlan(organization=world.a.org, name="measured", recommendation=rec, deployment=deployment)
    serving_services.save_plan(plan, now=NOW)
    summary = plan.result["summary"]
    assert summary["source"] == "measured" and "chat-8b" in summary["demand_from"]
    hours = plan.result["hours"]
    assert len(hours) == 168
    # two replicas x (hour + 1) / 10 requests/s each, in the site's zone (Europe/Berlin: UTC+1 in March)
    assert hours[14]["demand_requests_per_s"] == pytest.approx(2 * 14 / 10)
    assert summary["measured"]["gpu_hours"] == pytest.approx(2 * 168)
    assert summary["planned"]["gpu_hours"] <= summary["static"]["gpu_hours"]


def test_plan_from_a_workload_or_the_recommendation_peak(world):
    rec = make_recommendation(world.a.org, precisions=["FP8"])
    workload = make_scenario(world.a.org).workloads.get()
    plan = serving_services.save_plan(
        ScalingPlan(organization=world.a.org, name="workload", recommendation=rec, workload=workload, owned_gpus=1)
    )
    summary = plan.result["summary"]
    assert summary["source"] == "model" and "workload chat" in summary["demand_from"]
    assert max(h["demand_requests_per_s"] for h in plan.result["hours"]) == pytest.approx(
        2_000_000 / 86_400 * workload.peak_to_mean
    )
    assert summary["burst_gpu_hours_per_week"] >= 0 and summary["savings_vs_static"]["gpu_hours_pct"] >= 0
    peak = serving_services.save_plan(ScalingPlan(organization=world.a.org, name="peak", recommendation=rec))
    assert max(h["demand_requests_per_s"] for h in peak.result["hours"]) == pytest.approx(20)


def test_the_plan_compares_renting_by_the_token(world):
    rec = make_recommendation(world.a.org, precisions=["FP8"])
    plan = serving_services.save_plan(ScalingPlan(organization=world.a.org, name="by token", recommendation=rec))
    api = plan.result["summary"]["per_token_api"]
    price = cheapest_token_prices()["Llama-3.1-8B"]
    requests = sum(h["demand_requests_per_s"] for h in plan.result["hours"]) * 3600
    by_hand = requests * (1000 * price.usd_per_million_input + 250 * price.usd_per_million_output) / 1e6
    assert api["usd_per_week"] == pytest.approx(by_hand) and price.provider in api["offer"]
    client = Client()
    client.force_login(world.a.users["viewer"])
    assert "Rent by the token instead" in client.get(f"/planner/serving/plans/{plan.pk}/").content.decode()
    rec.llm_model = "Gemma-2-9B"
    assert serving_services.token_api_option(rec, [1.0] * 168) == {
        "unavailable": "no per-token API price for Gemma-2-9B"
    }


def test_deployment_without_samples_falls_back_to_the_model(world, deployment):
    rec = make_recommendation(world.a.org, precisions=["FP8"])
    plan = serving_services.save_plan(
        ScalingPlan(organization=world.a.org, name="empty", recommendation=rec, deployment=deployment)
    )
    assert plan.result["summary"]["source"] == "model"
    assert "no full day of measured requests" in plan.result["summary"]["demand_from"]
    assert Source.objects.filter(kind="serving").count() == 0


def test_demo_recommendations_and_plans_are_seeded_once(world):
    from planner import demo
    from planner.serving import demo as serving_demo

    demo.seed_scenarios(world.a.org)
    first = serving_demo.seed_serving_plans(world.a.org)
    again = serving_demo.seed_serving_plans(world.a.org)
    assert [p.pk for p in first] == [p.pk for p in again]
    assert ServingRecommendation.objects.for_org(world.a.org).count() == 2
    chat, assistant = first
    assert all(r.chosen["meets_slo"] for r in ServingRecommendation.objects.for_org(world.a.org))
    # 1.6M requests/day at 2.5x peak: two 1-GPU replicas at the busiest hours, within the 2 owned H100s
    summary = chat.result["summary"]
    assert chat.workload.name == "chat" and summary["peak_replicas"] == 2 and summary["burst_gpu_hours_per_week"] == 0
    assert assistant.result["summary"]["savings_vs_static"]["gpu_hours_pct"] > 0


def test_a_plans_burst_share_becomes_a_scenarios_mixed_burst_hours(world):
    rec = make_recommendation(world.a.org, precisions=["FP8"])
    scenario = make_scenario(world.a.org)
    plan = serving_services.save_plan(
        ScalingPlan(
            organization=world.a.org,
            name="1 owned",
            recommendation=rec,
            workload=scenario.workloads.get(),
            owned_gpus=1,
        )
    )
    share = plan.result["summary"]["burst_hours_share"]
    assert 0 < share < 1
    client = Client()
    client.force_login(world.a.users["viewer"])
    url = reverse("planner:serving-plan-burst-to-scenario", args=[plan.pk])
    assert client.post(url, {"scenario": scenario.pk}).status_code == 403
    client.force_login(world.a.users["planner"])
    assert scenario.name in client.get(reverse("planner:serving-plan", args=[plan.pk])).content.decode()
    response = client.post(url, {"scenario": scenario.pk})
    assert response.status_code == 302 and response.url == reverse("planner:scenario-detail", args=[scenario.pk])
    scenario.refresh_from_db()
    assert scenario.mixed_burst_hours_pct == round(100 * share, 1)
    # Through the API; another organization's scenario reads as missing; a plan without owned GPUs bursts nothing.
    api = APIClient()
    api.force_authenticate(world.a.users["planner"])
    done = api.post(
        f"/api/planner/scaling-plans/{plan.pk}/burst-to-scenario/", {"scenario": scenario.pk}, format="json"
    )
    assert done.status_code == 200 and done.json() == {
        "scenario": scenario.pk,
        "mixed_burst_hours_pct": round(100 * share, 1),
    }
    theirs = make_scenario(world.b.org)
    other = api.post(f"/api/planner/scaling-plans/{plan.pk}/burst-to-scenario/", {"scenario": theirs.pk}, format="json")
    assert other.status_code == 400 and "scenario" in other.json()
    rented = serving_services.save_plan(ScalingPlan(organization=world.a.org, name="rented", recommendation=rec))
    refused = api.post(
        f"/api/planner/scaling-plans/{rented.pk}/burst-to-scenario/", {"scenario": scenario.pk}, format="json"
    )
    assert refused.status_code == 400 and "no owned GPUs" in refused.json()["detail"]
    assert Scenario.objects.get(pk=theirs.pk).mixed_burst_hours_pct == 30
