"""The GPUs page's fleet heatmap: utilization, power or temperature over time, one row per GPU when few are
picked, else one per rack (the mean of its GPUs, computed in the database)."""

from dataclasses import dataclass

import pandas as pd

from .. import query
from ..charts import figure, local_times, name_time_zone
from ..models.samples import Resolution

HEAT_METRICS = {  # ?heat= -> (metric, title, unit, colour scale)
    "util": ("gpu_util", "GPU utilization", "%", "Viridis"),
    "power": ("gpu_power", "GPU power", "W", "YlOrRd"),
    "temp": ("gpu_temp", "GPU temperature", "°C", "RdYlBu_r"),
}
MAX_GPU_ROWS = 64  # more GPUs than this: one row per rack
COLUMNS = 300  # time buckets at most: the finest rollup level that fits, like the line charts
LEVELS = (Resolution.MINUTE, Resolution.FIVE_MINUTES, Resolution.HOUR)


@dataclass(frozen=True)
class HeatGrid:
    """Rows (GPU or rack labels) x time buckets of one metric, as the heatmap and its export show it."""

    metric: str
    title: str
    unit: str
    scale: str
    per: str  # "GPU" or "rack (mean of its GPUs)"
    level: int  # the rollup level (seconds) read
    values: pd.DataFrame  # index: row labels, columns: bucket timestamps (UTC); NaN where unmeasured


def heat_grid(gpus, heat, filters, now):
    """The heatmap's grid for `gpus` (Gpu rows with node and rack) over the filters' range."""
    metric, title, unit, scale = HEAT_METRICS.get(heat, HEAT_METRICS["util"])
    level = query.pick_resolution(filters.start, filters.end, max_points=COLUMNS, now=now, levels=LEVELS)
    by_gpu = len(gpus) <= MAX_GPU_ROWS
    if by_gpu:
        labels = {g.id: f"{g.node.hostname}/gpu{g.index}" for g in gpus}
    else:
        labels = {g.node.rack_id: f"{g.node.rack.hall.name} / {g.node.rack.name}" for g in gpus}
    values = _grid(_rows(gpus, metric, filters, level, by_gpu), labels)
    if level != Resolution.HOUR and _filled(values) < 0.5:
        # The finer level holds under half the cells (older than its retention, or only some GPUs report): hourly,
        # unless that holds even fewer (the last hour, not rolled up yet).
        hourly = _grid(_rows(gpus, metric, filters, Resolution.HOUR, by_gpu), labels)
        if _filled(hourly) > _filled(values):
            level, values = Resolution.HOUR, hourly
    per = "GPU" if by_gpu else "rack (mean of its GPUs)"
    return HeatGrid(metric, title, unit, scale, per, level, values)


def fleet_heatmap(grid, filters):
    """The Plotly heatmap of a HeatGrid."""
    title = f"{grid.title} per {grid.per} ({grid.unit}), {Resolution(grid.level).label} buckets"
    fig = name_time_zone(figure(title=title, height=140 + 16 * len(grid.values)), filters.tz)
    values = grid.values
    fig.add_heatmap(
        z=values.astype(object).where(values.notna(), None).to_numpy().tolist(),
        x=local_times(values.columns, filters.tz),
        y=list(values.index),
        colorscale=grid.scale,
        colorbar={"title": grid.unit},
        hovertemplate="%{y}<br>%{x}<br>%{z:.1f} " + grid.unit + "<extra></extra>",
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(range=local_times([filters.start, filters.end], filters.tz))
    return fig


def _filled(values):
    """Share of the grid's cells that hold a value (0 for an empty grid)."""
    cells = values.notna().to_numpy()
    return float(cells.mean()) if cells.size else 0.0


def _grid(frame, labels):
    """Rows in `labels` order (labelled), one column per bucket."""
    values = frame.pivot_table(index="row", columns="ts", values="value").reindex(list(labels))
    values.index = [labels[k] for k in values.index]
    return values


def _rows(gpus, metric, filters, level, by_gpu):
    """DataFrame(row, ts, value): row is the GPU id, or the rack id."""
    ids = [g.id for g in gpus]
    if by_gpu:
        frame = query.gpu_series(ids, metric, filters.start, filters.end, resolution=level, max_points=10**7)
        return frame.rename(columns={"gpu_id": "row"})
    frame = query.aggregate_gpus(ids, metric, filters.start, filters.end, group_by="rack", resolution=level)
    return frame.rename(columns={"rack": "row"})
