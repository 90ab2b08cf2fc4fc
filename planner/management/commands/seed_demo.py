from django.core.management.base import BaseCommand
from django.utils import timezone
from tqdm import tqdm

from planner import demo as planner_demo
from planner.forecasts.tasks import run_all_forecasts
from planner.reports import demo as report_demo
from planner.serving import demo as serving_demo
from telemetry import demo, demo_history
from telemetry.serving import demo as serving_telemetry_demo


class Command(BaseCommand):
    help = "Create the demo organization, fleet and users (idempotent: running it twice adds nothing)."

    def handle(self, *args, **options):
        org = demo.seed_inventory(progress=lambda items, **kw: tqdm(items, file=self.stderr, **kw))
        planner_demo.seed_scenarios(org)
        report_demo.seed_report_subscription(org)  # a weekly email, Monday 07:00 site time
        demo_history.seed_history_if_empty(org, echo=self.stderr.write)
        serving_telemetry_demo.seed_serving(org, now=timezone.now())  # two deployments, one injected anomaly
        run_all_forecasts(org.pk)  # so the demo shows forecasts, alerts and risk at once
        serving_demo.seed_serving_plans(org)  # after the history: calibrated on and planned from measured serving
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo organization '{org.name}' ready. Log in as admin, planner or viewer "
                f"with password '{demo.DEMO_PASSWORD}'."
            )
        )
