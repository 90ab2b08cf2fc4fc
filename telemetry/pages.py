"""Telemetry pages: GPU explorer and detail, halls (headroom, rack heatmap, PUE) and collector sources.

Views stay thin: scope to the user's organization, read the URL filters (telemetry.timerange), read
through telemetry.query, and hand Plotly figures to the templates. Times show in `filters.tz`: a GPU's or
hall's own site's zone on its page, the picked site's (else UTC) on lists.
"""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import pandas as pd
from django.core.paginator import Paginator
from django.db.models import Count, Max
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from . import query
from .charts import PALETTE, figure, local_times, name_time_zone
from .collectors.simulator import floor_grid
from .models import (
    CollectorRun,
    Event,
    Gpu,
    GpuModel,
    GpuRollup,
    GpuSample,
    Hall,
    HallRollup,
    QuarantinedValue,
    Rack,
    RollupWatermark,
    Sample,
    Series,
    SeriesRollup,
    Source,
)
from .models.samples import Resolution
from .tenancy import require_organization
from .timerange import parse_filters

CURRENT_WINDOW = timedelta(minutes=5)  # a reading older than this is not "current"
EXPLORER_PAGE_SIZE = 200
ASHRAE_RECOMMENDED_C, ASHRAE_ALLOWABLE_C = 27.0, {"A1": 32.0, "A2": 35.0, "A3": 40.0, "A4": 45.0}
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
    ("Memory used", "bytes", ("gpu_mem_used",)),
    ("ECC errors", "count", ("gpu_ecc_sbe", "gpu_ecc_dbe")),
    ("Row remapping", "0/1", ("gpu_remap_pending", "gpu_remap_failure")),
    ("PCIe replays", "count", ("gpu_pcie_replay",)),
)
EVENT_COLOURS = {"xid": PALETTE[3], "ecc_dbe": PALETTE[5], "remap_failure": PALETTE[5], "gpu_lost": PALETTE[7]}


def _list(values):
    """Plain lists for Plotly: numpy arrays would be sent as typed binary that charts.js does not count."""
    return values.tolist()


def _none_last(value):
    return (value is None, value if value is not None else 0)


def halls_in(organization, filters):
    """The organization's halls narrowed to the filters' site or hall, with their cooling unit count."""
    halls = Hall.objects.for_org(organization).select_related("site").annotate(unit_count=Count("cooling_units"))
    return list(filters.narrow(halls))


def current_gpu_values(gpu_ids, now):
    """{gpu_id: (ts, util, power, temp)} of each GPU's latest raw sample in the last few minutes."""
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
    if model.isdigit():
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
    filters = parse_filters(request, default_range="1h")
    model, status = request.GET.get("model", ""), request.GET.get("status", "")
    rows, sort, reporting = explorer_rows(
        organization, filters, model=model, status=status, sort=request.GET.get("sort", "name"), now=timezone.now()
    )
    page = Paginator(rows, EXPLORER_PAGE_SIZE).get_page(request.GET.get("page"))
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
            "stale_after": CURRENT_WINDOW,
        },
    )


def _stitched_gpu_series(gpu_id, metric, start, end, now):
    """The metric at the resolution picked for the range, with hourly rollups filling whatever part of
    the range the finer level does not hold (older than its retention, or from backfilled history)."""
    frame = query.gpu_series([gpu_id], metric, start, end, now=now)
    first = frame["ts"].min() if not frame.empty else None
    if first is None or first - pd.Timestamp(start) > (end - start) * 0.05:
        older = query.gpu_series(
            [gpu_id], metric, start, first.to_pydatetime() if first is not None else end, resolution=Resolution.HOUR
        )
        frame = pd.concat([older, frame]) if not older.empty else frame
    return frame


def gpu_detail(request, pk):
    organization = require_organization(request.user)
    gpu = get_object_or_404(Gpu.objects.for_org(organization).select_related("model", "node__rack__hall__site"), pk=pk)
    filters = parse_filters(request, default_range="24h", zone_site=gpu.node.rack.hall.site)
    tz = filters.tz
    now = timezone.now()
    events = gpu_events(organization, gpu, filters)
    event_times = local_times([e.ts for e in events], tz)
    frames = gpu_metric_frames(gpu.id, filters.start, filters.end, now)
    figures = []
    for n, (title, unit, metrics) in enumerate(GPU_CHARTS):
        fig = figure(title=f"{title} ({unit})", yaxis_title=unit, height=260, showlegend=len(metrics) > 1)
        name_time_zone(fig, tz)
        for metric in metrics:
            frame = frames[metric]
            fig.add_scatter(x=local_times(frame["ts"], tz), y=_list(frame["value"]), name=metric, mode="lines")
        for event, x in zip(events, event_times, strict=True):
            fig.add_vline(x=x, line_width=1, line_dash="dot", line_color=EVENT_COLOURS.get(event.kind, PALETTE[1]))
        fig.update_xaxes(range=local_times([filters.start, filters.end], tz))
        figures.append((f"gpu-chart-{n}", fig, title))
    return render(
        request,
        "telemetry/gpu_detail.html",
        {"gpu": gpu, "filters": filters, "figures": figures, "events": events},
    )


