"""Hall pages: headroom per hall, one hall's load, inlet, rack floor and PUE."""

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
from django.db.models import Count, Max
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from .. import query
from ..charts import PALETTE, add_markers, figure, local_times, name_time_zone, plain_list, with_gaps
from ..collectors.simulator import floor_grid
from ..models import Hall, HallRollup, Rack, Sample, Series, SeriesRollup
from ..models.samples import Resolution
from ..tenancy import require_organization
from ..timerange import parse_filters
from . import markers

ASHRAE_RECOMMENDED_C, ASHRAE_ALLOWABLE_C = 27.0, {"A1": 32.0, "A2": 35.0, "A3": 40.0, "A4": 45.0}


def halls_in(organization, filters):
    """The organization's halls narrowed to the filters' site or hall, with their cooling unit count."""
    halls = Hall.objects.for_org(organization).select_related("site").annotate(unit_count=Count("cooling_units"))
    return list(filters.narrow(halls))


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
    filters = parse_filters(request, zone_site=hall.site)
    tz = filters.tz
    (headroom,) = hall_headroom(organization, [hall])
    data = hall_chart_data(organization, hall, filters.start, filters.end, timezone.now(), filters.max_points)
    chart_markers = markers.hall_markers(organization, hall, filters.start, filters.end)
    chart_markers += markers.gap_markers(data.it_kw.reset_index())

    load = name_time_zone(figure(title="IT load and cooling load (kW)", yaxis_title="kW", height=340), tz)
    load.add_scatter(**_line(data.it_kw, tz), name="IT load", mode="lines")
    if not data.cooling_kw.empty:
        load.add_scatter(**_line(data.cooling_kw, tz), name="cooling load", mode="lines")
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
    inlet_fig.add_scatter(**_line(data.inlet_c, tz), name="max inlet", mode="lines")
    inlet_fig.add_hline(
        y=ASHRAE_RECOMMENDED_C, line_dash="dash", line_color=PALETTE[1], annotation_text="ASHRAE recommended 27 °C"
    )
    allowable = ASHRAE_ALLOWABLE_C.get(hall.ashrae_class, 32.0)
    inlet_fig.add_hline(
        y=allowable, line_dash="dot", line_color=PALETTE[3], annotation_text=f"{hall.ashrae_class} allowable"
    )

    for fig in (load, inlet_fig):
        add_markers(fig, chart_markers, tz)
        fig.update_xaxes(range=local_times([filters.start, filters.end], tz))
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


def _line(series, tz):
    """x and y of a line chart from a Series indexed by ts, broken where samples are missing."""
    x, y = with_gaps(local_times(series.index, tz), plain_list(series))
    return {"x": x, "y": y}


@dataclass(frozen=True)
class HallChartData:
    """What the hall page charts, over one range: pandas Series indexed by ts, and one row per rack."""

    it_kw: pd.Series
    cooling_kw: pd.Series  # empty without cooling_load series
    inlet_c: pd.Series
    racks: list  # [{"rack", "position", "power_kw", "inlet_max_c"}] in floor order; None where unmeasured
    pue: pd.DataFrame | None  # columns facility_kw, it_kw, pue; None without facility power at the site


def hall_chart_data(organization, hall, start, end, now, max_points=query.DEFAULT_MAX_POINTS):
    it = query.hall_series([hall.id], "it_power_w", start, end, now=now, max_points=max_points)
    cooling_series = list(
        Series.objects.for_org(organization).filter(hall=hall, metric="cooling_load").values_list("id", flat=True)
    )
    cooling = query.point_series(cooling_series, start, end, now=now, max_points=max_points)
    inlet = query.hall_series([hall.id], "inlet_temp_max", start, end, now=now, max_points=max_points)
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
    fig.add_scatter(**_line(pue["pue"], tz), name="PUE", mode="lines")
    return fig
