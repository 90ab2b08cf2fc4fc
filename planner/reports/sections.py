"""Building a report: a registry of sections, the HTML and XLSX made from them, and the email.

Extension point — adding a report section (runway, cooling, risk, scenarios are waiting for theirs):

    # in your module, e.g. planner/report_sections.py or planner/forecasts/report_sections.py
    from planner.reports.models import Section
    from planner.reports.sections import SectionResult, register_section

    @register_section(Section.CAPACITY_RUNWAY)
    def capacity_runway(organization, as_of):
        ...  # call your services/selectors; as_of is an aware datetime: compute "as of" it, not "now"
        return SectionResult(title="Capacity runway", html=format_html(...), figures={"runway": fig},
                             tables={"Runway by hall": [{"hall": "A", "months_left": 7.5}, ...]})

and add the module's dotted path to SECTION_MODULES below (one line). The key must be one of
planner.reports.models.Section; a section nobody registered yet renders as "not available yet" instead of failing
the whole report. Figures become live charts in the browser preview and PNG images inline in the email;
tables become sheets of the XLSX attachment and rows of /api/planner/report-sections/<key>/?format=xlsx.
Table column names follow the export convention (units as suffixes: `_kw`, `_pct`, `_usd`, ...;
see telemetry.api.renderers).
"""

import asyncio
import importlib
import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join
from openpyxl import Workbook

from telemetry import fleet
from telemetry.api.renderers import write_sheet
from telemetry.charts import figure

from .models import Section

logger = logging.getLogger(__name__)

# Modules that register sections when imported (add yours here).
SECTION_MODULES = ["planner.reports.sections", "planner.report_sections", "planner.forecasts.report_sections"]

SectionBuilder = Callable[..., "SectionResult"]
_SECTIONS: dict[str, SectionBuilder] = {}


@dataclass
class SectionResult:
    title: str
    html: str = ""  # a safe HTML fragment (build it with format_html / render_to_string)
    figures: dict = field(default_factory=dict)  # name -> plotly Figure
    tables: dict = field(default_factory=dict)  # sheet name -> list of flat row dicts

    @classmethod
    def empty(cls, title, message):
        """A section with nothing to show says why in one paragraph."""
        return cls(title=title, html=format_html('<p class="empty">{}</p>', message))


@dataclass
class Report:
    organization: object
    as_of: object
    sections: list  # [(key, SectionResult)]

    @property
    def figures(self):
        """All figures keyed "<section>-<name>": stable content ids for the email's inline images."""
        return {f"{key}-{name}": fig for key, result in self.sections for name, fig in result.figures.items()}

    @property
    def tables(self):
        return {name: rows for _, result in self.sections for name, rows in result.tables.items()}


def register_section(key):
    """Decorator: register `builder(organization, as_of) -> SectionResult` for a planner.reports.models.Section key."""
    key = Section(key).value  # a typo fails at import, not at 07:00 on Monday

    def decorator(builder):
        _SECTIONS[key] = builder
        return builder

    return decorator


def registered_sections():
    for module in SECTION_MODULES:
        importlib.import_module(module)
    return dict(_SECTIONS)


def build_section(key, organization, as_of):
    builder = registered_sections().get(key)
    label = Section(key).label
    if builder is None:
        return SectionResult.empty(label, f"{label} is not available yet.")
    return builder(organization, as_of)


def build_report(organization, section_keys, as_of):
    return Report(organization, as_of, [(key, build_section(key, organization, as_of)) for key in section_keys])


def render_html(report, *, subscription=None, inline_images=None, fragment=False):
    """The report as HTML. With inline_images ({figure id: cid}) figures are <img src="cid:...">, as in the
    email; without, they are live Plotly charts, as in the browser preview (fragment=True: no <html>)."""
    return render_to_string(
        "reports/_body.html" if fragment else "reports/email.html",
        {
            "report": report,
            "subscription": subscription,
            "inline_images": inline_images,
            "site_url": getattr(settings, "HEADROOM_SITE_URL", ""),
        },
    )


