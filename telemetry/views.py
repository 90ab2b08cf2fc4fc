from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from config.celery import app as celery_app

from . import extensions, fleet, query
from .charts import add_markers, figure, local_times, name_time_zone, with_gaps
from .pages import markers
from .tenancy import user_organization
from .timerange import parse_filters


def overview(request):
    organization = user_organization(request.user)
    filters = parse_filters(request)
    halls = fleet.hall_summaries(organization, filters) if organization else []
    names = [str(s["hall"]) for s in halls]
    fig = figure(title="Capacity per hall", yaxis_title="kW", barmode="group")
    fig.add_bar(name="IT power capacity (kW)", x=names, y=[s["hall"].it_power_capacity_kw for s in halls])
    fig.add_bar(name="Cooling capacity (kW)", x=names, y=[s["hall"].cooling_capacity_kw for s in halls])
    fig.add_bar(name="Installed GPU TDP (kW)", x=names, y=[s["gpu_tdp_kw"] for s in halls])
    totals = {key: sum(s[key] for s in halls) for key in ("racks", "nodes", "gpus", "gpu_tdp_kw")}
    sites = sorted({s["hall"].site for s in halls}, key=lambda site: site.name)
    return render(
        request,
        "telemetry/overview.html",
        {
            "filters": filters,
            "halls": halls,
            "sites": sites,
            "totals": totals,
            "capacity_figure": fig,
            "load_figure": it_load_figure(organization, [s["hall"] for s in halls], filters),
            "model_mix": fleet.gpu_model_mix(organization, filters) if organization else [],
            "panels": [panel(request, organization, filters) for panel in extensions.overview_panels],
        },
    )


def it_load_figure(organization, halls, filters):
    """Measured IT load per hall (kW) over the filters' range, on a time axis in their timezone, broken where
    samples are missing, with the demo simulator's own events (job restarts) marked as simulated."""
    fig = name_time_zone(figure(title="Measured IT load per hall (kW)", yaxis_title="kW", height=300), filters.tz)
    ids = [h.id for h in halls]
    frame = query.hall_series(ids, "it_power_w", filters.start, filters.end, max_points=filters.max_points)
    simulated = []
    for hall in halls:
        rows = frame[frame["hall_id"] == hall.id]
        if not rows.empty:
            x, y = with_gaps(local_times(rows["ts"], filters.tz), (rows["value"] / 1000).tolist())
            fig.add_scatter(x=x, y=y, name=str(hall), mode="lines")
        simulated += markers.simulated_markers(organization, hall, filters.start, filters.end)
    add_markers(fig, simulated, filters.tz)
    fig.update_xaxes(range=local_times([filters.start, filters.end], filters.tz))
    return fig


def _check(probe):
    try:
        probe()
        return "ok"
    except Exception as exc:  # any failure means "not reachable"; the message says which
        return f"error: {exc.__class__.__name__}: {exc}"[:300]


def _probe_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _probe_cache():
    """Redis when REDIS_URL is set (throttles and lockouts live there), else the local-memory cache."""
    cache.set("healthz", "ok", 10)
    if cache.get("healthz") != "ok":
        raise RuntimeError("the cache does not keep what it is given")


def _probe_broker():
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@login_not_required
@never_cache
def healthz(request):
    """200 when the database, the Celery broker and the cache answer, else 503 naming the one that does not."""
    checks = {"database": _check(_probe_database), "broker": _check(_probe_broker), "cache": _check(_probe_cache)}
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)
