"""ReportSubscription scheduling and the delivery uniqueness that prevents double sends."""

from datetime import UTC, datetime, time

import pytest
from django.db import IntegrityError, transaction

from planner.reports.models import ExportLink, ReportDelivery, ReportSubscription, hash_export_token


def subscription(world, **fields):
    defaults = {"name": "weekly", "recipients": ["ops@example.com"], "timezone": "Europe/Berlin"}
    return ReportSubscription.objects.create(organization=world.a.org, **{**defaults, **fields})


def test_weekly_runs_on_its_weekday_at_local_time(world):
    sub = subscription(world, cadence="weekly", weekday=0, send_time=time(7, 0))
    # Wednesday 2026-03-25 12:00 UTC -> Monday 2026-03-30 07:00 Berlin (CEST, UTC+2) = 05:00 UTC
    assert sub.next_run_after(datetime(2026, 3, 25, 12, tzinfo=UTC)) == datetime(2026, 3, 30, 5, tzinfo=UTC)
    # Before the DST switch Berlin is UTC+1: Monday 2026-03-23 07:00 local = 06:00 UTC
    assert sub.next_run_after(datetime(2026, 3, 20, 12, tzinfo=UTC)) == datetime(2026, 3, 23, 6, tzinfo=UTC)


def test_monthly_uses_last_day_of_short_months(world):
    sub = subscription(world, cadence="monthly", monthday=31, timezone="UTC", send_time=time(8, 0))
    assert sub.next_run_after(datetime(2026, 2, 1, tzinfo=UTC)) == datetime(2026, 2, 28, 8, tzinfo=UTC)
    assert sub.next_run_after(datetime(2026, 2, 28, 8, tzinfo=UTC)) == datetime(2026, 3, 31, 8, tzinfo=UTC)


def test_save_plans_next_run_and_disable_clears_it(world):
    sub = subscription(world, cadence="daily")
    assert sub.next_run_at is not None
    sub.enabled = False
    sub.save()
    assert sub.next_run_at is None


def test_one_delivery_per_scheduled_run(world):
    sub = subscription(world)
    at = datetime(2026, 1, 5, 6, tzinfo=UTC)
    ReportDelivery.objects.create(subscription=sub, scheduled_for=at)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReportDelivery.objects.create(subscription=sub, scheduled_for=at)


def test_bad_recipients_and_sections_say_which(world):
    from django.core.exceptions import ValidationError

    sub = ReportSubscription(organization=world.a.org, name="x", recipients=["not-an-address"], sections=["nope"])
    with pytest.raises(ValidationError) as info:
        sub.full_clean()
    assert "'not-an-address' is not an email address" in str(info.value)
    assert "Unknown section(s) nope" in str(info.value)


def test_export_link_stores_only_a_hash(world):
    link, secret = ExportLink.issue(user=world.a.users["viewer"], name="sheet")
    assert secret.startswith("hx_") and secret not in link.token_hash
    assert link.token_hash == hash_export_token(secret)
    assert ExportLink.objects.for_org(world.b.org).count() == 0
