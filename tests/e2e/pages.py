"""The pages the browser tests visit. Add yours with one line in PAGES.

    Page("gpus", "/gpus/")                                    # a fixed URL
    Page("hall", lambda w: f"/halls/{w.a.hall.pk}/", charts=2)  # built from the e2e world (see conftest.py)

`charts` is how many Plotly charts the page must render with data (0 = whatever it has, each must render);
`screenshot=True` saves desktop and phone screenshots to test-artifacts/screenshots/; `role` is whose
session of the alpha organization visits it (viewer, planner or admin).
"""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Page:
    name: str
    url: object  # str, or callable(world) -> str
    charts: int = 0
    screenshot: bool = True
    role: str = "planner"

    def path(self, world):
        return self.url(world) if callable(self.url) else self.url


def simulated(world):
    """The world with a week of simulated telemetry for organization a (telemetry pages chart it)."""
    from telemetry import demo_history

    demo_history.seed_history_if_empty(world.a.org, weeks=1)
    return world


def forecasted(world):
    """Three weeks of simulated telemetry (a refit needs over 15 days) and the forecasts run once on them."""
    from planner.forecasts.tasks import run_all_forecasts
    from telemetry import demo_history

    demo_history.seed_history_if_empty(world.a.org, weeks=3)
    run_all_forecasts(world.a.org.pk)
    return world


def faulty_fleet(world, nodes=3):
    """Eight more GPUs per added node in organization a, some with double-bit ECC errors in the weeks before the
    risk backtest's origin (30 days back): the backtest's risks then differ and its reliability curve has points."""
    from django.utils import timezone

    from telemetry.models import Event, Gpu, GpuModel, Node

    model = GpuModel.objects.get(name="H100 SXM 80GB")
    origin = timezone.now() - timedelta(days=30)
    for n in range(1, nodes + 1):
        node = Node.objects.create(rack=world.a.rack, hostname=f"alpha-n{n + 1}")
        gpus = Gpu.objects.bulk_create(
            Gpu(node=node, index=i, uuid=f"GPU-e2e{n:02d}{i:02d}-0000-0000-0000-000000000000", model=model)
            for i in range(8)
        )
        for errors, gpu in enumerate(gpus[:n]):
            for day in range(errors + 1):
                ts = origin - timedelta(days=day + 1)
                key = Event.make_key("ecc_dbe", ts, gpu.uuid, "", None)
                Event.objects.create(organization=world.a.org, gpu=gpu, kind="ecc_dbe", ts=ts, key=key)
    return world


def scenarios(world, count=1):
    """Saved scenarios of organization a planning on its hall; their ids."""
    from tests.integration.planner.factories import make_scenario

    return [make_scenario(world.a.org, name=f"Plan {n}", halls=[world.a.hall]).pk for n in range(count)]


def csv_upload(world):
    """An uploaded CSV (five minutes of a CDU's supply temperature) waiting for its mapping; its id."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from telemetry import csv_uploads

    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    rows = [f"{(start + timedelta(minutes=i)).isoformat()},cdu-1,{18 + i / 2}" for i in range(5)]
    content = "\n".join(["time,cdu,supply_temp_C", *rows]).encode()
    state = csv_uploads.save_upload(world.a.org, world.a.users["admin"], SimpleUploadedFile("bms.csv", content), 10**6)
    return state["id"]


PAGES = [
    Page("login", "/accounts/login/", screenshot=False),
    Page("overview", lambda w: f"/?site={simulated(w).a.site.pk}", charts=2),
    Page("reports", "/planner/reports/"),
    Page("report-new", "/planner/reports/new/"),
    Page("report-preview", lambda w: f"/planner/reports/{w.subscription.pk}/preview/", charts=1),
    Page("report-edit", lambda w: f"/planner/reports/{w.subscription.pk}/"),
    Page("report-deliveries", "/planner/reports/deliveries/", charts=1),
    Page("help", "/help/", screenshot=False),
    Page("api-docs", "/api/docs/", screenshot=False),
    Page("api-root", "/api/", screenshot=False),
    Page("scenarios", lambda w: scenarios(w) and f"/planner/scenarios/?site={w.a.site.pk}"),
    Page("scenario", lambda w: f"/planner/scenarios/{scenarios(w)[0]}/?site={w.a.site.pk}", charts=5),
    Page("scenario-compare", lambda w: "/planner/scenarios/compare/?ids={}&ids={}".format(*scenarios(w, 2)), charts=2),
    Page("scenario-edit", lambda w: f"/planner/scenarios/{scenarios(w)[0]}/edit/", charts=2),
    Page("scenario-new", "/planner/scenarios/new/"),
    Page("forecasts", lambda w: f"/planner/forecasts/?site={forecasted(w).a.site.pk}"),
    Page("forecast-hall", lambda w: f"/planner/forecasts/halls/{forecasted(w).a.hall.pk}/?range=7d", charts=3),
    Page("forecast-alerts", lambda w: f"/planner/forecasts/alerts/?show=all&site={forecasted(w).a.site.pk}"),
    Page("forecast-risk", lambda w: f"/planner/forecasts/risk/?site={forecasted(w).a.site.pk}"),
    Page("forecast-risk-gpu", lambda w: f"/planner/forecasts/risk/gpus/{forecasted(w).a.gpu.pk}/?range=7d", charts=1),
    Page(
        "forecast-fleet", lambda w: f"/planner/forecasts/fleet/?site={forecasted(faulty_fleet(w)).a.site.pk}", charts=1
    ),
    Page("halls", "/halls/"),
    Page("hall", lambda w: f"/halls/{simulated(w).a.hall.pk}/", charts=3),
    Page("gpus", "/gpus/"),
    Page("gpu", lambda w: f"/gpus/{simulated(w).a.gpu.pk}/", charts=8),
    Page("sources", "/sources/"),
    Page("source-add", "/sources/add/", role="admin"),
    Page("csv-import", "/sources/import/", role="admin"),
    Page("csv-import-preview", lambda w: f"/sources/import/{csv_upload(w)}/", role="admin"),
]
