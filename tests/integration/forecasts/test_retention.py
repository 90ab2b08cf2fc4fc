"""Risk score retention (planner.apply_retention, scheduled by beat): scores older than
PLANNER_RISK_SCORE_DAYS go, newer ones stay, and each organization keeps its newest run's scores."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from config.celery import app
from planner.forecasts.models import ForecastRun, GpuRiskScore
from planner.forecasts.tasks import apply_retention


def _scored(org, gpu, age_days):
    as_of = timezone.now() - timedelta(days=age_days)
    run = ForecastRun.objects.create(
        organization=org, kind=ForecastRun.Kind.RISK, mode=ForecastRun.Mode.REFIT, as_of=as_of, started=as_of
    )
    GpuRiskScore.objects.create(organization=org, run=run, gpu=gpu, as_of=as_of, probability_30d=0.01, log_odds=-4.6)
    return run


def test_scores_older_than_the_window_go_except_the_newest_run(world, settings):
    settings.PLANNER_RISK_SCORE_DAYS = 30
    old = [_scored(world.a.org, world.a.gpu, days) for days in (90, 31)]
    recent = [_scored(world.a.org, world.a.gpu, days) for days in (29, 1)]
    only_run = _scored(world.b.org, world.b.gpu, 60)  # scoring stopped: its last scores stay

    assert apply_retention.apply().get() == {"risk_scores": 2}

    kept = set(GpuRiskScore.objects.values_list("run_id", flat=True))
    assert kept == {recent[0].pk, recent[1].pk, only_run.pk}
    assert ForecastRun.objects.filter(pk__in=[r.pk for r in old]).count() == 2  # the runs stay


def test_zero_keeps_scores_forever(world, settings):
    settings.PLANNER_RISK_SCORE_DAYS = 0
    _scored(world.a.org, world.a.gpu, 1000)
    _scored(world.a.org, world.a.gpu, 1)
    assert apply_retention.apply().get() == {"risk_scores": 0}
    assert GpuRiskScore.objects.count() == 2


def test_beat_schedules_registered_retention_tasks():
    app.loader.import_default_modules()
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"planner.apply_retention", "telemetry.apply_retention"} <= tasks
    assert tasks <= set(app.tasks)
