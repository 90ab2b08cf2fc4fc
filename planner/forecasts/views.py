"""Forecast pages: halls' cooling forecasts with backtest scores, alerts, GPU failure risk (table,
detail, fleet expectation and spares). Login required (middleware); everything scoped to the user's
organization, another organization's hall or GPU answers 404. The dashboard filters (telemetry.timerange)
narrow the lists to a site or hall, the range picks the time window, and times are shown in the site's
timezone (a hall's or GPU's own site on its page)."""

from datetime import timedelta

import pandas as pd
from django.core.paginator import Paginator
from django.db.models import Count, F, Q
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string

from planner.domain import cooling_forecast, failure_risk
from planner.domain.baselines import BASELINES
from telemetry.models import Event, Gpu, GpuRollup, Hall, Resolution
from telemetry.tenancy import require_organization
from telemetry.timerange import parse_filters

from . import charts, cooling, risk
from .models import Alert, ForecastRun, GpuRiskScore, HallForecast

MAX_HISTORY_SHOWN = timedelta(days=90)
RISK_PAGE_SIZE = 100
ALERT_SHOWS = ("active", "all")
RISK_SORTS = {
    "risk": "-probability_30d",
    "-risk": "probability_30d",
    "gpu": "gpu__node__hostname",
    "model": "gpu__model__name",
    "hall": "gpu__node__rack__hall__name",
    "signal": "top_signal",
}
TARGET_LABELS = {"it_load_kw": "IT load (kW)", "cooling_load_kw": "Cooling load (kW)", "max_inlet_c": "Max inlet (°C)"}
BASELINE_LABELS = {"yesterday": "same hour yesterday", "last_week": "same hour last week", "last_value": "last value"}
IT_MODEL_LABELS = {
    cooling_forecast.REGRESSION: "regression on trend and calendar",
    "weekly_profile_ar": "weekly profile + AR",
    "daily_profile_ar": "daily profile + AR",
    "ew_profile_ar": "recency-weighted daily profile + AR",
    "harmonic_ar": "daily and weekly harmonics + AR",
    "combined": "mean of the profile and harmonic models",
    **BASELINE_LABELS,
}


def forecast_index(request):
    organization = require_organization(request.user)
    filters = parse_filters(request)
    outlook = cooling.cooling_outlook(organization, filters=filters)
    alerts = Alert.objects.for_org(organization).active().values("hall").annotate(n=Count("pk"))
    open_by_hall = {row["hall"]: row["n"] for row in alerts}
    for row in outlook:
        row["alerts"] = open_by_hall.get(row["hall"].pk, 0)
    # Runs in the range: each hall's in the filters' site or hall, and the organization-wide risk runs.
    halls = filters.narrow(Hall.objects.for_org(organization))
    runs = (
        ForecastRun.objects.for_org(organization)
        .filter(Q(hall=None) | Q(hall__in=halls), started__gte=filters.start, started__lte=filters.end)
        .select_related("hall")[:20]
    )
    return render(request, "forecasts/index.html", {"filters": filters, "outlook": outlook, "runs": runs})


def _backtest_rows(scores):
    """One row per target and horizon: the forecast's MAE, each baseline's, the ratio to the best one and
    the coverage of the (calibrated) intervals. Scores stored before the refit kept per-horizon skill
    have the backtest horizon alone."""
    by_target = scores.get("horizons") or {
        target: {str(scores.get("horizon_hours")): metrics} for target, metrics in scores.get("targets", {}).items()
    }
    rows = []
    for target, label in TARGET_LABELS.items():
        for horizon, metrics in (by_target.get(target) or {}).items():
            rows.append(
                {
                    "target": label,
                    "horizon": int(horizon),
                    **metrics,
                    "baselines": [metrics.get(name) for name in BASELINES],
                    "baseline_label": BASELINE_LABELS.get(metrics.get("baseline"), "-"),
                    # Calibrated intervals are what the page draws; older scores measured the model's own.
                    "cover_80": metrics.get("calibrated_80", metrics.get("coverage_80")),
                    "cover_95": metrics.get("calibrated_95", metrics.get("coverage_95")),
                }
            )
    return rows


