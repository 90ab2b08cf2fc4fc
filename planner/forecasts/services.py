"""Forecast services: load hourly hall history and GPU signals from telemetry, call the forecast domain
(planner.domain.cooling_forecast, failure_risk, backtest), and store runs, hall forecasts, alerts and
risk scores. Selectors for the pages and the API are at the end.

A run that fails records its error and writes nothing else, so the last good forecast stays shown and
open alerts stay as they were (a failed run is no evidence that a condition has gone).
"""

import time
from datetime import timedelta

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import BigIntegerField, Case, Count, F, Max, Min, OuterRef, Q, Subquery, Sum, When
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from planner.domain import backtest, cooling_forecast, failure_risk
from telemetry.models import Event, Gpu, GpuRollup, Hall, HallRollup, Node, Resolution, Series, SeriesRollup

from .models import Alert, ForecastRun, GpuRiskScore, HallForecast

COOLING_MODEL_VERSION = "cooling-ols-fourier-ar2+it-skill/2"
RISK_MODEL_VERSION = "risk-prior-signals/1"
HISTORY_DAYS = 56  # 8 weeks: daily and weekly seasonality, two full weeks for the seasonal-naive baseline
HORIZON_HOURS = 168
BACKTEST_HORIZON_HOURS = 24
ALERT_LEVEL = 95
# Hourly updates write a 168-hour frame each (~30 kB); older frames are dropped, their runs kept.
FORECAST_KEEP = timedelta(days=14)
HOT_RACK_BAND_C = 2.0  # racks whose inlet ran within this of the hall's hottest are named in inlet alerts
# NVML clocks-event reasons: SW thermal slowdown (0x20), HW thermal slowdown (0x40); SW power cap (0x4),
# HW power brake (0x80). Hourly rollups keep the max of the bitmask, so a fraction is "hours with it".
THERMAL_THROTTLE_MASK = 0x20 | 0x40
POWER_THROTTLE_MASK = 0x04 | 0x80
HOT_TEMP_C = 80.0  # only GPUs that ran hotter than this need their temperature percentile computed
FAILURE_EVENT_KINDS = ("gpu_lost",)
RISK_WINDOW = timedelta(days=failure_risk.HORIZON_DAYS)
_HOUR = timedelta(hours=1)


class ForecastError(Exception):
    """Inputs that cannot be forecast; the message says what is missing."""


def _floor_hour(ts):
    return ts.replace(minute=0, second=0, microsecond=0)


# --- cooling -----------------------------------------------------------------------------------------


def hall_cooling(hall, cooling_units=None):
    """The domain's view of a hall's cooling (cooling_units: count, if already known)."""
    units = hall.cooling_units.count() if cooling_units is None else cooling_units
    if hall.redundancy == Hall.Redundancy.N_PLUS_1 and units < 2:
        # N+1 with one recorded unit cannot be evaluated; plan it as N and say so.
        return cooling_forecast.HallCooling(
            str(hall.pk), hall.cooling_capacity_kw, max(units, 1), "N", hall.ashrae_class
        )
    return cooling_forecast.HallCooling(
        str(hall.pk), hall.cooling_capacity_kw, max(units, 1), hall.redundancy, hall.ashrae_class
    )


