"""GPU failure risk: per in-service GPU, the signals of the last 30 days from events and hourly rollups,
scored by planner.domain.failure_risk; the run stores the scores and a backtest of the scores as they
were 30 days earlier against the GPUs lost since.

A run that fails records its error and writes nothing else.
"""

import time
from datetime import timedelta

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import BigIntegerField, Case, Count, F, Max, Min, When
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from planner.domain import backtest, failure_risk
from telemetry.models import Event, Gpu, GpuRollup, Resolution

from .models import ForecastRun, GpuRiskScore
from .runs import finish, floor_hour

RISK_MODEL_VERSION = "risk-prior-signals/1"
# NVML clocks-event reasons: SW thermal slowdown (0x20), HW thermal slowdown (0x40); SW power cap (0x4),
# HW power brake (0x80). Hourly rollups keep the max of the bitmask, so a fraction is "hours with it".
THERMAL_THROTTLE_MASK = 0x20 | 0x40
POWER_THROTTLE_MASK = 0x04 | 0x80
HOT_TEMP_C = 80.0  # only GPUs that ran hotter than this need their temperature percentile computed
FAILURE_EVENT_KINDS = ("gpu_lost",)
RISK_WINDOW = timedelta(days=failure_risk.HORIZON_DAYS)


class ForecastError(Exception):
    """Inputs that cannot be forecast; the message says what is missing."""


def load_gpu_features(organization_id, as_of):
    """One row per in-service GPU of the organization not lost in the window (index: GPU id) with
    failure_risk.FEATURE_COLUMNS plus `model` and `hall`, from events and 1-hour rollups of the 30 days
    before `as_of`."""
    window_start = as_of - RISK_WINDOW
    gpus = list(
        Gpu.objects.filter(node__rack__hall__site__organization_id=organization_id)
        .exclude(status__in=[Gpu.Status.RETIRED, Gpu.Status.FAILED])
        .values_list("id", "install_date", "model__name", "node__rack__hall__name")
    )
    frame = pd.DataFrame(gpus, columns=["gpu", "install_date", "model", "hall"]).set_index("gpu")
    # A GPU lost in the window has already failed: it awaits service, it is not "at risk".
    frame = frame.drop(index=list(failed_between(organization_id, window_start, as_of) & set(frame.index)))
    for column in failure_risk.FEATURE_COLUMNS:
        frame[column] = 0.0
    if frame.empty:
        return frame
    install = pd.to_datetime(frame.pop("install_date"))
    frame["age_days"] = ((pd.Timestamp(as_of).tz_convert(None).normalize() - install).dt.days).astype(float)

    events = (
        Event.objects.filter(
            organization_id=organization_id,
            gpu__isnull=False,
            ts__gt=window_start,
            ts__lte=as_of,
            kind__in=["xid", "ecc_dbe", "remap_failure"],
        )
        .values_list("gpu_id", "kind", "code")
        .annotate(n=Count("pk"))
    )
    for gpu_id, kind, code, n in events:
        if gpu_id not in frame.index:
            continue
        if kind == "xid" and code in failure_risk.XID_CODES:
            frame.at[gpu_id, f"xid_{code}_30d"] += n
        elif kind == "ecc_dbe":
            frame.at[gpu_id, "ecc_dbe_30d"] += n
        elif kind == "remap_failure":
            frame.at[gpu_id, "remap_failure"] = 1.0

    week_start = as_of - timedelta(days=7)
    throttle = Cast(F("gpu_throttle_reasons_max"), BigIntegerField())
    rollups = (
        GpuRollup.objects.filter(
            resolution=Resolution.HOUR, gpu_id__in=frame.index.tolist(), ts__gte=window_start, ts__lt=as_of
        )
        .values("gpu_id")
        .annotate(
            hours=Count("ts"),
            sbe_max=Max("gpu_ecc_sbe_max"),
            sbe_min=Min("gpu_ecc_sbe_min"),
            sbe_week_min=Min(Case(When(ts__gte=week_start, then=F("gpu_ecc_sbe_min")))),
            dbe_max=Max("gpu_ecc_dbe_max"),
            dbe_min=Min("gpu_ecc_dbe_min"),
            retired=Max("gpu_retired_pages_max"),
            remap_failure=Max("gpu_remap_failure_max"),
            remap_pending=Max(Case(When(ts__gte=as_of - timedelta(days=1), then=F("gpu_remap_pending_max")))),
            thermal_hours=Count(Case(When(GreaterThan(throttle.bitand(THERMAL_THROTTLE_MASK), 0), then=1))),
            power_hours=Count(Case(When(GreaterThan(throttle.bitand(POWER_THROTTLE_MASK), 0), then=1))),
            temp_max=Max("gpu_temp_max"),
        )
    )
    hot = []
    for row in rollups:
        gpu_id = row["gpu_id"]
        sbe_max = row["sbe_max"] or 0
        frame.at[gpu_id, "ecc_sbe_30d"] = max(sbe_max - (row["sbe_min"] or 0), 0)
        week_min = sbe_max if row["sbe_week_min"] is None else row["sbe_week_min"]
        frame.at[gpu_id, "ecc_sbe_7d"] = max(sbe_max - week_min, 0)
        dbe = max((row["dbe_max"] or 0) - (row["dbe_min"] or 0), 0)
        frame.at[gpu_id, "ecc_dbe_30d"] = max(frame.at[gpu_id, "ecc_dbe_30d"], dbe)
        frame.at[gpu_id, "retired_pages"] = row["retired"] or 0
        frame.at[gpu_id, "remap_pending"] = float((row["remap_pending"] or 0) > 0)
        frame.at[gpu_id, "remap_failure"] = max(
            frame.at[gpu_id, "remap_failure"], float((row["remap_failure"] or 0) > 0)
        )
        hours = row["hours"] or 1
        frame.at[gpu_id, "thermal_throttle_frac"] = row["thermal_hours"] / hours
        frame.at[gpu_id, "power_throttle_frac"] = row["power_hours"] / hours
        if row["temp_max"] is not None and row["temp_max"] > HOT_TEMP_C:
            hot.append(gpu_id)
    frame["temp_p95_c"] = np.nan
    if hot:
        temps = pd.DataFrame(
            list(
                GpuRollup.objects.filter(
                    resolution=Resolution.HOUR, gpu_id__in=hot, ts__gte=window_start, ts__lt=as_of
                ).values_list("gpu_id", "gpu_temp_avg")
            ),
            columns=["gpu", "temp"],
        )
        frame.loc[hot, "temp_p95_c"] = temps.groupby("gpu")["temp"].quantile(0.95).reindex(hot).to_numpy()
    return frame


