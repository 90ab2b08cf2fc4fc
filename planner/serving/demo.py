"""The demo organization's saved serving recommendations and week scaling plans (issue #11): the two demo
deployments' models and GPUs, calibrated on and planned from their measured serving metrics where the demo
has them (else the chat scenario's workload or the recommendation's peak). Seeding twice changes nothing."""

from telemetry.models import Deployment, GpuModel

from ..models import ScalingPlan, ServingRecommendation, Workload
from . import services

RECOMMENDATIONS = (
    {
        "name": "Llama-3.1-8B chat on 2 x H100",
        "llm_model": "Llama-3.1-8B",
        "gpu": "H100 SXM 80GB",
        "gpu_count": 2,
        "precisions": ["BF16", "FP8"],
        "requests_per_s": 25,
        "mean_input_tokens": 1000,
        "mean_output_tokens": 250,
        "p95_input_tokens": 3000,
        "p95_output_tokens": 600,
        "p95_ttft_ms": 1000,
        "p95_tpot_ms": 30,
        "owned_usd_per_gpu_hour": 1.6,
        "rented_usd_per_gpu_hour": 3.0,
    },
    {
        "name": "Llama-3.3-70B assistant on H200",
        "llm_model": "Llama-3.3-70B",
        "gpu": "H200 SXM 141GB",
        "gpu_count": 8,
        "precisions": ["BF16", "FP8"],
        "requests_per_s": 6,
        "mean_input_tokens": 2000,
        "mean_output_tokens": 500,
        "p95_input_tokens": 6000,
        "p95_output_tokens": 1200,
        "p95_ttft_ms": 2000,
        "p95_tpot_ms": 50,
        "owned_usd_per_gpu_hour": 2.0,
        "rented_usd_per_gpu_hour": 3.8,
    },
)
# (plan name, recommendation name, workload name in the demo chat scenario or None, owned GPUs)
PLANS = (
    ("8B chat: a week on 2 owned H100s", RECOMMENDATIONS[0]["name"], "chat", 2),
    ("70B assistant: a week", RECOMMENDATIONS[1]["name"], None, None),
)


def _deployment(organization, llm_model, gpu):
    return Deployment.objects.for_org(organization).filter(llm_model=llm_model, gpu_model__name=gpu).first()


def seed_serving_plans(organization):
    """Create the demo recommendations and plans that do not exist yet (by name); returns the plans."""
    recs = {}
    for spec in RECOMMENDATIONS:
        spec = dict(spec)
        gpu = spec.pop("gpu")
        rec = ServingRecommendation.objects.filter(organization=organization, name=spec["name"]).first()
        if rec is None:
            rec = ServingRecommendation(
                organization=organization,
                gpu_model=GpuModel.objects.effective_for(organization).get(name=gpu),
                deployment=_deployment(organization, spec["llm_model"], gpu),
                **spec,
            )
            services.save_recommendation(rec)
        recs[rec.name] = rec
    plans = []
    for name, rec_name, workload_name, owned in PLANS:
        plan = ScalingPlan.objects.filter(organization=organization, name=name).first()
        if plan is None:
            rec = recs[rec_name]
            workload = (
                Workload.objects.for_org(organization).filter(name=workload_name, llm_model=rec.llm_model).first()
                if workload_name
                else None
            )
            plan = services.save_plan(
                ScalingPlan(
                    organization=organization,
                    name=name,
                    recommendation=rec,
                    deployment=rec.deployment,
                    workload=workload,
                    owned_gpus=owned,
                )
            )
        plans.append(plan)
    return plans
