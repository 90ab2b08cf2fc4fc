"""Plotly figures for the forecast pages: history + forecast with 80/95% bands and limit lines, and a
GPU's signals over time; time axes in the timezone they are given (the site's), named on the axis."""

import plotly.graph_objects as go

from telemetry.charts import PALETTE, figure, local_times, name_time_zone

BAND_95 = "rgba(0, 114, 178, 0.12)"
BAND_80 = "rgba(0, 114, 178, 0.25)"
LIMIT_COLOURS = {"recommended": "#E69F00", "allowable": "#D55E00", "capacity": "#D55E00", "redundant": "#E69F00"}


def _band(fig, x, lo, hi, fill, name):
    fig.add_trace(go.Scatter(x=x, y=hi, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=lo, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=fill, name=name))


def forecast_figure(title, unit, history, forecast, target, limits=(), *, tz):
    """History (solid) and forecast (dashed) of `target`, its 95% and 80% bands, and horizontal limit
    lines given as (label, value, colour key); times in `tz`."""
    fig = name_time_zone(figure(title=title, yaxis_title=unit, hovermode="x unified"), tz)
    if history is not None and target in history and history[target].notna().any():
        fig.add_trace(
            go.Scatter(
                x=local_times(history.index, tz),
                y=history[target],
                mode="lines",
                name="measured",
                line={"color": PALETTE[7]},
            )
        )
    if forecast is not None:
        x = local_times(forecast.index, tz)
        _band(fig, x, forecast[f"{target}_lo95"], forecast[f"{target}_hi95"], BAND_95, "95% interval")
        _band(fig, x, forecast[f"{target}_lo80"], forecast[f"{target}_hi80"], BAND_80, "80% interval")
        fig.add_trace(
            go.Scatter(
                x=x, y=forecast[target], mode="lines", name="forecast", line={"color": PALETTE[0], "dash": "dash"}
            )
        )
    for label, value, colour in limits:
        fig.add_hline(
            y=value,
            line={"color": LIMIT_COLOURS[colour], "dash": "dot"},
            annotation_text=label,
            annotation_position="top left",
        )
    return fig


def gpu_signals_figure(hourly, scores, window, *, tz):
    """A GPU's hourly temperature and power, its corrected-error counter, and its stored risk over the
    `window` (start, end), times in `tz`."""
    fig = figure(
        title="Signals over time",
        hovermode="x unified",
        xaxis={"range": local_times(window, tz)},
        yaxis={"title": "°C / W÷10"},
        yaxis2={"title": "SBE count / risk %", "overlaying": "y", "side": "right"},
    )
    name_time_zone(fig, tz)
    if hourly is not None and not hourly.empty:
        x = local_times(hourly.index, tz)
        fig.add_trace(go.Scatter(x=x, y=hourly["temp_max"], mode="lines", name="max temperature (°C)"))
        fig.add_trace(go.Scatter(x=x, y=hourly["power_avg"] / 10, mode="lines", name="power (W÷10)"))
        fig.add_trace(go.Scatter(x=x, y=hourly["sbe_max"], mode="lines", name="single-bit ECC (count)", yaxis="y2"))
    if scores:
        fig.add_trace(
            go.Scatter(
                x=local_times([s[0] for s in scores], tz),
                y=[100 * s[1] for s in scores],
                mode="lines+markers",
                name="30-day risk (%)",
                yaxis="y2",
            )
        )
    return fig


def reliability_figure(rows):
    """Predicted vs observed failure share per probability bin (a calibrated model lies on the diagonal)."""
    fig = figure(title="Reliability (backtest)", xaxis_title="predicted 30-day probability", yaxis_title="observed")
    if rows:
        predicted = [r.get("mean_predicted") for r in rows]
        fig.add_trace(
            go.Scatter(
                x=predicted,
                y=[r.get("observed_rate") for r in rows],
                mode="lines+markers",
                name="model",
                text=[f"{r.get('gpus')} GPUs" for r in rows],
            )
        )
        top = max((p or 0) for p in predicted) or 0.01
        fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfect", line={"dash": "dot"}))
    return fig
