"""The demo organization's three saved scenarios (issue #4 "Done means"); seeding twice changes nothing."""

from datetime import date

from django.db import transaction

from telemetry.models import GpuModel, Hall

from .models import Scenario, Workload

H100, H200 = "H100 SXM 80GB", "H200 SXM 141GB"
# Typical 2025-26 market prices (USD/GPU-hour) rather than the catalog's scattered rows.
PRICES = {
    H100: {"on_demand": 3.0, "committed_1y": 2.4, "committed_3y": 1.9, "spot": 2.2, "capex": 35_000},
    H200: {"on_demand": 3.8, "committed_1y": 3.0, "committed_3y": 2.4, "spot": 2.8, "capex": 42_000},
}

SCENARIOS = (
    {
        "name": "Llama-3.1-8B chat, 2B tokens/day",
        "description": "A chat assistant: 1.6M requests/day of 1,000 prompt + 250 output tokens (2B tokens/day), "
        "3%/month growth, 30 ms/token target, on H100 in hall A1.",
        "gpu": H100,
        "halls": ("A1",),
        "workloads": (("chat", "Llama-3.1-8B", 1_600_000, 1000, 250, 2.5, 3, 30),),
    },
    {
        "name": "Llama-3.3-70B, 500M tokens/day +10%/month",
        "description": "An assistant on the 70B model: 200k requests/day of 2,000 + 500 tokens (500M tokens/day) "
        "growing 10% a month, on H200 in hall L2; calibrated from the hall's measurements when present.",
        "gpu": H200,
        "halls": ("L2",),
        "calibrate": True,
        "workloads": (("assistant", "Llama-3.3-70B", 200_000, 2000, 500, 2.0, 10, 50),),
    },
    {
        "name": "Mixed fleet: chat, RAG and batch",
        "description": "8B chat (1B tokens/day), 70B retrieval-augmented answers (300M tokens/day, +5%/month) "
        "and overnight Llama 4 Scout summaries, on H100 across halls A1 and F1.",
        "gpu": H100,
        "halls": ("A1", "F1"),
        "workloads": (
            ("chat", "Llama-3.1-8B", 800_000, 1000, 250, 2.5, 3, 30),
            ("rag", "Llama-3.3-70B", 75_000, 3500, 500, 2.0, 5, 60),
            ("batch summaries", "Llama-4-Scout-17B-16E", 20_000, 8000, 400, 1.0, 2, None),
        ),
    },
)


@transaction.atomic
def seed_scenarios(organization, start=date(2026, 1, 1)):
    """Create the demo scenarios that do not exist yet (by name); returns all three."""
    halls = {h.name: h for h in Hall.objects.for_org(organization)}
    electricity = {h.name: float(h.site.electricity_price_usd_per_kwh) for h in halls.values()}
    scenarios = []
    for spec in SCENARIOS:
        prices = PRICES[spec["gpu"]]
        scenario, created = Scenario.objects.get_or_create(
            organization=organization,
            name=spec["name"],
            defaults={
                "description": spec["description"],
                "start_month": start,
                "horizon_months": 36,
                "gpu_model": GpuModel.objects.effective_for(organization).get(name=spec["gpu"]),
                "precision": "FP8",
                "on_demand_usd_per_gpu_hour": prices["on_demand"],
                "committed_1y_usd_per_gpu_hour": prices["committed_1y"],
                "committed_3y_usd_per_gpu_hour": prices["committed_3y"],
                "spot_usd_per_gpu_hour": prices["spot"],
                "server_capex_usd_per_gpu": prices["capex"],
                "electricity_usd_per_kwh": electricity.get(spec["halls"][0], 0.08),
                "calibrate_from_telemetry": spec.get("calibrate", False),
            },
        )
        if created:
            scenario.halls.set([halls[name] for name in spec["halls"] if name in halls])
            Workload.objects.bulk_create(
                Workload(
                    scenario=scenario,
                    name=name,
                    llm_model=llm,
                    requests_per_day=requests,
                    mean_input_tokens=isl,
                    mean_output_tokens=osl,
                    peak_to_mean=peak,
                    monthly_growth_pct=growth,
                    max_ms_per_output_token=latency,
                )
                for name, llm, requests, isl, osl, peak, growth, latency in spec["workloads"]
            )
        scenarios.append(scenario)
    return scenarios