def render_text(report):
    lines = [f"Headroom report for {report.organization}, as of {report.as_of:%Y-%m-%d %H:%M %Z}", ""]
    for _, result in report.sections:
        lines.append(result.title)
        for name, rows in result.tables.items():
            lines.append(f"  {name}: {len(rows)} rows (see the attached workbook)")
    return "\n".join(lines)


def render_xlsx(report):
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in report.tables.items():
        write_sheet(workbook, name, rows)
    if not workbook.worksheets:
        workbook.create_sheet("empty")
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def render_images(figures, width=760, height=380, timeout_s=120):
    """PNG bytes per figure id, drawn by kaleido in Debian's chromium; {} when that is not possible.

    Image rendering is a nicety: any failure is logged and the report goes out without images.
    plotly.js comes from the installed plotly package, so rendering needs no network.
    """
    if not figures:
        return {}
    os.environ["BROWSER_PATH"] = settings.HEADROOM_CHROMIUM  # choreographer (kaleido) reads it
    try:
        pngs = asyncio.run(asyncio.wait_for(_render_pngs(list(figures.values()), width, height), timeout_s))
    except Exception:  # kaleido/chromium missing, crashed or hung: send without images, say so in the log
        logger.exception("rendering report chart images failed; sending without images")
        return {}
    return dict(zip(figures, pngs, strict=True))


async def _render_pngs(figures, width, height):
    import kaleido
    import plotly

    plotlyjs = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    async with kaleido.Kaleido(n=1, timeout=60, plotlyjs=str(plotlyjs)) as renderer:
        opts = {"format": "png", "width": width, "height": height}
        return [await renderer.calc_fig(fig, opts=opts) for fig in figures]


@register_section(Section.FLEET_SUMMARY)
def fleet_summary(organization, as_of):
    halls = fleet.hall_summaries(organization)
    names = [str(s["hall"]) for s in halls]
    fig = figure(title="Capacity per hall", yaxis_title="kW", barmode="group")
    fig.add_bar(name="IT power capacity (kW)", x=names, y=[s["hall"].it_power_capacity_kw for s in halls])
    fig.add_bar(name="Cooling capacity (kW)", x=names, y=[s["hall"].cooling_capacity_kw for s in halls])
    fig.add_bar(name="Installed GPU TDP (kW)", x=names, y=[s["gpu_tdp_kw"] for s in halls])
    rows = [
        {
            "site": s["hall"].site.name,
            "hall": s["hall"].name,
            "racks": s["racks"],
            "nodes": s["nodes"],
            "gpus": s["gpus"],
            "gpu_tdp_kw": round(s["gpu_tdp_kw"], 3),
            "it_power_capacity_kw": s["hall"].it_power_capacity_kw,
            "cooling_capacity_kw": s["hall"].cooling_capacity_kw,
        }
        for s in halls
    ]
    totals = {key: sum(s[key] for s in halls) for key in ("racks", "nodes", "gpus", "gpu_tdp_kw")}
    html = format_html(
        "<p>{} halls, {} racks, {} nodes, {} GPUs, {} kW GPU TDP.</p>"
        '<table class="report-table"><thead><tr><th>Site</th><th>Hall</th><th>GPUs</th>'
        "<th>GPU TDP (kW)</th><th>IT capacity (kW)</th></tr></thead><tbody>{}</tbody></table>",
        len(halls),
        totals["racks"],
        totals["nodes"],
        totals["gpus"],
        f"{totals['gpu_tdp_kw']:,.0f}",
        format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>',
            (
                (r["site"], r["hall"], r["gpus"], f"{r['gpu_tdp_kw']:,.1f}", f"{r['it_power_capacity_kw']:,.0f}")
                for r in rows
            ),
        ),
    )
    return SectionResult(title="Fleet summary", html=html, figures={"capacity": fig}, tables={"Fleet summary": rows})