def _it_model(scores):
    """The IT-load model the forecast uses and whether it is a naive baseline (no model beat one)."""
    name = scores.get("it_model")
    if name is None:
        return None
    return {"label": IT_MODEL_LABELS.get(name, name), "is_baseline": name in BASELINES}


def hall_forecast(request, pk):
    organization = require_organization(request.user)
    hall = get_object_or_404(
        Hall.objects.for_org(organization).select_related("site").annotate(units=Count("cooling_units")), pk=pk
    )
    latest = HallForecast.objects.filter(hall=hall).select_related("run").first()
    scores = latest.backtest if latest else {}
    spec = cooling.hall_cooling(hall, hall.units)
    forecast = cooling.frame_from_json(latest.frame) if latest else None
    end = latest.as_of if latest else None
    # The filter bar's range sets how much measured history leads up to the forecast (default a week).
    filters = parse_filters(request, zone_site=hall.site)
    history = None
    if end is not None:
        shown = min(filters.duration, MAX_HISTORY_SHOWN)
        try:
            history, _ = cooling.load_hall_history(hall, end - shown, end + timedelta(hours=1))
        except cooling_forecast.InsufficientHistory:
            history = None
    allowable = cooling_forecast.ASHRAE_ALLOWABLE_MAX_C[hall.ashrae_class]
    cooling_limits = [(f"installed capacity {spec.cooling_capacity_kw:.0f} kW", spec.cooling_capacity_kw, "capacity")]
    if spec.redundancy != "N":
        cooling_limits.append(
            (
                f"capacity with {spec.redundancy} {spec.redundant_capacity_kw:.0f} kW",
                spec.redundant_capacity_kw,
                "redundant",
            )
        )
    figures = (
        [
            (
                "it",
                charts.forecast_figure(
                    "IT load",
                    "kW",
                    history,
                    forecast,
                    "it_load_kw",
                    [(f"IT capacity {hall.it_power_capacity_kw:.0f} kW", hall.it_power_capacity_kw, "capacity")],
                    tz=filters.tz,
                ),
            ),
            (
                "cooling",
                charts.forecast_figure(
                    "Cooling load", "kW", history, forecast, "cooling_load_kw", cooling_limits, tz=filters.tz
                ),
            ),
            (
                "inlet",
                charts.forecast_figure(
                    "Maximum rack inlet temperature",
                    "°C",
                    history,
                    forecast,
                    "max_inlet_c",
                    [
                        (
                            f"ASHRAE recommended {cooling_forecast.ASHRAE_RECOMMENDED_MAX_C:g} °C",
                            cooling_forecast.ASHRAE_RECOMMENDED_MAX_C,
                            "recommended",
                        ),
                        (f"class {hall.ashrae_class} allowable {allowable:g} °C", allowable, "allowable"),
                    ],
                    tz=filters.tz,
                ),
            ),
        ]
        if latest
        else []
    )
    runs = ForecastRun.objects.filter(hall=hall, kind=ForecastRun.Kind.COOLING)[:10]
    return render(
        request,
        "forecasts/hall.html",
        {
            "filters": filters,
            "hall": hall,
            "cooling": spec,
            "forecast": latest,
            "figures": figures,
            "backtest": scores,
            "backtest_rows": _backtest_rows(scores),
            "it_model": _it_model(scores),
            "baseline_labels": [BASELINE_LABELS[name] for name in BASELINES],
            "runs": runs,
            "last_run": runs[0] if runs else None,
            "alerts": Alert.objects.filter(hall=hall).active().select_related("hall__site"),
        },
    )