def gpu_metric_frames(gpu_id, start, end, now):
    """{metric: DataFrame(ts, value)} for every metric the GPU page charts."""
    return {
        metric: _stitched_gpu_series(gpu_id, metric, start, end, now)
        for _title, _unit, metrics in GPU_CHARTS
        for metric in metrics
    }


def gpu_events(organization, gpu, filters):
    return list(Event.objects.filter(organization=organization, gpu=gpu, ts__gte=filters.start, ts__lt=filters.end))


def hall_list(request):
    organization = require_organization(request.user)
    filters = parse_filters(request, default_range="24h")
    halls = halls_in(organization, filters)
    headroom = hall_headroom(organization, halls)
    return render(request, "telemetry/hall_list.html", {"filters": filters, "rows": headroom})


def hall_headroom(organization, halls):
    """Per hall: latest measured IT load and cooling load (kW) against capacity, with redundancy."""
    hall_ids = [h.id for h in halls]
    latest = {}
    for resolution in (Resolution.MINUTE, Resolution.HOUR):
        # Newest row per hall at the finest level that has one.
        missing = [i for i in hall_ids if i not in latest]
        if not missing:
            break
        newest = dict(
            HallRollup.objects.filter(hall_id__in=missing, resolution=resolution)
            .values("hall_id")
            .annotate(ts=Max("ts"))
            .values_list("hall_id", "ts")
        )
        for row in HallRollup.objects.filter(
            resolution=resolution, hall_id__in=list(newest), ts__in=set(newest.values())
        ):
            if newest.get(row.hall_id) == row.ts:
                latest[row.hall_id] = row
    cooling = _latest_cooling_load_kw(organization, hall_ids)
    rows = []
    for hall in halls:
        rollup = latest.get(hall.id)
        it_kw = rollup.it_power_w / 1000 if rollup and rollup.it_power_w is not None else None
        cooling_kw = cooling.get(hall.id)
        rows.append(
            {
                "hall": hall,
                "it_kw": it_kw,
                "it_share": it_kw / hall.it_power_capacity_kw if it_kw is not None else None,
                "cooling_kw": cooling_kw,
                "cooling_share": cooling_kw / hall.cooling_capacity_kw if cooling_kw is not None else None,
                "available_cooling_kw": _available_cooling_kw(hall),
                "inlet_max": rollup.inlet_temp_max if rollup else None,
                "gpu_util": rollup.gpu_util_avg if rollup else None,
                "as_of": rollup.ts if rollup else None,
            }
        )
    return rows


def _available_cooling_kw(hall):
    """Cooling left with the redundant units out: N+1 loses one unit, 2N half."""
    units = max(hall.unit_count, 1)
    usable = {"N": units, "N+1": max(units - 1, 1), "2N": max(units / 2, 1)}.get(hall.redundancy, units)
    return hall.cooling_capacity_kw * usable / units


def _latest_cooling_load_kw(organization, hall_ids):
    """Sum over each hall's cooling units of their latest cooling_load (kW), from the last few minutes."""
    since = timezone.now() - timedelta(minutes=10)
    series = dict(
        Series.objects.for_org(organization)
        .filter(metric="cooling_load", hall_id__in=hall_ids)
        .values_list("id", "hall_id")
    )
    latest = {}
    for series_id, _ts, value in (
        Sample.objects.filter(series_id__in=list(series), ts__gte=since)
        .order_by("ts")
        .values_list("series_id", "ts", "value")
    ):
        latest[series_id] = value
    totals = {}
    for series_id, value in latest.items():
        totals[series[series_id]] = totals.get(series[series_id], 0.0) + value / 1000
    return totals


