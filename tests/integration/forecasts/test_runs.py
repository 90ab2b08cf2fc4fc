"""Forecast runs on real PostgreSQL: stored with inputs, model version, scores and duration; a fit
that fails for real (too little history) records its error and leaves the last good forecast."""

from datetime import timedelta

from planner.forecasts import cooling
from planner.forecasts.models import ForecastRun, HallForecast
from telemetry.models import HallRollup

from .helpers import last_hour, seed_hall


def test_refit_stores_forecast_inputs_and_backtest_that_beats_naive(world):
    hall = world.a.hall
    frame = seed_hall(hall, weeks=4)
    as_of = last_hour(frame)

    run = cooling.run_cooling_forecast(hall.pk, as_of=as_of, mode=ForecastRun.Mode.REFIT)

    run.refresh_from_db()
    assert run.status == "ok", run.error
    assert run.inputs_start == frame.index[0].to_pydatetime()
    assert run.inputs_end == as_of
    assert run.model_version == cooling.COOLING_MODEL_VERSION
    assert run.duration_s > 0
    targets = run.scores["targets"]
    assert set(targets) == {"it_load_kw", "cooling_load_kw", "max_inlet_c"}
    for metrics in targets.values():
        assert metrics["beats_baseline"] is True
        assert metrics["mae_ratio"] < 1
        assert 0 <= metrics["coverage_80"] <= metrics["coverage_95"] <= 1
    forecast = run.hall_forecast
    assert forecast.horizon_hours == cooling.HORIZON_HOURS
    assert len(forecast.frame["hour"]) == 168
    assert forecast.frame["it_load_kw_lo95"][0] < forecast.frame["it_load_kw"][0] < forecast.frame["it_load_kw_hi95"][0]
    assert forecast.backtest == run.scores
    assert 0.9 < forecast.cooling_per_it < 1.3  # 1 W of IT is 1 W of heat, plus losses


def test_update_carries_the_latest_backtest(world):
    hall = world.a.hall
    as_of = last_hour(seed_hall(hall, weeks=3))
    refit = cooling.run_cooling_forecast(hall.pk, as_of=as_of - timedelta(hours=1), mode=ForecastRun.Mode.REFIT)
    update = cooling.run_cooling_forecast(hall.pk, as_of=as_of, mode=ForecastRun.Mode.UPDATE)
    assert update.status == "ok", update.error
    assert update.scores == refit.scores
    assert cooling.latest_hall_forecasts(world.a.org)[hall.pk].run == update


def test_failed_fit_keeps_last_good_forecast_and_records_the_error(world):
    hall = world.a.hall
    as_of = last_hour(seed_hall(hall, weeks=3))
    good = cooling.run_cooling_forecast(hall.pk, as_of=as_of)
    assert good.status == "ok", good.error
    # Telemetry for the next hours is lost but for 2 days: too little to fit (72 hours needed).
    HallRollup.objects.filter(hall=hall, ts__lt=as_of - timedelta(hours=47)).delete()

    failed = cooling.run_cooling_forecast(hall.pk, as_of=as_of + timedelta(hours=1))

    failed.refresh_from_db()
    assert failed.status == "failed"
    assert "InsufficientHistory" in failed.error and "72" in failed.error
    assert failed.finished is not None and failed.duration_s is not None
    assert not HallForecast.objects.filter(run=failed).exists()
    assert cooling.latest_hall_forecasts(world.a.org)[hall.pk].run == good


def test_hall_without_telemetry_fails_with_a_clear_error(world):
    run = cooling.run_cooling_forecast(world.b.hall.pk)
    assert run.status == "failed"
    assert "no hourly telemetry" in run.error


def test_frames_older_than_two_weeks_are_dropped_runs_kept(world):
    hall = world.a.hall
    as_of = last_hour(seed_hall(hall, weeks=4))
    old = cooling.run_cooling_forecast(hall.pk, as_of=as_of - timedelta(days=15))
    cooling.run_cooling_forecast(hall.pk, as_of=as_of)
    assert not HallForecast.objects.filter(run=old).exists()
    assert ForecastRun.objects.filter(pk=old.pk).exists()