def alert_list(request):
    """Alerts open at some time in the range (all of them, or only those still active), of the filters'
    site or hall."""
    organization = require_organization(request.user)
    filters = parse_filters(request)
    show = request.GET.get("show", "active")
    if show not in ALERT_SHOWS:
        filters.errors.append(f"Unknown show={show!r}; choose one of {', '.join(ALERT_SHOWS)}.")
        show = "active"
    alerts = filters.narrow(Alert.objects.for_org(organization), "hall").select_related("hall__site")
    alerts = alerts.filter(Q(resolved_at=None) | Q(resolved_at__gte=filters.start), first_seen__lte=filters.end)
    if show == "active":
        alerts = alerts.active()
    alerts = alerts.order_by(F("resolved_at").desc(nulls_first=True), "-severity", "start")[:500]
    return render(request, "forecasts/alerts.html", {"filters": filters, "alerts": alerts, "show": show})


def _risk_filters(request, scores, filters):
    """The risk table's own filters (model, lowest risk in %) on top of the dashboard's site/hall."""
    model = request.GET.get("model", "")
    min_risk = request.GET.get("min_risk", "")
    scores = filters.narrow(scores, "gpu__node__rack__hall")
    if model:
        scores = scores.filter(gpu__model__name=model)
    if min_risk:
        try:
            scores = scores.filter(probability_30d__gte=float(min_risk) / 100)
        except ValueError:
            filters.errors.append(f"min_risk={min_risk!r} is not a number (a percentage, e.g. 2.5).")
            min_risk = ""
    return scores, {"model": model, "min_risk": min_risk}