def hall_detail(request, pk):
    organization = require_organization(request.user)
    halls = Hall.objects.for_org(organization).select_related("site").annotate(unit_count=Count("cooling_units"))
    hall = get_object_or_404(halls, pk=pk)
    filters = parse_filters(request, default_range="7d", zone_site=hall.site)
    tz = filters.tz
    (headroom,) = hall_headroom(organization, [hall])
    data = hall_chart_data(organization, hall, filters.start, filters.end, timezone.now())

    load = name_time_zone(figure(title="IT load and cooling load (kW)", yaxis_title="kW", height=340), tz)
    load.add_scatter(x=local_times(data.it_kw.index, tz), y=_list(data.it_kw), name="IT load", mode="lines")
    if not data.cooling_kw.empty:
        load.add_scatter(
            x=local_times(data.cooling_kw.index, tz), y=_list(data.cooling_kw), name="cooling load", mode="lines"
        )
    load.add_hline(y=hall.it_power_capacity_kw, line_dash="dash", line_color=PALETTE[0], annotation_text="IT capacity")
    load.add_hline(
        y=hall.cooling_capacity_kw, line_dash="dash", line_color=PALETTE[1], annotation_text="cooling installed"
    )
    load.add_hline(
        y=headroom["available_cooling_kw"],
        line_dash="dot",
        line_color=PALETTE[3],
        annotation_text=f"cooling with {hall.redundancy}",
    )

    inlet_fig = name_time_zone(figure(title="Hottest rack inlet (°C)", yaxis_title="°C", height=300), tz)
    inlet_fig.add_scatter(x=local_times(data.inlet_c.index, tz), y=_list(data.inlet_c), name="max inlet", mode="lines")
    inlet_fig.add_hline(
        y=ASHRAE_RECOMMENDED_C, line_dash="dash", line_color=PALETTE[1], annotation_text="ASHRAE recommended 27 °C"
    )
    allowable = ASHRAE_ALLOWABLE_C.get(hall.ashrae_class, 32.0)
    inlet_fig.add_hline(
        y=allowable, line_dash="dot", line_color=PALETTE[3], annotation_text=f"{hall.ashrae_class} allowable"
    )

    power_map, inlet_map = rack_heatmaps(hall, data.racks)
    return render(
        request,
        "telemetry/hall_detail.html",
        {
            "hall": hall,
            "filters": filters,
            "headroom": headroom,
            "load_figure": load,
            "inlet_figure": inlet_fig,
            "power_map": power_map,
            "inlet_map": inlet_map,
            "pue_figure": site_pue_figure(hall.site, data.pue, tz),
        },
    )


@dataclass(frozen=True)
class HallChartData:
    """What the hall page charts, over one range: pandas Series indexed by ts, and one row per rack."""

    it_kw: pd.Series
    cooling_kw: pd.Series  # empty without cooling_load series
    inlet_c: pd.Series
    racks: list  # [{"rack", "position", "power_kw", "inlet_max_c"}] in floor order; None where unmeasured
    pue: pd.DataFrame | None  # columns facility_kw, it_kw, pue; None without facility power at the site


def hall_chart_data(organization, hall, start, end, now):
    it = query.hall_series([hall.id], "it_power_w", start, end, now=now)
    cooling_series = list(
        Series.objects.for_org(organization).filter(hall=hall, metric="cooling_load").values_list("id", flat=True)
    )
    cooling = query.point_series(cooling_series, start, end, now=now)
    inlet = query.hall_series([hall.id], "inlet_temp_max", start, end, now=now)
    return HallChartData(
        it_kw=it.set_index("ts")["value"] / 1000,
        cooling_kw=cooling.groupby("ts")["value"].sum() / 1000 if not cooling.empty else pd.Series(dtype=float),
        inlet_c=inlet.set_index("ts")["value"],
        racks=rack_means(organization, hall, start, end, now),
        pue=site_pue(organization, hall.site, start, end, now),
    )


def _series_means(series_ids, start, end, now):
    """Mean over the range per series id, at the picked resolution, else from hourly rollups."""
    frame = query.point_series(series_ids, start, end, now=now)
    means = frame.groupby("series_id")["value"].mean().to_dict() if not frame.empty else {}
    missing = [i for i in series_ids if i not in means]
    if missing:
        rows = SeriesRollup.objects.filter(
            series_id__in=missing, resolution=Resolution.HOUR, ts__gte=start, ts__lt=end
        ).values_list("series_id", "avg")
        hourly = pd.DataFrame(list(rows), columns=["series_id", "value"])
        if not hourly.empty:
            means.update(hourly.groupby("series_id")["value"].mean().to_dict())
    return means


def rack_means(organization, hall, start, end, now):
    """Per rack of the hall, in floor order: mean rack power (kW) and hottest node inlet (°C, mean per node)."""
    racks = list(Rack.objects.filter(hall=hall).order_by("position", "name"))
    series = list(
        Series.objects.for_org(organization)
        .filter(hall=hall, metric__in=("rack_power", "node_inlet_temp"))
        .values_list("id", "entity", "metric")
    )
    means = _series_means([s[0] for s in series], start, end, now)
    rack_power = {entity: means.get(i) for i, entity, metric in series if metric == "rack_power"}
    node_rack = dict(Rack.objects.filter(hall=hall).values_list("nodes__hostname", "name"))
    inlet = {}
    for i, entity, metric in series:
        if metric == "node_inlet_temp" and means.get(i) is not None and entity in node_rack:
            rack = node_rack[entity]
            inlet[rack] = max(inlet.get(rack, float("-inf")), means[i])
    return [
        {
            "rack": rack.name,
            "position": rack.position or n + 1,
            "power_kw": None if rack_power.get(rack.name) is None else rack_power[rack.name] / 1000,
            "inlet_max_c": inlet.get(rack.name),
        }
        for n, rack in enumerate(racks)
    ]


