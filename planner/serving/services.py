"""Saved serving recommendations and scaling plans: Django objects -> planner.domain.serving / .scaling ->
the result stored on the object. Measured serving samples (telemetry.ServingSample) calibrate the
recommendation and give the scaling plan its demand when a deployment is chosen and has them."""

from dataclasses import asdict
from datetime import timedelta

import pandas as pd
from django.db import transaction
from django.utils import timezone

from planner.domain import scaling
from planner.domain.costs import cheapest_token_prices
from planner.domain.serving import (
    Calibration,
    GpuPrices,
    RecommendationRequest,
    Slo,
    Traffic,
    calibration_from_measurement,
    catalog_prices,
    launch_commands,
    recommend,
    replica_model,
)
from planner.domain.throughput import Precision
from reference.catalog import InvalidInputError, load_llms
from telemetry.models import GpuModel, ServingSample

from ..services import gpu_spec

TOP_ROWS = 60  # configurations kept in a saved result (plus every Pareto point)
MEASURED_DAYS = 14
CALIBRATION_DAYS = 1


class ServingInputError(InvalidInputError):
    """Inputs that cannot be planned; the message says which and why."""


def traffic_of(rec) -> Traffic:
    return Traffic(
        rec.requests_per_s,
        rec.mean_input_tokens,
        rec.mean_output_tokens,
        rec.p95_input_tokens,
        rec.p95_output_tokens,
    )


# Frame column -> ServingSample field.
SAMPLE_COLUMNS = {
    "ts": "ts",
    "replica": "replica_id",
    "interval_s": "interval_s",
    "running": "requests_running",
    "requests_finished": "requests_finished",
    "generation_tokens": "generation_tokens",
    "waiting": "requests_waiting",
    "ttft_p50": "ttft_p50",
}
MIN_UNQUEUED_SAMPLES = 10  # samples without a queue needed to calibrate prefill from their TTFT


def deployment_samples(deployment, days, now=None):
    """A DataFrame of the deployment's serving samples with deltas (SAMPLE_COLUMNS) over the last `days`, or
    an empty one."""
    now = now or timezone.now()
    rows = (
        ServingSample.objects.filter(
            replica__deployment=deployment, ts__gte=now - timedelta(days=days), interval_s__gt=0
        )
        .values_list(*SAMPLE_COLUMNS.values())
        .order_by("ts")
    )
    return pd.DataFrame(list(rows), columns=list(SAMPLE_COLUMNS))


def deployment_calibration(deployment, traffic, now=None):
    """Calibration from the deployment's last day of samples, or None when it has none with load."""
    frame = deployment_samples(deployment, CALIBRATION_DAYS, now)
    frame = frame.dropna(subset=["interval_s", "running", "requests_finished", "generation_tokens"])
    frame = frame[(frame.running > 0) & (frame.generation_tokens > 0)]
    if frame.empty:
        return None
    seconds = frame.interval_s.sum()
    running = float((frame.running * frame.interval_s).sum() / seconds)
    tokens_per_s = float(frame.generation_tokens.sum() / seconds)
    requests_per_s = float(frame.requests_finished.sum() / seconds)
    if requests_per_s <= 0:
        return None
    gpu = gpu_spec(deployment.gpu_model)
    precision = Precision.parse(deployment.precision)
    model = replica_model(load_llms()[deployment.llm_model], gpu, precision, deployment.tensor_parallel_size, traffic)
    source = f"{deployment.name}: {len(frame)} samples, {running:.1f} running, {tokens_per_s:,.0f} tokens/s"
    # Prefill from the median TTFT of the minutes without a queue (weighted by the requests that finished).
    calm = frame[(frame.waiting == 0) & (frame.ttft_p50 > 0) & (frame.requests_finished > 0)]
    ttft = None
    if len(calm) >= MIN_UNQUEUED_SAMPLES:
        ttft = float((calm.ttft_p50 * calm.requests_finished).sum() / calm.requests_finished.sum())
        source += f", unqueued median TTFT {ttft * 1e3:,.0f} ms over {len(calm)} samples"
    cal = calibration_from_measurement(model, running, tokens_per_s, requests_per_s, source, unqueued_ttft_s=ttft)
    return gpu.name, cal


