"""The pages the browser tests visit. Add yours with one line in PAGES.

    Page("gpus", "/gpus/")                                    # a fixed URL
    Page("hall", lambda w: f"/halls/{w.a.hall.pk}/", charts=2)  # built from the e2e world (see conftest.py)

`charts` is how many Plotly charts the page must render with data (0 = whatever it has, each must render);
`screenshot=True` saves desktop and phone screenshots to test-artifacts/screenshots/.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    name: str
    url: object  # str, or callable(world) -> str
    charts: int = 0
    screenshot: bool = True

    def path(self, world):
        return self.url(world) if callable(self.url) else self.url


def simulated(world):
    """The world with a week of simulated telemetry for organization a (telemetry pages chart it)."""
    from telemetry import demo_history

    demo_history.seed_history_if_empty(world.a.org, weeks=1)
    return world


def forecasted(world):
    """Three weeks of simulated telemetry (a refit needs over 15 days) and the forecasts run once on them."""
    from planner import forecasting
    from telemetry import demo_history

    demo_history.seed_history_if_empty(world.a.org, weeks=3)
    forecasting.run_all_forecasts(world.a.org.pk)
    return world


PAGES = [
    Page("overview", "/", charts=1),
    Page("reports", "/planner/reports/"),
    Page("report-preview", lambda w: f"/planner/reports/{w.subscription.pk}/preview/", charts=1),
    Page("report-edit", lambda w: f"/planner/reports/{w.subscription.pk}/"),
    Page("report-deliveries", "/planner/reports/deliveries/", charts=1),
    Page("help", "/help/", screenshot=False),
    Page("api-docs", "/api/docs/", screenshot=False),
    Page("scenarios", "/planner/scenarios/"),
    Page("forecasts", "/planner/forecasts/"),
    Page("halls", "/halls/"),
    Page("hall", lambda w: f"/halls/{simulated(w).a.hall.pk}/", charts=3),
    Page("gpus", "/gpus/"),
    Page("gpu", lambda w: f"/gpus/{simulated(w).a.gpu.pk}/", charts=8),
    Page("sources", "/sources/"),
    Page("export-links", "/account/export-links/"),
    Page("forecast-hall", lambda w: f"/planner/forecasts/halls/{forecasted(w).a.hall.pk}/?range=7d", charts=3),
]
