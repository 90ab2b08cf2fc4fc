"""The forecast tasks through a real Celery worker on Redis: a queued hall forecast is run and stored."""

from planner.forecasts.models import ForecastRun
from planner.forecasts.tasks import forecast_hall

from .helpers import last_hour, seed_hall


def test_worker_runs_a_hall_forecast(world, celery_worker):
    as_of = last_hour(seed_hall(world.a.hall, weeks=3))
    result = forecast_hall.delay(world.a.hall.pk, ForecastRun.Mode.REFIT, as_of.isoformat()).get(timeout=120)
    run = ForecastRun.objects.get(pk=result["run"])
    assert result["status"] == run.status == "ok", run.error
    assert run.mode == "refit" and run.scores["targets"]
    assert run.hall_forecast.as_of == as_of