def load_hall_history(hall, start, end):
    """Hourly history of a hall in [start, end): it_load_kw, cooling_load_kw, max_inlet_c, outdoor_c,
    from the 1-hour rollups. Returns (frame, notes) where notes say which inputs were not measured."""
    notes = []
    rows = HallRollup.objects.filter(resolution=Resolution.HOUR, hall=hall, ts__gte=start, ts__lt=end).values_list(
        "ts", "it_power_w", "inlet_temp_max"
    )
    frame = pd.DataFrame(list(rows), columns=["ts", "it_power_w", "max_inlet_c"])
    if frame.empty:
        raise cooling_forecast.InsufficientHistory(
            f"hall {hall.name} has no hourly telemetry between {start} and {end}"
        )
    frame = frame.set_index(pd.DatetimeIndex(frame.pop("ts"))).astype(float)
    frame["it_load_kw"] = frame.pop("it_power_w") / 1000

    cooling = (
        SeriesRollup.objects.filter(
            resolution=Resolution.HOUR, series__hall=hall, series__metric="cooling_load", ts__gte=start, ts__lt=end
        )
        .values("ts")
        .annotate(total_w=Sum("avg"))
        .values_list("ts", "total_w")
    )
    cooling = pd.Series(dict(cooling), dtype=float)
    if cooling.empty:
        notes.append("No measured cooling load: taken as the IT load (1 W of IT is 1 W of heat), losses not seen.")
        frame["cooling_load_kw"] = frame["it_load_kw"]
    else:
        cooling.index = pd.DatetimeIndex(cooling.index)
        frame["cooling_load_kw"] = cooling.reindex(frame.index) / 1000

    site = hall.site
    outdoor_series = (
        Series.objects.filter(organization_id=site.organization_id, metric="site_outdoor_temp")
        .filter(Q(entity=site.name) | Q(hall__site=site))
        .values_list("id", flat=True)
        .first()
    )
    outdoor = pd.Series(dtype=float)
    if outdoor_series is not None:
        outdoor = pd.Series(
            dict(
                SeriesRollup.objects.filter(
                    resolution=Resolution.HOUR, series_id=outdoor_series, ts__gte=start, ts__lt=end
                ).values_list("ts", "avg")
            ),
            dtype=float,
        )
    if outdoor.empty:
        notes.append(f"No measured outdoor temperature for site {site.name}: forecast uses load and calendar only.")
        frame["outdoor_c"] = np.nan
    else:
        outdoor.index = pd.DatetimeIndex(outdoor.index)
        frame["outdoor_c"] = outdoor.reindex(frame.index)
    return frame.sort_index(), notes


def _hot_racks(hall, start, end):
    """Racks whose hottest node inlet over [start, end) was within HOT_RACK_BAND_C of the hall's hottest."""
    hottest = dict(
        SeriesRollup.objects.filter(
            resolution=Resolution.HOUR,
            series__hall=hall,
            series__metric="node_inlet_temp",
            ts__gte=start,
            ts__lt=end,
        )
        .values("series__entity")
        .annotate(peak=Max("max"))
        .values_list("series__entity", "peak")
    )
    if not hottest:
        return []
    racks = dict(Node.objects.filter(rack__hall=hall, hostname__in=hottest).values_list("hostname", "rack__name"))
    top = max(hottest.values())
    return sorted({racks[h] for h, peak in hottest.items() if h in racks and peak >= top - HOT_RACK_BAND_C})


def _frame_json(frame):
    out = {"hour": [ts.isoformat() for ts in frame.index]}
    for column in frame.columns:
        values = frame[column].to_numpy(dtype=float)
        out[column] = [None if not np.isfinite(v) else round(float(v), 4) for v in values]
    return out


def _latest_backtest(hall):
    forecast = HallForecast.objects.filter(hall=hall).exclude(backtest={}).only("backtest").first()
    return forecast.backtest if forecast else {}