def failed_between(organization_id, start, end):
    return set(
        Event.objects.filter(
            organization_id=organization_id, kind__in=FAILURE_EVENT_KINDS, ts__gt=start, ts__lte=end, gpu__isnull=False
        ).values_list("gpu_id", flat=True)
    )


def _risk_backtest(organization_id, as_of):
    """Brier score of the scores the model would have given 30 days before `as_of`, against which
    GPUs failed in the 30 days after; None when that origin has no GPU signals at all."""
    origin = as_of - RISK_WINDOW
    features = load_gpu_features(organization_id, origin)
    if features.empty:
        return None
    scores = failure_risk.score_gpus(features, origin).scores
    failed = failed_between(organization_id, origin, as_of)
    outcome = [int(g in failed) for g in scores.index]
    result = backtest.backtest_failure_risk(scores["probability_30d"].to_numpy(), outcome, n_bins=5)
    return backtest.jsonable(
        {
            "origin": origin.isoformat(),
            "gpus": len(outcome),
            "failures": int(sum(outcome)),
            "brier": result.brier,
            "base_rate": result.base_rate,
            "base_rate_brier": result.base_rate_brier,
            "brier_skill": result.brier_skill,
            "beats_baseline": bool(result.beats_baseline),
            "reliability": result.reliability.to_dict(orient="records"),
        }
    )


def run_risk_scoring(organization_id, *, as_of=None):
    """Score every in-service GPU of the organization and store the scores with their drivers; the
    run's scores hold a backtest of the same model made 30 days earlier. Returns the run."""
    as_of = floor_hour(as_of or timezone.now())
    run = ForecastRun.objects.create(
        organization_id=organization_id,
        kind=ForecastRun.Kind.RISK,
        mode=ForecastRun.Mode.REFIT,
        as_of=as_of,
        started=timezone.now(),
        model_version=RISK_MODEL_VERSION,
        inputs_start=as_of - RISK_WINDOW,
        inputs_end=as_of,
    )
    clock = time.perf_counter()
    try:
        features = load_gpu_features(organization_id, as_of)
        if features.empty:
            raise ForecastError("the organization has no GPUs in service to score")
        risk = failure_risk.score_gpus(features, as_of)
        scores = {"backtest": _risk_backtest(organization_id, as_of)}
    except (ForecastError, ValueError) as exc:
        finish(run, clock, error=f"{type(exc).__name__}: {exc}")
        return run
    contributions = risk.contributions.drop(columns="prior")
    signal_names = list(contributions.columns)
    values = contributions.to_numpy()
    why = {s.name: s.why for s in failure_risk.SIGNALS}
    feature_values = features[list(failure_risk.FEATURE_COLUMNS)]
    rows = []
    for i, (gpu_id, score) in enumerate(risk.scores.iterrows()):
        order = np.argsort(-values[i])[:5]
        signals = [
            {"signal": signal_names[j], "log_odds": round(float(values[i, j]), 4), "why": why[signal_names[j]]}
            for j in order
            if values[i, j] > 0
        ]
        features_row = {k: float(v) for k, v in feature_values.loc[gpu_id].items() if pd.notna(v) and v != 0}
        rows.append(
            GpuRiskScore(
                organization_id=organization_id,
                run=run,
                gpu_id=gpu_id,
                as_of=as_of,
                probability_30d=float(score["probability_30d"]),
                log_odds=float(score["log_odds"]),
                top_signal=score["top_signal"],
                signals=signals,
                features=features_row,
            )
        )
    with transaction.atomic():
        GpuRiskScore.objects.bulk_create(rows, batch_size=2000)
        run.scores = scores
        finish(run, clock)
    return run


def latest_risk_run(organization):
    return ForecastRun.objects.for_org(organization).filter(kind=ForecastRun.Kind.RISK, status="ok").first()