def rack_heatmaps(hall, racks):
    """Two heatmaps of the hall floor from `rack_means`: rack power (kW) and hottest node inlet (°C)."""
    positions = hall.floor_positions or len(racks)
    rows, per_row = floor_grid(max(positions, 1))
    figures = []
    for title, key, unit, scale in (
        ("Rack power (kW, mean over the range)", "power_kw", "kW", "YlOrRd"),
        ("Hottest node inlet per rack (°C, mean over the range)", "inlet_max_c", "°C", "RdYlBu_r"),
    ):
        z = [[None] * per_row for _ in range(rows)]
        text = [[""] * per_row for _ in range(rows)]
        for rack in racks:
            r, c = divmod(rack["position"] - 1, per_row)
            if r < rows:
                z[r][c] = rack[key]
                text[r][c] = rack["rack"]
        fig = figure(title=title, height=120 + 60 * rows)
        fig.add_heatmap(
            z=z,
            text=text,
            x=[f"{c + 1}" for c in range(per_row)],
            y=[f"row {r + 1}" for r in range(rows)],
            colorscale=scale,
            colorbar={"title": unit},
            hovertemplate="%{text}: %{z:.1f} " + unit + "<extra></extra>",
            texttemplate="%{text}",
        )
        fig.update_yaxes(autorange="reversed")
        figures.append(fig)
    return figures


def site_pue(organization, site, start, end, now):
    """PUE over time (facility power / IT power of the site's halls), or None without facility power."""
    facility_ids = list(
        Series.objects.for_org(organization)
        .filter(entity_kind="site", entity=site.name, metric="facility_power")
        .values_list("id", flat=True)
    )
    if not facility_ids:
        return None
    facility = query.point_series(facility_ids, start, end, now=now)
    hall_ids = list(Hall.objects.filter(site=site).values_list("id", flat=True))
    it = query.hall_series(hall_ids, "it_power_w", start, end, now=now)
    if facility.empty or it.empty:
        return None
    it_total = it.groupby("ts")["value"].sum()
    joined = facility.set_index("ts")["value"].to_frame("facility").join(it_total.rename("it"), how="inner")
    joined = joined[joined["it"] > 0] / 1000
    return pd.DataFrame(
        {"facility_kw": joined["facility"], "it_kw": joined["it"], "pue": joined["facility"] / joined["it"]}
    )


def site_pue_figure(site, pue, tz):
    if pue is None:
        return None
    fig = name_time_zone(figure(title=f"PUE at {site.name}", yaxis_title="PUE", height=280), tz)
    fig.add_scatter(x=local_times(pue.index, tz), y=_list(pue["pue"]), name="PUE", mode="lines")
    return fig


def source_list(request):
    organization = require_organization(request.user)
    # Sources serve the whole organization: the filters only pick the zone times are shown in.
    filters = parse_filters(request)
    sources = list(Source.objects.for_org(organization).order_by("name"))
    runs = recent_runs(organization, sources)
    rows = [{"source": s, "health": source_health(s), "runs": runs.get(s.id, [])} for s in sources]
    context = {"filters": filters, "rows": rows, "now": timezone.now(), **rollup_health(organization)}
    return render(request, "telemetry/source_list.html", context)


def rollup_health(organization, shown=50):
    """The organization's failing rollup levels (why, since when) and its newest quarantined values."""
    quarantined = list(QuarantinedValue.objects.for_org(organization)[: shown + 1])
    return {
        "rollup_failures": RollupWatermark.objects.filter(organization=organization).exclude(error=""),
        "quarantined": quarantined[:shown],
        "quarantined_count": f"{shown}+" if len(quarantined) > shown else len(quarantined),
    }


def source_health(source):
    if source.healthy:
        return "ok"
    return "failing" if source.last_success_at else "never succeeded"


def recent_runs(organization, sources, per_source=10):
    """{source id: its newest `per_source` collector runs}, in one query."""
    runs = {}
    recent = CollectorRun.objects.filter(source__organization=organization).order_by("-started")[
        : 2 * per_source * max(len(sources), 1)
    ]
    for run in recent:
        runs.setdefault(run.source_id, [])
        if len(runs[run.source_id]) < per_source:
            runs[run.source_id].append(run)
    return runs
