"""Plotly figures of a scenario report (planner.services.ScenarioReport), in the house palette."""

from telemetry.charts import figure

OPTION_LABELS = {
    "own": "Own",
    "on_demand": "Rent on-demand",
    "committed_1y": "Rent 1-year committed",
    "committed_3y": "Rent 3-year committed",
    "spot": "Rent spot",
    "mixed": "Rent mixed (committed + burst)",
}
FILL = {"own": "rgba(0,114,178,0.18)", "on_demand": "rgba(230,159,0,0.18)", "committed_3y": "rgba(0,158,115,0.18)"}


def _months(report):
    return [m.isoformat() for m in report.result.demand.months]


def cost_curves(report):
    """Cumulative cash per option, owning's breakeven against each rent option marked."""
    months, costs = _months(report), report.result.costs
    fig = figure(title="Cumulative cost: rent vs own", yaxis_title="USD (cumulative cash)")
    for name, option in costs.options.items():
        fig.add_scatter(
            x=months,
            y=option.cumulative_cash_usd,
            name=OPTION_LABELS[name],
            mode="lines",
            line={"width": 3 if name == "own" else 2},
        )
    own = costs.options["own"].cumulative_cash_usd
    points = [(name, month) for name, month in costs.breakeven_month.items() if month]
    fig.add_scatter(
        x=[months[m - 1] for _, m in points],
        y=[own[m - 1] for _, m in points],
        mode="markers+text",
        marker={"symbol": "diamond", "size": 12, "color": "#000000"},
        text=[f"breakeven vs {OPTION_LABELS[n].lower()}: month {m}" for n, m in points],
        textposition="top left",
        name="Breakeven (owning cheaper from here)",
    )
    return fig


def gpus_vs_capacity(report):
    """GPUs to provision per month by workload and spares, against what the chosen halls can still take."""
    months, demand = _months(report), report.result.demand
    fig = figure(title="GPUs needed per month", yaxis_title="GPUs", barmode="stack")
    for w in demand.workloads:
        fig.add_bar(x=months, y=w.serving_gpus, name=f"{w.workload} (TP={w.throughput.tp})")
    fig.add_bar(x=months, y=demand.spare_gpus, name="Failure spares")
    if report.capacity_gpus is not None:
        fig.add_scatter(
            x=months,
            y=[report.capacity_gpus] * len(months),
            mode="lines",
            line={"dash": "dash", "color": "#D55E00", "width": 2},
            name="Capacity of chosen halls (power and cooling headroom today)",
        )
    return fig


def runway(report, runways=None, title="Runway per hall"):
    """Months until each chosen hall (or each of `runways`) runs out of power, cooling or space
    (horizon + 1 = lasts)."""
    horizon = report.inputs.horizon_months
    runways = report.runways if runways is None else runways
    fig = figure(
        title=title,
        xaxis_title=f"month the limit is reached ({horizon + 1} = lasts the horizon)",
        barmode="group",
    )
    halls = [str(r.hall) for r in runways]
    for resource in ("power", "cooling", "space"):
        values = []
        for r in runways:
            month = getattr(r.runway, f"{resource}_month")
            tracked = r.space_tracked or resource != "space"
            values.append(horizon + 1 if month is None or not tracked else month)
        fig.add_bar(y=halls, x=values, name=resource, orientation="h")
    return fig


def tornado(report, base_label="own total cost"):
    """Swing of owning's total cost (USD) as each uncertain input moves from its low to high."""
    bars = list(reversed(report.simulation.tornado))
    base = report.result.costs.options["own"].total_usd
    names = [b.input.replace("_", " ") for b in bars]
    fig = figure(title=f"What moves the {base_label} most", xaxis_title="USD vs base", barmode="overlay")
    fig.add_bar(y=names, x=[b.output_at_low - base for b in bars], name="input at low", orientation="h")
    fig.add_bar(y=names, x=[b.output_at_high - base for b in bars], name="input at high", orientation="h")
    return fig


def bands(report):
    """P10-P90 fan (Monte Carlo) of cumulative cash for owning and two rent options, P50 as the line."""
    months = _months(report)
    fig = figure(
        title=f"Cumulative cost P10-P90 ({report.simulation.draws:,} Monte Carlo draws)",
        yaxis_title="USD (cumulative cash)",
    )
    for name, (p10, p50, p90) in report.bands.items():
        fig.add_scatter(x=months, y=p90, mode="lines", line={"width": 0}, showlegend=False, name=f"{name} P90")
        fig.add_scatter(
            x=months,
            y=p10,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=FILL[name],
            name=f"{OPTION_LABELS[name]} P10-P90",
        )
        fig.add_scatter(x=months, y=p50, mode="lines", name=f"{OPTION_LABELS[name]} P50")
    return fig


def comparison(reports):
    """Owning vs the cheapest rent option per scenario: total cost over each horizon (USD)."""
    fig = figure(title="Total cost over the horizon", yaxis_title="USD", barmode="group")
    names = [r.scenario.name for r in reports]
    fig.add_bar(x=names, y=[r.result.costs.options["own"].total_usd for r in reports], name="Own")
    fig.add_bar(
        x=names,
        y=[min(o.total_usd for n, o in r.result.costs.options.items() if n != "own") for r in reports],
        name="Cheapest rent option",
    )
    return fig


def comparison_gpus(reports):
    fig = figure(title="GPUs needed per month", yaxis_title="GPUs")
    for r in reports:
        fig.add_scatter(x=_months(r), y=r.result.demand.gpus, name=r.scenario.name, mode="lines")
    return fig