def run_cooling_forecast(hall_id, *, as_of=None, mode=ForecastRun.Mode.UPDATE, horizon_hours=HORIZON_HOURS):
    """Forecast one hall's next `horizon_hours` from the 8 weeks before `as_of` (default: the last full
    hour). A refit chooses the IT-load model by backtest (backtest.refit_cooling: rolling origins against
    the best of yesterday, last week and last value), calibrates the intervals on its errors and stores
    the scores; an update forecasts with the refit's IT model and interval widths and carries its scores
    forward. Alerts are synced from the new forecast. Returns the run."""
    hall = Hall.objects.select_related("site").get(pk=hall_id)
    as_of = _floor_hour(as_of or timezone.now())
    start = as_of - timedelta(days=HISTORY_DAYS)
    run = ForecastRun.objects.create(
        organization_id=hall.site.organization_id,
        hall=hall,
        kind=ForecastRun.Kind.COOLING,
        mode=mode,
        as_of=as_of,
        started=timezone.now(),
        model_version=COOLING_MODEL_VERSION,
    )
    clock = time.perf_counter()
    try:
        history, notes = load_hall_history(hall, start, as_of + _HOUR)
        run.inputs_start, run.inputs_end = history.index[0].to_pydatetime(), history.index[-1].to_pydatetime()
        run.notes = notes
        cooling = hall_cooling(hall)
        if mode == ForecastRun.Mode.REFIT:
            refit = backtest.refit_cooling(history, cooling, as_of, horizon_hours, BACKTEST_HORIZON_HOURS)
            forecast, scores = refit.forecast, refit.scores()
        else:  # the refit's IT model and calibrated interval widths, on the newest hours
            scores = _latest_backtest(hall)
            forecast = cooling_forecast.forecast_cooling(
                history, cooling, as_of, horizon_hours, it_model=scores.get("it_model")
            )
            if scores.get("halfwidths"):
                forecast = backtest.calibrate(forecast, scores["halfwidths"])
        candidates = cooling_forecast.cooling_alerts(forecast, cooling, ALERT_LEVEL)
    except (cooling_forecast.InsufficientHistory, ValueError, np.linalg.LinAlgError) as exc:
        _finish(run, clock, error=f"{type(exc).__name__}: {exc}")
        return run
    with transaction.atomic():
        run.scores = scores
        HallForecast.objects.create(
            run=run,
            hall=hall,
            as_of=as_of,
            horizon_hours=horizon_hours,
            frame=_frame_json(forecast.frame),
            backtest=scores,
            cooling_per_it=forecast.cooling_per_it,
            inlet_c_per_utilisation=forecast.inlet_c_per_utilisation,
            outdoor_measured=not any(n.startswith("No measured outdoor") for n in notes),
        )
        HallForecast.objects.filter(hall=hall, as_of__lt=as_of - FORECAST_KEEP).delete()
        racks = _hot_racks(hall, as_of - timedelta(days=1), as_of + _HOUR) if candidates else []
        sync_alerts(hall, run, candidates, racks=racks)
        _finish(run, clock)
    return run


def _finish(run, clock, error=""):
    run.finished = timezone.now()
    run.duration_s = time.perf_counter() - clock
    run.status = ForecastRun.Status.FAILED if error else ForecastRun.Status.OK
    run.error = error
    run.save()


def sync_alerts(hall, run, candidates, *, racks=()):
    """Make the hall's open alerts match this run's candidates: a condition already open (same
    dedup_key) is updated and its last_seen moved on; a new one is opened; an open one this run no
    longer sees is resolved. Returns the hall's open alerts."""
    now = run.finished or timezone.now()
    open_alerts = {a.dedup_key: a for a in Alert.objects.select_for_update().filter(hall=hall, resolved_at=None)}
    seen = set()
    for c in candidates:
        seen.add(c.dedup_key)
        figures = {
            "kind": c.kind,
            "threshold": c.threshold,
            "unit": c.unit,
            "start": c.start.to_pydatetime(),
            "end": c.end.to_pydatetime(),
            "peak": c.peak,
            "peak_at": c.peak_at.to_pydatetime(),
            "margin": c.margin,
            "severity": c.severity,
            "racks": list(racks) if c.unit == "C" else [],
            "last_seen": now,
            "last_run": run,
        }
        alert = open_alerts.get(c.dedup_key)
        if alert is None:
            open_alerts[c.dedup_key] = Alert.objects.create(
                organization_id=run.organization_id, hall=hall, dedup_key=c.dedup_key, first_seen=now, **figures
            )
        else:
            for name, value in figures.items():
                setattr(alert, name, value)
            alert.save()
    gone = [key for key in open_alerts if key not in seen]
    Alert.objects.filter(hall=hall, resolved_at=None, dedup_key__in=gone).update(resolved_at=now, last_run=run)
    return [a for key, a in open_alerts.items() if key in seen]


