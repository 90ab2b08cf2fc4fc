"""Hall cooling forecasts: load a hall's hourly history from telemetry, refit or update the forecast
(planner.domain.backtest.refit_cooling, cooling_forecast), store the run, the hall forecast and the alerts;
selectors for the pages, the API and the reports.

A run that fails records its error and writes nothing else, so the last good forecast stays shown and
open alerts stay as they were (a failed run is no evidence that a condition has gone).
"""

import time
from datetime import timedelta

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Count, Max, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from planner.domain import backtest, cooling_forecast
from telemetry.models import Hall, HallRollup, Node, Resolution, Series, SeriesRollup

from .models import Alert, ForecastRun, HallForecast
from .runs import finish, floor_hour

COOLING_MODEL_VERSION = "cooling-ols-fourier-ar2+it-skill/2"
HISTORY_DAYS = 56  # 8 weeks: daily and weekly seasonality, two full weeks for the seasonal-naive baseline
HORIZON_HOURS = 168
BACKTEST_HORIZON_HOURS = 72  # scored at 1, 6, 24 and 72 h; the IT model is chosen day ahead
ALERT_LEVEL = 95
# Hourly updates write a 168-hour frame each (~30 kB); older frames are dropped, their runs kept.
FORECAST_KEEP = timedelta(days=14)
HOT_RACK_BAND_C = 2.0  # racks whose inlet ran within this of the hall's hottest are named in inlet alerts
_HOUR = timedelta(hours=1)


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
    as_of = floor_hour(as_of or timezone.now())
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
        finish(run, clock, error=f"{type(exc).__name__}: {exc}")
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
        finish(run, clock)
    return run


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


def latest_hall_forecasts(organization):
    """{hall id: newest HallForecast} for the organization's halls (one query)."""
    newest = HallForecast.objects.filter(hall=OuterRef("hall")).order_by("-as_of").values("pk")[:1]
    forecasts = HallForecast.objects.for_org(organization).filter(pk=Subquery(newest)).select_related("run")
    return {f.hall_id: f for f in forecasts}


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