def recommendation_request(rec, now=None) -> tuple[RecommendationRequest, Calibration | None]:
    llm = load_llms().get(rec.llm_model)
    if llm is None:
        raise ServingInputError(f"LLM {rec.llm_model!r} is not in the catalog")
    models = [rec.gpu_model] if rec.gpu_model else list(GpuModel.objects.effective_for(rec.organization))
    gpus = tuple(gpu_spec(m) for m in models)
    prices = {}
    for gpu in gpus:
        catalog = catalog_prices(gpu.name)
        rented = rec.rented_usd_per_gpu_hour if rec.gpu_model else None
        prices[gpu.name] = GpuPrices(
            rec.owned_usd_per_gpu_hour if rec.gpu_model else None, rented or catalog.rented_usd_per_gpu_hour
        )
    traffic = traffic_of(rec)
    calibration, cal = {}, None
    if rec.deployment_id:
        if rec.deployment.llm_model != rec.llm_model:
            raise ServingInputError(
                f"deployment {rec.deployment.name} serves {rec.deployment.llm_model}, not {rec.llm_model}"
            )
        found = deployment_calibration(rec.deployment, traffic, now)
        if found and found[0] in {g.name for g in gpus}:
            key, cal = found
            calibration[key] = cal
    req = RecommendationRequest(
        model=llm,
        gpus=gpus,
        traffic=traffic,
        slo=Slo(rec.p95_ttft_ms, rec.p95_tpot_ms),
        gpu_count=rec.gpu_count,
        precisions=tuple(Precision[p] for p in rec.precisions) or tuple(Precision),
        prices=prices,
        calibration=calibration,
    )
    return req, cal


def compute_recommendation(rec, now=None) -> dict:
    """The JSON result stored on a recommendation: ranked rows, Pareto rows, the chosen config's flags."""
    try:
        req, cal = recommendation_request(rec, now)
        result = recommend(req)
    except InvalidInputError as exc:
        raise ServingInputError(str(exc)) from exc
    keep = [c for i, c in enumerate(result.candidates) if i < TOP_ROWS or c.pareto]
    rows = [{"rank": result.candidates.index(c) + 1, **c.row()} for c in keep]
    return {
        "computed": (now or timezone.now()).isoformat(),
        "notes": list(result.notes),
        "rejected": list(result.rejected),
        "calibration": asdict(cal) if cal else None,
        "evaluated": len(result.candidates),
        "configurations": rows,
        "launch": launch_commands(result.chosen, rec.llm_model),
    }


@transaction.atomic
def save_recommendation(rec, now=None):
    """Compute and store the result (ServingInputError leaves the object unsaved)."""
    rec.result = compute_recommendation(rec, now)
    rec.save()
    return rec


def measured_demand(deployment, now=None):
    """(168 hourly request rates, 168 hourly mean replicas reporting) from the last two weeks, or None."""
    frame = deployment_samples(deployment, MEASURED_DAYS, now)
    frame = frame.dropna(subset=["requests_finished"])
    if frame.empty:
        return None
    frame["ts"] = pd.to_datetime(frame.ts, utc=True)
    tz = deployment.organization.sites.values_list("timezone", flat=True).first() or "UTC"
    hours = frame.set_index("ts").groupby(pd.Grouper(freq="1h"))
    per_hour = pd.DataFrame(
        {
            "rate": hours.requests_finished.sum() / hours.interval_s.sum().clip(lower=1) * hours.replica.nunique(),
            "replicas": hours.replica.nunique(),
        }
    ).query("replicas > 0")
    try:
        demand = scaling.measured_week(list(per_hour.index), per_hour.rate.to_numpy(), tz)
        replicas = scaling.measured_week(list(per_hour.index), per_hour.replicas.to_numpy(float), tz)
    except InvalidInputError:
        return None  # less than a full day measured: fall back to the model
    return demand, replicas


