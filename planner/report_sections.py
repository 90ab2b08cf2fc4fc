"""Report sections built from saved scenarios (registered with planner.reports.sections)."""

from django.utils.html import format_html, format_html_join

from . import charts, services
from .models import Scenario
from .reports.models import Section
from .reports.sections import SectionResult, register_section

REPORT_DRAWS = 500  # Monte Carlo draws per scenario in a report: P10/P90 to the nearest percent are enough


def _evaluate_all(organization, as_of):
    """(reports, [(name, why)]) for every saved scenario of the organization."""
    reports, failed = [], []
    for scenario in Scenario.objects.for_org(organization).select_related("gpu_model"):
        try:
            reports.append(services.evaluate(scenario, as_of=as_of, draws=REPORT_DRAWS))
        except services.ScenarioInputError as exc:
            failed.append((scenario.name, str(exc)))
    return reports, failed


@register_section(Section.SCENARIO_SUMMARY)
def scenario_summary(organization, as_of):
    """Each scenario's peak GPUs, owning vs renting totals and breakeven, as of the report's time."""
    reports, failed = _evaluate_all(organization, as_of)
    rows = []
    for report in reports:
        s = services.summary(report)
        rows.append(
            {
                "scenario": s["scenario"],
                "gpu_model": s["gpu_model"],
                "peak_gpus": s["peak_gpus"],
                "own_total_usd": round(s["options"]["own"]["total_usd"]),
                "on_demand_total_usd": round(s["options"]["on_demand"]["total_usd"]),
                "committed_3y_total_usd": round(s["options"]["committed_3y"]["total_usd"]),
                "own_usd_per_million_tokens": s["options"]["own"]["usd_per_million_tokens"],
                "breakeven_month_vs_on_demand": s["breakeven_month"]["on_demand"],
                "measured_inputs": ", ".join(f["label"] for f in s["figures"] if f["source"].startswith("measured")),
            }
        )
    if not rows and not failed:
        return SectionResult.empty("Planner scenarios", "No saved scenarios.")
    html = format_html(
        '<table class="report-table"><thead><tr><th>Scenario</th><th>GPU</th><th>Peak GPUs</th>'
        "<th>Own total (USD)</th><th>On-demand total (USD)</th><th>Breakeven vs on-demand</th></tr></thead>"
        "<tbody>{}</tbody></table>{}",
        format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td></tr>',
            (
                (
                    r["scenario"],
                    r["gpu_model"],
                    r["peak_gpus"],
                    f"{r['own_total_usd']:,}",
                    f"{r['on_demand_total_usd']:,}",
                    r["breakeven_month_vs_on_demand"] or "never",
                )
                for r in rows
            ),
        ),
        format_html_join("", '<p class="error">{} cannot be evaluated: {}</p>', failed),
    )
    figures = {"totals": charts.comparison(reports)} if reports else {}
    return SectionResult(title="Planner scenarios", html=html, figures=figures, tables={"Scenarios": rows})


@register_section(Section.CAPACITY_RUNWAY)
def capacity_runway(organization, as_of):
    """For each scenario placing GPUs in halls: the month each hall runs out of power, cooling or space."""
    reports, _failed = _evaluate_all(organization, as_of)
    reports = [r for r in reports if r.runways]
    rows = [{"scenario": r.scenario.name, **runway} for r in reports for runway in services.summary(r)["runway"]]
    if not rows:
        return SectionResult.empty("Capacity runway", "No scenario places GPUs in a hall.")

    def month(value):
        return "lasts the horizon" if value is None else ("already over" if value == 0 else f"month {value}")

    html = format_html(
        '<table class="report-table"><thead><tr><th>Scenario</th><th>Hall</th><th>Power runs out</th>'
        "<th>Cooling runs out</th><th>Space runs out</th><th>Load from</th></tr></thead><tbody>{}</tbody></table>",
        format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    r["scenario"],
                    r["hall"],
                    month(r["power_month"]),
                    month(r["cooling_month"]),
                    month(r["space_month"]),
                    r["load_source"],
                )
                for r in rows
            ),
        ),
    )
    # One chart per scenario, titled by it: the report shows several side by side.
    figures = {
        f"runway_{i}": charts.runway(r, title=f"Runway per hall: {r.scenario.name}") for i, r in enumerate(reports)
    }
    return SectionResult(title="Capacity runway", html=html, figures=figures, tables={"Runway": rows})