def run_cooling_forecasts(organization_id, *, as_of=None, mode=ForecastRun.Mode.UPDATE):
    """Forecast every hall of an organization (one failing hall does not stop the others)."""
    halls = Hall.objects.filter(site__organization_id=organization_id).values_list("id", flat=True)
    return [run_cooling_forecast(hall_id, as_of=as_of, mode=mode) for hall_id in halls]


# --- failure risk ------------------------------------------------------------------------------------


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
    frame = frame.drop(index=list(_failed_between(organization_id, window_start, as_of) & set(frame.index)))
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


def _failed_between(organization_id, start, end):
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
    failed = _failed_between(organization_id, origin, as_of)
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
    as_of = _floor_hour(as_of or timezone.now())
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
        _finish(run, clock, error=f"{type(exc).__name__}: {exc}")
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
        _finish(run, clock)
    return run


# --- selectors ---------------------------------------------------------------------------------------


def latest_hall_forecasts(organization):
    """{hall id: newest HallForecast} for the organization's halls (one query)."""
    newest = HallForecast.objects.filter(hall=OuterRef("hall")).order_by("-as_of").values("pk")[:1]
    forecasts = HallForecast.objects.for_org(organization).filter(pk=Subquery(newest)).select_related("run")
    return {f.hall_id: f for f in forecasts}


def latest_run(organization, kind, hall=None):
    runs = ForecastRun.objects.for_org(organization).filter(kind=kind)
    if hall is not None:
        runs = runs.filter(hall=hall)
    return runs.first()


def latest_risk_run(organization):
    return ForecastRun.objects.for_org(organization).filter(kind=ForecastRun.Kind.RISK, status="ok").first()


def frame_from_json(data):
    """A stored forecast frame back as a DataFrame indexed by UTC hour."""
    columns = {k: v for k, v in data.items() if k != "hour"}
    return pd.DataFrame(columns, index=pd.DatetimeIndex(data["hour"], name="hour"), dtype=float)


def cooling_outlook(organization, hours=24, *, filters=None):
    """Per hall, what the newest forecast says about the next `hours` after it was made: peak IT and
    cooling load, peak inlet (upper 95% bound) and the margins to the limits. For the overview page.
    `filters` (telemetry.timerange.DashboardFilters) narrow it to their site or hall."""
    forecasts = latest_hall_forecasts(organization)
    halls = Hall.objects.for_org(organization).select_related("site").annotate(units=Count("cooling_units"))
    halls = filters.narrow(halls) if filters else halls
    outlook = []
    for hall in halls:
        forecast = forecasts.get(hall.pk)
        if forecast is None:
            outlook.append({"hall": hall, "forecast": None})
            continue
        frame = frame_from_json(forecast.frame).iloc[:hours]
        cooling = hall_cooling(hall, hall.units)
        inlet_hi = float(frame["max_inlet_c_hi95"].max())
        cooling_hi = float(frame["cooling_load_kw_hi95"].max())
        outlook.append(
            {
                "hall": hall,
                "forecast": forecast,
                "it_peak_kw": float(frame["it_load_kw"].max()),
                "cooling_peak_kw": float(frame["cooling_load_kw"].max()),
                "cooling_hi95_kw": cooling_hi,
                "cooling_limit_kw": cooling.redundant_capacity_kw,
                "cooling_margin_kw": cooling.redundant_capacity_kw - cooling_hi,
                "inlet_peak_c": float(frame["max_inlet_c"].max()),
                "inlet_hi95_c": inlet_hi,
                "inlet_margin_c": cooling_forecast.ASHRAE_RECOMMENDED_MAX_C - inlet_hi,
            }
        )
    return outlook


def run_all_forecasts(organization_id, *, as_of=None):
    """Refit every hall's cooling forecast (with backtest) and score the GPUs: what the nightly beat
    does, run once by seed_demo so the demo shows forecasts at once. Returns the runs."""
    runs = run_cooling_forecasts(organization_id, as_of=as_of, mode=ForecastRun.Mode.REFIT)
    return runs + [run_risk_scoring(organization_id, as_of=as_of)]
