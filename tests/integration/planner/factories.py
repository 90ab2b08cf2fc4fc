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
