"""Shared Plotly conventions: one colour-blind-safe palette and layout for every figure."""

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
