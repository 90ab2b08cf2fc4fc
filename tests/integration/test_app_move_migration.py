"""Forecasts and reports moved from the planner app into apps of their own (planner.forecasts,
planner.reports) with their tables: rows written before the move are read by the new models after it, and
permissions keep their identity (their content types change app)."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from planner.forecasts.models import ForecastRun
from planner.reports.models import ExportLink, ReportSubscription

BEFORE = [("planner", "0009_reference_devices"), ("forecasts", None), ("reports", None)]


def migrate(targets):
    """Migrate to `targets` and return the models as they were there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1]]).apps


@pytest.mark.django_db(transaction=True)
def test_rows_and_permissions_written_before_the_move_survive_it(django_user_model):
    view_run = Permission.objects.get(content_type__app_label="forecasts", codename="view_forecastrun")
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        old = migrate(BEFORE)
        ContentType.objects.clear_cache()
        assert ContentType.objects.filter(app_label="planner", model="forecastrun").exists()
        org = old.get_model("telemetry", "Organization").objects.create(name="Before", slug="before")
        at = datetime(2026, 12, 1, tzinfo=UTC)
        old.get_model("planner", "ForecastRun").objects.create(
            organization_id=org.pk, kind="cooling", as_of=at, started=at, model_version="v-before"
        )
        old.get_model("planner", "ReportSubscription").objects.create(
            organization_id=org.pk, name="Weekly", recipients=["ops@example.com"]
        )
        user = django_user_model.objects.create_user("mover")
        old.get_model("planner", "ExportLink").objects.create(user_id=user.pk, name="sheet", token_hash="f" * 64)
    finally:
        migrate(latest)
        ContentType.objects.clear_cache()

    assert ForecastRun.objects.get(organization__slug="before").model_version == "v-before"
    assert ReportSubscription.objects.get(organization__slug="before").recipients == ["ops@example.com"]
    assert ExportLink.objects.get(user__username="mover").name == "sheet"
    moved = Permission.objects.get(content_type__app_label="forecasts", codename="view_forecastrun")
    assert moved.pk == view_run.pk
    assert not ContentType.objects.filter(app_label="planner", model__in=["forecastrun", "exportlink"]).exists()
