"""Report sections from the stored forecasts: the cooling outlook with its alerts, and the GPUs most
likely to fail (registered with planner.reports.sections; listed in its SECTION_MODULES)."""

from django.utils.html import format_html, format_html_join

from planner.reports.models import Section
from planner.reports.sections import SectionResult, register_section

from . import cooling, risk
from .models import Alert, GpuRiskScore

TOP_GPUS = 20


@register_section(Section.COOLING_OUTLOOK)
def cooling_outlook(organization, as_of):
    outlook = [o for o in cooling.cooling_outlook(organization) if o["forecast"] is not None]
    alerts = list(Alert.objects.for_org(organization).active().select_related("hall"))
    outlook_rows = [
        {
            "hall": str(o["hall"]),
            "forecast_made": o["forecast"].as_of,
            "it_peak_kw": round(o["it_peak_kw"], 1),
            "cooling_upper95_kw": round(o["cooling_hi95_kw"], 1),
            "cooling_limit_kw": round(o["cooling_limit_kw"], 1),
            "cooling_margin_kw": round(o["cooling_margin_kw"], 1),
            "inlet_upper95_c": round(o["inlet_hi95_c"], 2),
            "inlet_margin_c": round(o["inlet_margin_c"], 2),
        }
        for o in outlook
    ]
    alert_rows = [
        {
            "hall": a.hall.name,
            "kind": a.kind,
            "severity": a.severity,
            "start": a.start,
            "peak_at": a.peak_at,
            "peak": round(a.peak, 2),
            "threshold": a.threshold,
            "unit": a.unit,
            "margin": round(a.margin, 2),
            "racks": ", ".join(a.racks),
        }
        for a in alerts
    ]
    html = format_html(
        '<table class="report-table"><thead><tr><th>Hall</th><th>Peak cooling, upper 95% (kW)</th>'
        "<th>Limit with redundancy (kW)</th><th>Peak inlet, upper 95% (°C)</th></tr></thead><tbody>{}</tbody></table>"
        "<p>{}</p>",
        format_html_join(
            "",
            '<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>',
            (
                (
                    r["hall"],
                    f"{r['cooling_upper95_kw']:,.0f}",
                    f"{r['cooling_limit_kw']:,.0f}",
                    f"{r['inlet_upper95_c']:.1f}",
                )
                for r in outlook_rows
            ),
        ),
        (
            f"{len(alert_rows)} active alert(s): "
            + "; ".join(f"{r['hall']} {r['kind']} ({r['severity']}) peak {r['peak']} {r['unit']}" for r in alert_rows)
        )
        if alert_rows
        else "No active cooling alerts.",
    )
    return SectionResult(
        title="Cooling outlook and alerts",
        html=html,
        tables={"Cooling outlook": outlook_rows, "Cooling alerts": alert_rows},
    )


@register_section(Section.FAILURE_RISK)
def failure_risk_top(organization, as_of):
    run = risk.latest_risk_run(organization)
    scores = (
        GpuRiskScore.objects.filter(run=run).select_related("gpu__model", "gpu__node__rack__hall")[:TOP_GPUS]
        if run
        else []
    )
    rows = [
        {
            "gpu": str(s.gpu),
            "gpu_uuid": s.gpu.uuid,
            "model": s.gpu.model.name,
            "hall": s.gpu.node.rack.hall.name,
            "risk_30d_pct": round(100 * s.probability_30d, 2),
            "drivers": "; ".join(d["signal"] for d in s.signals),
        }
        for s in scores
    ]
    html = format_html(
        '<table class="report-table"><thead><tr><th>GPU</th><th>Model</th><th>Hall</th><th>30-day risk</th>'
        "<th>Drivers</th></tr></thead><tbody>{}</tbody></table>",
        format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td>{}</td><td class="num">{}%</td><td>{}</td></tr>',
            ((r["gpu"], r["model"], r["hall"], r["risk_30d_pct"], r["drivers"]) for r in rows),
        ),
    )
    return SectionResult(title=f"Failure risk (top {TOP_GPUS} GPUs)", html=html, tables={"Failure risk": rows})
