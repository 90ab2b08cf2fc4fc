"""Report emails through a real in-process SMTP server (aiosmtpd): MIME structure, recipients, inline
images, XLSX attachment; and retries with backoff against a server that is down, through a real worker."""

import io
import time
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from django.utils import timezone

from planner import report_mail
from planner.models import ReportDelivery, ReportSubscription
from planner.tasks import send_report
from tests.base import build_org

from .smtp import Recorder, free_port, start_server


@pytest.fixture
def smtp(settings):
    recorder, port = Recorder(), free_port()
    controller = start_server(port, recorder)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield recorder
    controller.stop()


def weekly(org, **fields):
    return ReportSubscription.objects.create(
        organization=org,
        name="Weekly fleet",
        recipients=["ops@example.com", "cfo@example.com"],
        sections=["fleet_summary", "capacity_runway"],
        **fields,
    )


def test_report_arrives_with_inline_chart_and_xlsx(world, smtp):
    delivery = report_mail.queue_now(weekly(world.a.org))
    assert report_mail.deliver(delivery.id) is True

    [(recipients, message)] = smtp.messages
    assert sorted(recipients) == ["cfo@example.com", "ops@example.com"]
    assert message.get_content_type() == "multipart/mixed"
    related, attachment = message.get_payload()
    assert related.get_content_type() == "multipart/related"
    alternative, *images = related.get_payload()
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/html"]
    html = alternative.get_payload()[1].get_content()
    assert images and all(i.get_content_type() == "image/png" for i in images)
    for image in images:
        assert image.get_payload(decode=True).startswith(b"\x89PNG")
        assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html
    assert "alpha-hall" in html and "No scenario places GPUs in a hall" in html

    assert attachment.get_filename().endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(attachment.get_payload(decode=True)))["Fleet summary"]
    assert [c.value for c in sheet[2]][:5] == ["alpha-site", "alpha-hall", 1, 1, 1]

    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 1 and delivery.message_id == message["Message-ID"]
    assert report_mail.deliver(delivery.id) is False  # a sent delivery is never sent again
    assert len(smtp.messages) == 1


def test_without_a_browser_the_report_goes_out_without_images(world, smtp, settings, caplog):
    settings.HEADROOM_CHROMIUM = "/nonexistent/chromium"
    delivery = report_mail.queue_now(weekly(world.a.org, format="html"))
    assert report_mail.deliver(delivery.id) is True
    [(_, message)] = smtp.messages
    assert message.get_content_type() == "multipart/alternative"  # no images, no attachment
    assert "sending without images" in caplog.text


def test_schedule_due_creates_one_delivery_per_run(world):
    sub = weekly(world.a.org, cadence="daily", timezone="UTC")
    due_at = sub.next_run_at
    later = due_at + timedelta(minutes=1)
    assert len(report_mail.schedule_due(now=later)) == 1
    assert report_mail.schedule_due(now=later) == []  # a doubled tick finds nothing new
    sub.refresh_from_db()
    assert sub.next_run_at == due_at + timedelta(days=1)
    assert ReportDelivery.objects.get().scheduled_for == due_at


def test_weekly_demo_schedule_lands_on_monday_morning(world):
    sub = weekly(world.a.org, cadence="weekly", weekday=0, timezone="Europe/Berlin")
    local = sub.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert local.weekday() == 0 and (local.hour, local.minute) == (7, 0)
    assert sub.next_run_at > datetime.now(UTC)


@pytest.fixture
def smtp_address_for_worker(monkeypatch):
    """The worker process reads the SMTP address and a 1 s retry base from its environment."""
    port = free_port()
    monkeypatch.setenv("TEST_EMAIL_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("REPORT_RETRY_BASE_S", "1")
    return port


def wait_for(predicate, what, timeout=90):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_smtp_down_retries_with_backoff_then_sends_once(smtp_address_for_worker, celery_worker):
    world = build_org("retry")
    delivery = report_mail.queue_now(weekly(world.org))
    send_report.delay(delivery.id)

    def refreshed():
        return ReportDelivery.objects.get(pk=delivery.pk)

    wait_for(lambda: refreshed().attempts >= 1 and refreshed().last_error, "the first failed attempt")
    failed = refreshed()
    assert failed.status == "queued" and "Connection refused" in failed.last_error

    recorder = Recorder()
    controller = start_server(smtp_address_for_worker, recorder)
    try:
        wait_for(lambda: refreshed().status == "sent", "the retry to succeed")
        sent = refreshed()
        assert sent.attempts >= 2 and sent.sent_at <= timezone.now() and sent.last_error == ""
        assert len(recorder.messages) == 1
        # Another send of the same delivery (a duplicate task, a second click) does nothing.
        assert send_report.delay(delivery.id).get(timeout=60) is False
        assert len(recorder.messages) == 1
    finally:
        controller.stop()


def test_demo_weekly_report_arrives_when_due(world, smtp):
    from planner.report_demo import seed_report_subscription

    subscription = seed_report_subscription(world.a.org)
    assert seed_report_subscription(world.a.org) == subscription  # idempotent, like seed_demo
    [delivery_id] = report_mail.schedule_due(now=subscription.next_run_at)
    assert report_mail.deliver(delivery_id) is True
    [(recipients, message)] = smtp.messages
    assert recipients == ["infra-team@example.com"]
    parts = [part.get_content_type() for part in message.walk()]
    assert "image/png" in parts
    assert "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" in parts
