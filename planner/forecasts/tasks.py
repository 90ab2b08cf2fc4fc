"""Thin Celery tasks over planner.forecasts.cooling and .risk: beat fans out a nightly refit (with backtests and risk
scoring) and an hourly update of every hall's cooling forecast, and daily drops expired risk scores (see
CELERY_BEAT_SCHEDULE)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from telemetry.models import Hall, Organization

from . import cooling, risk
from .models import ForecastRun, GpuRiskScore


def _as_of(value):
    return parse_datetime(value) if value else None


@shared_task(name="planner.forecast_hall", time_limit=300, soft_time_limit=270)
def forecast_hall(hall_id, mode=ForecastRun.Mode.UPDATE, as_of=None):
    """One hall's cooling forecast; `as_of` is an ISO date-time (default: the last full hour)."""
    run = cooling.run_cooling_forecast(hall_id, as_of=_as_of(as_of), mode=mode)
    return {"run": run.pk, "status": run.status, "error": run.error}


@shared_task(name="planner.score_gpu_risk", time_limit=900, soft_time_limit=840)
def score_gpu_risk(organization_id, as_of=None):
    run = risk.run_risk_scoring(organization_id, as_of=_as_of(as_of))
    return {"run": run.pk, "status": run.status, "error": run.error}


@shared_task(name="planner.forecasts_hourly", time_limit=60, soft_time_limit=50)
def forecasts_hourly():
    """Fan out an update per hall; each expires before the next hour's so a backlog cannot pile up."""
    halls = list(Hall.objects.values_list("id", flat=True))
    for hall_id in halls:
        forecast_hall.apply_async((hall_id, ForecastRun.Mode.UPDATE), expires=3000)
    return len(halls)


@shared_task(name="planner.forecasts_nightly", time_limit=60, soft_time_limit=50)
def forecasts_nightly():
    """Fan out a refit with backtest per hall and a risk scoring per organization."""
    halls = list(Hall.objects.values_list("id", flat=True))
    for hall_id in halls:
        forecast_hall.apply_async((hall_id, ForecastRun.Mode.REFIT), expires=6 * 3600)
    organizations = list(
        Organization.objects.filter(sites__halls__isnull=False).distinct().values_list("id", flat=True)
    )
    for organization_id in organizations:
        score_gpu_risk.apply_async((organization_id,), expires=6 * 3600)
    return {"halls": len(halls), "organizations": len(organizations)}


@shared_task(name="planner.apply_retention", time_limit=600, soft_time_limit=540)
def apply_retention():
    """Delete GPU risk scores older than PLANNER_RISK_SCORE_DAYS (0 keeps them forever)."""
    days = settings.PLANNER_RISK_SCORE_DAYS
    if not days:
        return {"risk_scores": 0}
    cutoff = timezone.now() - timedelta(days=days)
    return {"risk_scores": GpuRiskScore.objects.expired(cutoff).delete()[0]}


def run_all_forecasts(organization_id, *, as_of=None):
    """Refit every hall's cooling forecast (with backtest) and score the GPUs: what the nightly beat
    does, run once by seed_demo so the demo shows forecasts at once. Returns the runs."""
    runs = cooling.run_cooling_forecasts(organization_id, as_of=as_of, mode=ForecastRun.Mode.REFIT)
    return runs + [risk.run_risk_scoring(organization_id, as_of=as_of)]
