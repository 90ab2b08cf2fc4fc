"""Saved planner scenarios for the integration tests."""

from datetime import date

from planner.models import Scenario, Workload
from telemetry.models import GpuModel


def make_scenario(organization, *, name="Chat on H100", halls=(), **fields):
    scenario = Scenario.objects.create(
        organization=organization,
        name=name,
        start_month=date(2026, 1, 1),
        horizon_months=24,
        gpu_model=GpuModel.objects.get(name=fields.pop("gpu", "H100 SXM 80GB")),
        precision=fields.pop("precision", "FP8"),
        **fields,
    )
    scenario.halls.set(halls)
    Workload.objects.create(
        scenario=scenario,
        name="chat",
        llm_model="Llama-3.1-8B",
        requests_per_day=2_000_000,
        mean_input_tokens=1000,
        mean_output_tokens=250,
        peak_to_mean=2.0,
        monthly_growth_pct=5,
        max_ms_per_output_token=40,
    )
    return scenario


def make_recommendation(organization, *, name="8B chat on H100", now=None, **fields):
    """A saved serving recommendation (computed), Llama-3.1-8B at 20 req/s on H100 by default."""
    from planner.models import ServingRecommendation
    from planner.serving import services as serving_services

    gpu = fields.pop("gpu", "H100 SXM 80GB")
    defaults = {
        "llm_model": "Llama-3.1-8B",
        "gpu_model": GpuModel.objects.get(name=gpu) if gpu else None,
        "precisions": ["BF16", "FP8"],
        "requests_per_s": 20,
        "mean_input_tokens": 1000,
        "mean_output_tokens": 250,
        "p95_input_tokens": 3000,
        "p95_output_tokens": 600,
        "p95_ttft_ms": 1000,
        "p95_tpot_ms": 30,
        "owned_usd_per_gpu_hour": 1.6,
        "rented_usd_per_gpu_hour": 3.0,
    }
    rec = ServingRecommendation(organization=organization, name=name, **(defaults | fields))
    return serving_services.save_recommendation(rec, now)
