"""GPU pages: the explorer (every GPU's current reading) and one GPU's charts and events."""

from datetime import timedelta
from urllib.parse import urlencode

import pandas as pd
from django.core.paginator import Paginator
from django.db.models import Max
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from .. import promstore, query, units
from ..charts import add_markers, figure, local_times, name_time_zone, plain_list, resolution_label, with_gaps
from ..models import Event, Gpu, GpuModel, GpuRollup, GpuSample
from ..models.samples import Resolution
from ..tenancy import require_organization
from ..timerange import is_id, parse_filters
from . import markers
from .heatmaps import HEAT_METRICS, fleet_heatmap, heat_grid

CURRENT_WINDOW = timedelta(minutes=5)  # a reading older than this is not "current"
EXPLORER_PAGE_SIZE = 200
SORTS = {
    "name": lambda r: (r["gpu"].node.hostname, r["gpu"].index),
    "util": lambda r: _none_last(r["util"]),
    "power": lambda r: _none_last(r["power"]),
    "temp": lambda r: _none_last(r["temp"]),
    "last_seen": lambda r: _none_last(r["last_seen"].timestamp() if r["last_seen"] else None),
}
GPU_CHARTS = (
    ("Utilization", "%", ("gpu_util",)),
    ("Power", "W", ("gpu_power",)),
    ("Temperature", "°C", ("gpu_temp", "gpu_mem_temp")),
    ("SM clock", "MHz", ("gpu_sm_clock",)),
    ("Memory used", "GiB", ("gpu_mem_used",)),
    ("ECC errors", "count", ("gpu_ecc_sbe", "gpu_ecc_dbe")),
    ("Row remapping", "0/1", ("gpu_remap_pending", "gpu_remap_failure")),
    ("PCIe replays", "count", ("gpu_pcie_replay",)),
)
STORED_TO_CHART = {"GiB": 1 / units.GIB}  # chart unit -> factor from the stored unit (bytes)


def _none_last(value):
    return (value is None, value if value is not None else 0)


def current_gpu_values(gpu_ids, now):
    """{gpu_id: (ts, util, power, temp)} of each GPU's latest raw sample in the last few minutes."""
    if promstore.enabled():
        return promstore.latest_values(gpu_ids, ["gpu_util", "gpu_power", "gpu_temp"], now - CURRENT_WINDOW, now)
    rows = (
        GpuSample.objects.filter(gpu_id__in=gpu_ids, ts__gte=now - CURRENT_WINDOW)
        .order_by("ts")
        .values_list("gpu_id", "ts", "gpu_util", "gpu_power", "gpu_temp")
    )
    return {gpu_id: (ts, util, power, temp) for gpu_id, ts, util, power, temp in rows}


def explorer_rows(organization, filters, *, model="", status="", sort="name", now):
    """The GPU explorer's rows, every GPU of the filters' site/hall (and `model` id, `status`) sorted by `sort`:
    ([{"gpu", "util", "power", "temp", "last_seen"}], the sort applied, how many reported recently)."""
    gpus = filters.narrow(Gpu.objects.for_org(organization), "node__rack__hall").select_related(
        "model", "node__rack__hall__site"
    )
    if is_id(model):
        gpus = gpus.filter(model_id=int(model))
    if status in Gpu.Status.values:
        gpus = gpus.filter(status=status)
    gpus = list(gpus)
    ids = [g.id for g in gpus]
    current = current_gpu_values(ids, now) if ids else {}
    silent = [i for i in ids if i not in current]
    # GPUs without a recent sample: when their last hourly bucket was (cheap, and enough for "last seen").
    earlier = dict(
        GpuRollup.objects.filter(gpu_id__in=silent, resolution=Resolution.HOUR)
        .values("gpu_id")
        .annotate(last=Max("ts"))
        .values_list("gpu_id", "last")
        if silent
        else []
    )
    rows = []
    for gpu in gpus:
        ts, util, power, temp = current.get(gpu.id, (earlier.get(gpu.id), None, None, None))
        rows.append({"gpu": gpu, "util": util, "power": power, "temp": temp, "last_seen": ts})
    key = sort.lstrip("-")
    if key not in SORTS:
        sort, key = "name", "name"
    rows.sort(key=SORTS[key], reverse=sort.startswith("-"))
    if sort.startswith("-"):  # missing values stay at the end either way
        rows.sort(key=lambda r: r[key] is None if key != "name" else False)
    return rows, sort, len(current)