def compute_plan(plan, now=None) -> dict:
    rec = plan.recommendation
    chosen = rec.chosen
    if chosen is None:
        raise ServingInputError(f"recommendation {rec.name!r} has no result; recompute it first")
    if not chosen["replica_capacity_requests_per_s"]:
        raise ServingInputError(
            f"recommendation {rec.name!r}: no configuration meets its SLO even idle, so a replica has no capacity "
            "to plan with; relax the SLO"
        )
    gpu = load_gpu(chosen["gpu"], rec.organization)
    idle = plan.gpu_idle_w if plan.gpu_idle_w is not None else 0.15 * gpu.tdp_w
    busy = plan.gpu_busy_w if plan.gpu_busy_w is not None else 0.85 * gpu.tdp_w
    per_replica = chosen["tp"] * chosen["pp"]
    try:
        cost = scaling.ReplicaCost(
            gpus_per_replica=per_replica,
            capacity_requests_per_s=chosen["replica_capacity_requests_per_s"],
            gpu_idle_w=idle,
            gpu_busy_w=max(busy, idle),
            pue=plan.pue,
            electricity_usd_per_kwh=plan.electricity_usd_per_kwh,
            owned_usd_per_gpu_hour=rec.owned_usd_per_gpu_hour,
            rented_usd_per_gpu_hour=rec.rented_usd_per_gpu_hour
            or catalog_prices(chosen["gpu"]).rented_usd_per_gpu_hour,
        )
        policy = scaling.ScalingPolicy(
            headroom=plan.headroom_pct / 100,
            min_replicas=plan.min_replicas,
            startup_minutes=plan.startup_minutes,
            max_replicas=plan.owned_gpus // per_replica if plan.owned_gpus is not None else None,
        )
        measured = measured_demand(plan.deployment, now) if plan.deployment_id else None
        weekend = plan.weekend_pct / 100
        if measured is not None:
            demand, history, source = *measured, "measured"
            why = f"measured requests of deployment {plan.deployment.name} (last {MEASURED_DAYS} days)"
        elif plan.workload_id:
            w = plan.workload
            demand = scaling.diurnal_week(w.requests_per_day / 86_400, w.peak_to_mean, plan.peak_hour, weekend)
            history, source = None, "model"
            why = (
                f"diurnal model of workload {w.name} ({w.requests_per_day:,.0f} requests/day, peak x{w.peak_to_mean:g})"
            )
        else:
            mean = rec.requests_per_s / plan.peak_to_mean
            demand = scaling.diurnal_week(mean, plan.peak_to_mean, plan.peak_hour, weekend)
            history, source = None, "model"
            why = (
                f"diurnal model around the recommendation's peak {rec.requests_per_s:g} req/s "
                f"(peak x{plan.peak_to_mean:g})"
            )
        if plan.deployment_id and measured is None:
            why += f"; deployment {plan.deployment.name} has no full day of measured requests yet"
        size = plan.deployment.gpus_per_replica if measured is not None else None
        result = scaling.plan_week(demand, cost, policy, history, source, size)
    except InvalidInputError as exc:
        raise ServingInputError(str(exc)) from exc
    summary = {
        "source": source,
        "demand_from": why,
        "gpus_per_replica": per_replica,
        "capacity_requests_per_s": cost.capacity_requests_per_s,
        "peak_replicas": result.static_replicas,
        "planned": asdict(result.planned),
        "static": asdict(result.static),
        "measured": asdict(result.measured) if result.measured else None,
        "savings_vs_static": result.savings("static"),
        "savings_vs_measured": result.savings("measured") if result.measured else None,
        "burst_gpu_hours_per_week": result.burst_gpu_hours,
        "burst_usd_per_month": None if result.burst_usd is None else result.burst_usd * scaling.WEEKS_PER_MONTH,
        "burst_hours_share": result.burst_hours_share,
        "per_token_api": token_api_option(rec, demand),
    }
    return {"computed": (now or timezone.now()).isoformat(), "summary": summary, "hours": result.hours()}


def token_api_option(rec, demand) -> dict:
    """The week's demand bought by the token from the cheapest API serving the model, or why there is none."""
    price = cheapest_token_prices().get(rec.llm_model)
    if price is None:
        return {"unavailable": f"no per-token API price for {rec.llm_model}"}
    week = scaling.token_api_week(demand, rec.mean_input_tokens, rec.mean_output_tokens, price)
    return {
        "usd_per_week": week,
        "usd_per_month": week * scaling.WEEKS_PER_MONTH,
        "offer": f"{price.provider} {price.offer}, {price.usd_per_million_input:g}/{price.usd_per_million_output:g} "
        f"USD per 1M input/output tokens ({price.as_of})",
    }


def load_gpu(name, organization):
    model = GpuModel.objects.effective_for(organization).filter(name=name).first()
    if model is None:
        raise ServingInputError(f"GPU model {name!r} is no longer in the catalog")
    return gpu_spec(model)


@transaction.atomic
def save_plan(plan, now=None):
    plan.result = compute_plan(plan, now)
    plan.save()
    return plan


def comparison_rows(summary) -> list[dict]:
    """Planned vs static vs measured, one row each (page table and export)."""
    rows = []
    for name, key in (("Autoscaled plan", "planned"), ("Static peak", "static"), ("Measured history", "measured")):
        if summary.get(key):
            rows.append({"provisioning": name, **summary[key]})
    return rows


def savings_rows(summary) -> list[dict]:
    rows = []
    for against in ("static", "measured"):
        saved = summary.get(f"savings_vs_{against}")
        if saved:
            rows.append({"against": against, **saved})
    return rows


def apply_burst_share(plan, scenario):
    """Set a scenario's mixed option to burst the share of hours this plan bursts (its owned GPUs hold too few
    replicas then), so the cost model prices the burst the plan measured instead of a typed guess. Returns the
    percentage set; ServingInputError when the plan has no owned GPUs or no result."""
    share = (plan.result.get("summary") or {}).get("burst_hours_share")
    if plan.owned_gpus is None:
        raise ServingInputError(f"plan {plan.name} has no owned GPUs, so nothing of it is burst: set its owned GPUs")
    if share is None:
        raise ServingInputError(f"plan {plan.name} has no result: recompute it")
    scenario.mixed_burst_hours_pct = round(100 * share, 1)
    scenario.full_clean()
    scenario.save(update_fields=["mixed_burst_hours_pct"])
    return scenario.mixed_burst_hours_pct
