"""Shared Plotly conventions: one colour-blind-safe palette and layout for every figure."""

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import plotly.graph_objects as go

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, readable on dark and light.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"]


def figure(**layout):
    fig = go.Figure()
    fig.update_layout(
        template="plotly_white",
        colorway=PALETTE,
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        legend={"orientation": "h", "y": -0.2},
        font={"family": "system-ui, sans-serif", "size": 13},
        autosize=True,
        **layout,
    )
    return fig


def local_times(values, tz):
    """Aware timestamps as ISO strings in `tz` for a date axis. plotly.js draws a date string's wall-clock time
    and ignores its offset, so the axis reads in `tz`; name the zone on the axis with name_time_zone."""
    return [pd.Timestamp(v).tz_convert(tz).isoformat() for v in values]


def name_time_zone(fig, tz):
    """Title the date axis with the zone its times are in, the legend moved down below that title."""
    fig.update_layout(xaxis_title_text=f"time ({tz})", legend={"yanchor": "top", "y": -0.3})
    return fig


def plain_list(values):
    """Plain lists for Plotly: numpy arrays would be sent as typed binary that charts.js does not count."""
    return values.tolist()


def _timestamps(times):
    """Timestamps or the ISO strings local_times makes, as a pandas Series of UTC timestamps."""
    return pd.to_datetime(pd.Series(list(times)), utc=True, format="ISO8601")


def gap_positions(times, factor=2.5):
    """Indices n where the step from point n-1 to n is a gap in the data: more than `factor` times longer than
    both neighbouring steps and than twice the median step. A series that changes resolution (hourly history,
    then minutes) is not cut at the change, nor one thinned by MinMax (two points per bin, anywhere in it);
    regular samples are cut where about five in a row are missing."""
    if len(times) < 3:
        return []
    steps = _timestamps(times).diff().dt.total_seconds().to_numpy()[1:]
    before = np.concatenate([[np.inf], steps[:-1]])
    after = np.concatenate([steps[1:], [np.inf]])
    neighbour = np.where(np.isinf(before), after, np.where(np.isinf(after), before, np.maximum(before, after)))
    neighbour = np.maximum(neighbour, 2 * np.median(steps))
    return [int(n) + 1 for n in np.flatnonzero(steps > factor * neighbour)]


def with_gaps(times, values):
    """(times, values) as lists with a None put in every gap (gap_positions), so that Plotly breaks the line
    there instead of drawing across missing samples."""
    times, values = list(times), list(values)
    for n in reversed(gap_positions(times)):
        times.insert(n, times[n])  # the gap's end time with no value: the line stops at the previous point
        values.insert(n, None)
    return times, values


@dataclass(frozen=True)
class Marker:
    """Something that happened at `ts` (and until `end`, for a stretch), drawn on time-series charts."""

    ts: datetime
    kind: str  # one of MARKER_STYLES
    text: str
    end: datetime | None = None


# kind -> (legend name, marker symbol, colour)
MARKER_STYLES = {
    "xid": ("XID / GPU error", "x", PALETTE[3]),
    "alert": ("alert", "triangle-down", PALETTE[5]),
    "anomaly": ("anomaly", "diamond", PALETTE[1]),
    "gap": ("collector gap", "line-ew-open", PALETTE[7]),
    "deployment": ("deployment", "star", PALETTE[2]),
    "simulated": ("simulated event", "circle-open", PALETTE[4]),
}


def add_markers(fig, markers, tz):
    """Event markers along the top of a time-series chart, one trace per kind (in the legend), with hover text;
    stretches (markers with an `end`) also shade their span. Drawn on a hidden 0..1 axis of their own, so they
    never change the data axis' range."""
    if not markers:
        return fig
    fig.update_layout(yaxis9={"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True})
    for kind, (name, symbol, colour) in MARKER_STYLES.items():
        chosen = [m for m in markers if m.kind == kind]
        if not chosen:
            continue
        fig.add_scatter(
            x=local_times([m.ts for m in chosen], tz),
            y=[0.97] * len(chosen),
            yaxis="y9",
            mode="markers",
            name=name,
            marker={"symbol": symbol, "size": 11, "color": colour, "line": {"width": 2, "color": colour}},
            hovertext=[m.text for m in chosen],
            hovertemplate="%{x}<br>%{hovertext}<extra>" + name + "</extra>",
            showlegend=True,
        )
        for m in chosen:
            if m.end is not None:
                start, end = local_times([m.ts, m.end], tz)
                fig.add_vrect(x0=start, x1=end, fillcolor=colour, opacity=0.12, line_width=0, layer="below")
    return fig


def resolution_label(times):
    """What one point of a trace stands for, from its median step: '1 min', '5 min', '1 h', '10 s'."""
    if len(times) < 2:
        return "no data"
    step = _timestamps(times).sort_values().diff().median().total_seconds()
    if step >= 3600:
        return f"{step / 3600:.0f} h"
    return f"{step / 60:.0f} min" if step >= 60 else f"{step:.0f} s"
