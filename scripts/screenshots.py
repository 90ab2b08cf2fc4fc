"""Screenshots of the dashboard on the demo data for docs/screenshots/ (listed in its README).

    make run                                    # or: manage.py seed_demo, then a server on the same database
    .venv/bin/python scripts/screenshots.py [--base http://127.0.0.1:8000] [--out docs/screenshots] [only ...]

Reads the demo organization's ids from the database (DATABASE_URL, as manage.py does), logs in as the demo
admin and saves each SHOTS entry with Playwright and Chromium (CHROMIUM_PATH, default /usr/bin/chromium):
the whole page, or only the element `target` names, at the width given.
"""

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "headroom-demo"


@dataclass(frozen=True)
class Shot:
    name: str  # file name without .png
    path: str  # URL path; {hall}, {training_hall}, {gpu}, {scenario}, {subscription} come from the demo
    width: int = 1440
    target: str = ""  # a CSS selector: only that element; empty: the full page
    hover: str = ""  # a CSS selector hovered before the shot (a chart marker shows its hover text)
    top: int = 0  # only the page's top this many pixels (0: as `target` says)


SHOTS = [
    Shot("overview", "/"),
    Shot("overview-phone", "/", width=390),
    Shot(
        "overview-it-load-simulated-restarts",
        "/?range=7d",
        target="#it-load-per-hall",
        hover="#it-load-per-hall .scatterlayer .point",
    ),
    Shot("scenario-list", "/planner/scenarios/"),
    Shot("alerts", "/planner/forecasts/alerts/?show=all"),
    Shot("gpu-markers-gib-minutes", "/gpus/{gpu}/", hover="#gpu-chart-0 .scatterlayer .point"),
    Shot("gpu-phone", "/gpus/{gpu}/", width=390),
    Shot("gpus-heatmap-racks", "/gpus/?heat=util", target="#fleet-heatmap"),
    Shot("gpus-heatmap-hall-power", "/gpus/?heat=power&hall={hall}", target="#fleet-heatmap"),
    Shot("hall-floor-and-markers", "/halls/{training_hall}/"),
    Shot("hall-phone", "/halls/{training_hall}/", width=390),
    Shot("range-carried-gpus", "/gpus/?range=7d&hall={hall}", top=330),
    Shot("risk", "/planner/forecasts/risk/"),
    Shot("forecast-hall-skill", "/planner/forecasts/halls/{hall}/", target="#backtest"),
    Shot("forecast-hall-skill-training", "/planner/forecasts/halls/{training_hall}/", target="#backtest"),
    Shot("forecast-hall-24h", "/planner/forecasts/halls/{hall}/"),
    Shot("report-preview", "/planner/reports/{subscription}/preview/"),
    Shot("report-deliveries-empty", "/planner/reports/deliveries/?range=1h"),
    Shot("api-root-admin-link", "/api/"),
]


def demo_ids():
    """{placeholder: id} of the demo organization's objects the SHOTS paths name."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db.models import Count, Q
    from django.utils import timezone

    from planner.models import Scenario
    from planner.reports.models import ReportSubscription
    from telemetry.models import Gpu, GpuSample, Hall, Organization

    org = Organization.objects.get(name="Demo AI Cloud")
    halls = Hall.objects.for_org(org).order_by("site__name", "name")
    since = timezone.now() - timedelta(hours=24)
    # The reporting GPU with the most events in the last day: its charts carry markers.
    reporting = GpuSample.objects.filter(ts__gte=timezone.now() - timedelta(minutes=30)).values("gpu_id")
    gpu = (
        Gpu.objects.for_org(org)
        .filter(pk__in=reporting)
        .annotate(recent=Count("events", filter=Q(events__ts__gte=since)))
        .order_by("-recent", "pk")
        .first()
    )
    hall = halls.first()
    return {
        "hall": hall.pk,
        "training_hall": (halls.filter(cooling_type="liquid").first() or hall).pk,
        "gpu": gpu.pk,
        "scenario": Scenario.objects.filter(organization=org).order_by("pk").first().pk,
        "subscription": ReportSubscription.objects.filter(organization=org).order_by("pk").first().pk,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("only", nargs="*", help="names of the shots to take (default: all)")
    args = parser.parse_args()
    ids = demo_ids()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=["--no-sandbox"]
        )
        page = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="light").new_page()
        page.goto(f"{args.base}/accounts/login/")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{args.base}/")
        for shot in SHOTS:
            if args.only and shot.name not in args.only:
                continue
            page.set_viewport_size({"width": shot.width, "height": 900})
            page.goto(args.base + shot.path.format(**ids))
            page.wait_for_load_state("networkidle")
            if page.locator("[data-figure]").count():
                page.wait_for_selector("[data-figure]:not([data-rendered=true])", state="detached", timeout=30000)
            page.wait_for_timeout(500)  # responsive charts settle at the new width
            if shot.hover and page.locator(shot.hover).count():
                page.locator(shot.hover).first.hover(force=True)
                page.wait_for_timeout(300)
            path = args.out / f"{shot.name}.png"
            if shot.top:
                page.screenshot(path=path, clip={"x": 0, "y": 0, "width": shot.width, "height": shot.top})
            elif shot.target:
                page.locator(shot.target).first.screenshot(path=path)
            else:
                page.screenshot(path=path, full_page=True)
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {shot.path.format(**ids)}")
        browser.close()


if __name__ == "__main__":
    main()