def risk_table(request):
    organization = require_organization(request.user)
    filters = parse_filters(request)
    run = risk.latest_risk_run(organization)
    scores = GpuRiskScore.objects.none()
    risk_filters = {"model": "", "min_risk": ""}
    if run:
        scores = GpuRiskScore.objects.filter(run=run).select_related("gpu__model", "gpu__node__rack__hall")
        scores, risk_filters = _risk_filters(request, scores, filters)
    sort = request.GET.get("sort", "risk")
    scores = scores.order_by(RISK_SORTS.get(sort, RISK_SORTS["risk"]), "gpu_id")
    page = Paginator(scores, RISK_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    return render(
        request,
        "forecasts/risk.html",
        {
            "filters": filters,
            "run": run,
            "coverage": _risk_coverage(organization, run, filters) if run else None,
            "page": page,
            "sort": sort,
            "risk_filters": risk_filters,
            "query": query.urlencode(),
            "sort_query": sort_query.urlencode(),
            "models": Gpu.objects.for_org(organization)
            .values_list("model__name", flat=True)
            .distinct()
            .order_by("model__name"),
        },
    )


def _risk_coverage(organization, run, filters):
    """How the run's scored GPUs compare with the inventory the overview counts (the filters' site/hall):
    failed and retired GPUs are not scored, nor GPUs lost in the 30 days before the run (they await service),
    and GPUs added after the run have no score yet."""
    inventory = dict(filters.narrow(Gpu.objects.for_org(organization), "node__rack__hall").values_list("id", "status"))
    scored = filters.narrow(GpuRiskScore.objects.filter(run=run), "gpu__node__rack__hall").count()
    out = {i for i, status in inventory.items() if status in (Gpu.Status.FAILED, Gpu.Status.RETIRED)}
    lost = risk.failed_between(organization.pk, run.as_of - risk.RISK_WINDOW, run.as_of)
    lost = len((set(lost) & set(inventory)) - out)
    return {
        "inventory": len(inventory),
        "scored": scored,
        "out_of_service": len(out),
        "lost": lost,
        "later": max(len(inventory) - len(out) - lost - scored, 0),
    }


def risk_detail(request, pk):
    """One GPU's risk: its latest score and drivers, and over the range its hourly signals, stored scores
    and events."""
    organization = require_organization(request.user)
    gpu = get_object_or_404(Gpu.objects.for_org(organization).select_related("model", "node__rack__hall__site"), pk=pk)
    filters = parse_filters(request, zone_site=gpu.node.rack.hall.site)
    start, end = filters.start, filters.end
    history = list(
        GpuRiskScore.objects.filter(gpu=gpu, as_of__gte=start, as_of__lte=end)
        .order_by("as_of")
        .values_list("as_of", "probability_30d")
    )
    latest = GpuRiskScore.objects.filter(gpu=gpu).order_by("-as_of").select_related("run").first()
    rows = GpuRollup.objects.filter(resolution=Resolution.HOUR, gpu=gpu, ts__gte=start, ts__lt=end).values_list(
        "ts", "gpu_temp_max", "gpu_power_avg", "gpu_ecc_sbe_max"
    )
    hourly = pd.DataFrame(list(rows), columns=["ts", "temp_max", "power_avg", "sbe_max"]).set_index("ts")
    events = Event.objects.filter(gpu=gpu, ts__gte=start, ts__lte=end).order_by("-ts")[:50]
    return render(
        request,
        "forecasts/risk_detail.html",
        {
            "filters": filters,
            "gpu": gpu,
            "score": latest,
            "figure": charts.gpu_signals_figure(hourly, history, (start, end), tz=filters.tz),
            "events": events,
            "feature_names": failure_risk.FEATURE_COLUMNS,
        },
    )


def fleet_risk(request):
    """Expected failures and spares from the latest scores of the GPUs in the filters' site or hall."""
    organization = require_organization(request.user)
    filters = parse_filters(request)
    run = risk.latest_risk_run(organization)
    context = {"filters": filters, "run": run}
    if run:
        scores = filters.narrow(GpuRiskScore.objects.filter(run=run), "gpu__node__rack__hall")
        rows = scores.values_list("gpu_id", "probability_30d", "gpu__model__name", "gpu__node__rack__hall__name")
        frame = pd.DataFrame(list(rows), columns=["gpu", "probability_30d", "model", "hall"]).set_index("gpu")
        backtest = (run.scores or {}).get("backtest")  # of the whole fleet: the filters do not narrow it
        context |= {
            "backtest": backtest,
            "reliability_figure": charts.reliability_figure((backtest or {}).get("reliability")),
        }
        if not frame.empty:
            scored = failure_risk.RiskScores(pd.Timestamp(run.as_of), frame, pd.DataFrame(index=frame.index))
            context |= {
                "by_model": _expected_table(scored, ("model",)),
                "by_hall": _expected_table(scored, ("hall",)),
                "spares": failure_risk.spares_needed(scored).reset_index().to_dict(orient="records"),
            }
    return render(request, "forecasts/fleet.html", context)


def _expected_table(risk, by):
    d30 = failure_risk.expected_failures(risk, 30, by)
    d90 = failure_risk.expected_failures(risk, 90, by)
    d30 = d30.rename(columns=lambda c: c if c == "gpus" else f"{c}_30")
    table = d30.join(d90.drop(columns="gpus").add_suffix("_90")).reset_index()
    table.columns = ["group", *table.columns[1:]]
    return table.to_dict(orient="records")


def overview_panel(request, organization, filters):
    """The fleet overview's forecast panel (telemetry.extensions.overview_panels): the next-24-hour cooling
    outlook and the open alerts, of the filters' site or hall."""
    if organization is None:
        return ""
    alerts = filters.narrow(Alert.objects.for_org(organization).active().select_related("hall__site"), "hall")
    context = {"cooling_outlook": cooling.cooling_outlook(organization, filters=filters), "active_alerts": alerts}
    return render_to_string("forecasts/_overview.html", context, request=request)


def alert_rows(organization, filters, show):
    """Cooling-forecast alerts in the range as rows of the anomalies page (telemetry.extensions.alert_rows)."""
    alerts = Alert.objects.for_org(organization).filter(
        Q(resolved_at=None) | Q(resolved_at__gte=filters.start), first_seen__lte=filters.end
    )
    if show == "open":
        alerts = alerts.filter(resolved_at=None)
    return [
        {
            "source": "cooling forecast",
            "alert": a,
            "severity": a.severity,
            "start": a.start,
            "end": a.resolved_at,
            "subject": f"{a.hall.site.name} / {a.hall.name}",
            "what": a.kind,
            "observed": a.peak,
            "expected": f"≤ {a.threshold:.3g} {a.unit}",
            "explanation": f"forecast peak {a.peak:.1f} {a.unit} at {a.peak_at:%Y-%m-%d %H:%M}",
            "acknowledged": None,
        }
        for a in alerts.select_related("hall__site")[:500]
    ]