def gpu_explorer(request):
    organization = require_organization(request.user)
    filters = parse_filters(request)
    model, status = request.GET.get("model", ""), request.GET.get("status", "")
    rows, sort, reporting = explorer_rows(
        organization, filters, model=model, status=status, sort=request.GET.get("sort", "name"), now=timezone.now()
    )
    page = Paginator(rows, EXPLORER_PAGE_SIZE).get_page(request.GET.get("page"))
    heat = request.GET.get("heat", "util")
    grid = heat_grid([r["gpu"] for r in rows], heat, filters, timezone.now()) if rows else None
    return render(
        request,
        "telemetry/gpu_explorer.html",
        {
            "filters": filters,
            "page": page,
            "sort": sort,
            "models": GpuModel.objects.filter(gpus__in=Gpu.objects.for_org(organization)).distinct(),
            "statuses": Gpu.Status.choices,
            "model": model,
            "status": status,
            "reporting": reporting,
            "total": len(rows),
            "export_query": f"{filters.query_string()}&{urlencode({'model': model, 'status': status, 'sort': sort})}",
            "stale_minutes": round(CURRENT_WINDOW.total_seconds() / 60),
            "heat": heat if heat in HEAT_METRICS else "util",
            "heat_query": f"{filters.query_string()}&{urlencode({'model': model, 'status': status, 'heat': heat})}",
            "heat_metrics": {key: title for key, (_m, title, _u, _s) in HEAT_METRICS.items()},
            "heatmap": fleet_heatmap(grid, filters) if grid else None,
        },
    )


def _stitched_gpu_series(gpu_id, metrics, start, end, now, max_points):
    """{metric: its trace} at the resolution picked for the range and the chart's width (one query for all
    metrics), with hourly rollups filling whatever part of the range the finer level does not hold (older
    than its retention, or backfilled)."""
    frames = query.gpu_metric_series([gpu_id], metrics, start, end, now=now, max_points=max_points)
    firsts = {m: f["ts"].min() if not f.empty else None for m, f in frames.items()}
    short = {
        m: first for m, first in firsts.items() if first is None or first - pd.Timestamp(start) > (end - start) * 0.05
    }
    if short:
        upto = max((first.to_pydatetime() if first is not None else end) for first in short.values())
        older = query.gpu_metric_series([gpu_id], list(short), start, upto, resolution=Resolution.HOUR)
        for metric, first in short.items():
            part = older[metric] if first is None else older[metric][older[metric]["ts"] < first]
            if not part.empty:
                frames[metric] = pd.concat([part, frames[metric]])
    return frames


def gpu_detail(request, pk):
    organization = require_organization(request.user)
    gpu = get_object_or_404(Gpu.objects.for_org(organization).select_related("model", "node__rack__hall__site"), pk=pk)
    filters = parse_filters(request, zone_site=gpu.node.rack.hall.site)
    tz = filters.tz
    frames = gpu_metric_frames(gpu.id, filters.start, filters.end, timezone.now(), filters.max_points)
    chart_markers = [*markers.gpu_markers(organization, gpu, filters.start, filters.end)]
    chart_markers += markers.gap_markers(frames["gpu_util"])
    figures = []
    for n, (title, unit, metrics) in enumerate(GPU_CHARTS):
        fig = figure(title=f"{title} ({unit})", yaxis_title=unit, height=260, showlegend=True)
        name_time_zone(fig, tz)
        for metric in metrics:
            frame = frames[metric]
            x, y = with_gaps(local_times(frame["ts"], tz), plain_list(frame["value"]))
            fig.add_scatter(x=x, y=y, name=metric, mode="lines")
        add_markers(fig, chart_markers, tz)
        fig.update_xaxes(range=local_times([filters.start, filters.end], tz))
        figures.append((f"gpu-chart-{n}", fig, title))
    return render(
        request,
        "telemetry/gpu_detail.html",
        {
            "gpu": gpu,
            "filters": filters,
            "figures": figures,
            "events": gpu_events(organization, gpu, filters),
            "resolution": resolution_label(frames["gpu_util"]["ts"]),
        },
    )


def gpu_metric_frames(gpu_id, start, end, now, max_points=query.DEFAULT_MAX_POINTS):
    """{metric: DataFrame(ts, value)} for every metric the GPU page charts, in the chart's unit."""
    metrics = [m for _title, _unit, chart_metrics in GPU_CHARTS for m in chart_metrics]
    frames = _stitched_gpu_series(gpu_id, metrics, start, end, now, max_points)
    for _title, unit, chart_metrics in GPU_CHARTS:
        for metric in chart_metrics:
            if unit in STORED_TO_CHART:
                frames[metric] = frames[metric].assign(value=frames[metric]["value"] * STORED_TO_CHART[unit])
    return frames


def gpu_events(organization, gpu, filters):
    return list(Event.objects.filter(organization=organization, gpu=gpu, ts__gte=filters.start, ts__lt=filters.end))
