"""Plotly figures of saved serving recommendations and scaling plans, in the house palette."""

from telemetry.charts import figure

MEMORY_PARTS = (
    ("weights_per_gpu_gb", "Weights"),
    ("kv_cache_per_gpu_gb", "KV cache"),
    ("activations_per_gpu_gb", "Activations / workspace"),
    ("overhead_per_gpu_gb", "CUDA context, graphs, NCCL"),
    ("free_per_gpu_gb", "Left free (1 - memory fraction)"),
)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def config_label(row) -> str:
    return (
        f"#{row['rank']} {row['precision']} TP={row['tp']} x{row['replicas']}"
        f" seqs={row['max_num_seqs']} mem={row['gpu_memory_utilization']:.2f}"
    )


def memory_bars(rows, limit=10):
    """Memory per GPU of the best-ranked configurations, stacked by what holds it."""
    rows = rows[:limit]
    labels = [config_label(r) for r in rows]
    fig = figure(title="Memory per GPU (GB)", barmode="stack", xaxis_title="GB per GPU")
    for key, name in MEMORY_PARTS:
        fig.add_bar(y=labels, x=[r[key] for r in rows], name=name, orientation="h")
    fig.update_layout(yaxis={"autorange": "reversed"})
    return fig


def _cost(row):
    for key in ("usd_per_million_tokens_rented", "usd_per_million_tokens_owned"):
        if row.get(key) is not None:
            return row[key], "USD per 1M output tokens" + (" (rented)" if "rented" in key else " (owned)")
    return row["gpus"], "GPUs"


def pareto(rows):
    """Every kept configuration meeting the SLO, cost against p95 request latency; the front joined."""
    ok = [r for r in rows if r["meets_slo"]]
    title = _cost(ok[0])[1] if ok else "USD per 1M output tokens"
    fig = figure(
        title="Cost vs latency (configurations meeting the SLO)",
        xaxis_title="p95 request latency (ms): TTFT + TPOT x p95 output tokens",
        yaxis_title=title,
    )
    fig.add_scatter(
        x=[r["latency_p95_ms"] for r in ok],
        y=[_cost(r)[0] for r in ok],
        mode="markers",
        name="Configuration",
        text=[config_label(r) for r in ok],
        marker={"size": 7, "opacity": 0.5},
    )
    front = sorted((r for r in ok if r["pareto"]), key=lambda r: r["latency_p95_ms"])
    fig.add_scatter(
        x=[r["latency_p95_ms"] for r in front],
        y=[_cost(r)[0] for r in front],
        mode="lines+markers",
        name="Pareto front",
        text=[config_label(r) for r in front],
        line={"shape": "hv", "width": 2},
    )
    if ok and rows[0]["meets_slo"]:
        fig.add_scatter(
            x=[rows[0]["latency_p95_ms"]],
            y=[_cost(rows[0])[0]],
            mode="markers",
            name="Chosen",
            marker={"symbol": "star", "size": 16, "color": "#000000"},
        )
    return fig


def hourly_replicas(hours):
    """Demand against the planned capacity steps and static peak provisioning over the week."""
    x = [f"{h['day']} {h['hour']:02d}:00" for h in hours]
    most = max(h["replicas"] for h in hours)
    fig = figure(
        title="Demand vs capacity, hour by hour",
        yaxis_title="requests/s",
        yaxis={"rangemode": "tozero"},
        # Whole replicas on the right axis, bars kept below the lines.
        yaxis2={
            "title": "replicas",
            "overlaying": "y",
            "side": "right",
            "range": [0, most * 1.6],
            "dtick": max(1, -(-most // 5)),
        },
    )
    fig.add_scatter(x=x, y=[h["demand_requests_per_s"] for h in hours], name="Demand", mode="lines")
    fig.add_scatter(
        x=x,
        y=[h["capacity_requests_per_s"] for h in hours],
        name="Planned capacity (within the SLO)",
        mode="lines",
        line={"shape": "hv", "width": 2},
    )
    fig.add_scatter(
        x=x,
        y=[h["static_capacity_requests_per_s"] for h in hours],
        name="Static peak capacity",
        mode="lines",
        line={"dash": "dash"},
    )
    fig.add_bar(x=x, y=[h["replicas"] for h in hours], name="Replicas", yaxis="y2", opacity=0.25)
    fig.update_xaxes(tickvals=x[::24], ticktext=list(DAYS))
    return fig
