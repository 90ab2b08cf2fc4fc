"""Report emails through a real in-process SMTP server (aiosmtpd): MIME structure, recipients, inline
images, XLSX attachment; retries with backoff against a server that is down, recovery of a delivery whose
worker was killed mid-send, and the demo's weekly report through the beat tick, all with real workers."""

import io
import signal
import time
import zoneinfo
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.utils import timezone

from planner import demo as planner_demo
from planner.reports import demo as report_demo
from planner.reports import mail as report_mail
from planner.reports.models import ReportDelivery, ReportSubscription
from planner.reports.tasks import report_tick, send_report
from telemetry import demo
from telemetry.models import Hall
from tests.base import PASSWORD, build_org

from .smtp import HoldingRecorder, Recorder, free_port, start_server


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


def test_demo_weekly_report_arrives_through_the_beat_tick_and_a_real_worker(
    smtp_address_for_worker, celery_worker, settings
):
    """The issue's "done means": seed_demo's weekly report reaches an SMTP server with inline charts and
    the workbook, scheduled by the task beat runs every minute and sent by a worker."""
    assert settings.CELERY_BEAT_SCHEDULE["planner-report-tick"]["task"] == report_tick.name
    organization = demo.seed_inventory()  # the parts of seed_demo the report reads (not its history)
    planner_demo.seed_scenarios(organization)
    subscription = report_demo.seed_report_subscription(organization)
    assert report_demo.seed_report_subscription(organization) == subscription  # idempotent, like seed_demo
    # Monday 07:00 site time has come: last week's run is due (as after beat was down over it).
    last_run = subscription.next_run_after(subscription.next_run_at - timedelta(days=8))
    ReportSubscription.objects.filter(pk=subscription.pk).update(next_run_at=last_run)
    recorder = Recorder()
    controller = start_server(smtp_address_for_worker, recorder)
    try:
        assert report_tick.delay().get(timeout=60) == 1
        delivery = ReportDelivery.objects.get(subscription=subscription)
        wait_for(lambda: ReportDelivery.objects.get(pk=delivery.pk).status == "sent", "the report to be sent")
    finally:
        controller.stop()

    local = delivery.scheduled_for.astimezone(zoneinfo.ZoneInfo(subscription.timezone))
    assert delivery.scheduled_for == last_run and (local.weekday(), local.hour, local.minute) == (0, 7, 0)
    [(recipients, message)] = recorder.messages
    assert recipients == report_demo.DEMO_RECIPIENTS
    html = message.get_body(("html",)).get_content()
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert len(images) >= 2  # one chart per section that draws one
    for image in images:
        assert image.get_payload(decode=True).startswith(b"\x89PNG")
        assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html
    [attachment] = list(message.iter_attachments())
    workbook = openpyxl.load_workbook(io.BytesIO(attachment.get_payload(decode=True)))
    halls = {row[1] for row in workbook["Fleet summary"].iter_rows(min_row=2, values_only=True)}
    assert halls == set(Hall.objects.for_org(organization).values_list("name", flat=True))


def test_worker_killed_mid_send_is_sent_again_once_with_the_same_message_id(
    smtp_address_for_worker, start_celery_worker, client, settings
):
    world = build_org("crash")
    delivery = report_mail.queue_now(weekly(world.org))
    recorder = HoldingRecorder()
    controller = start_server(smtp_address_for_worker, recorder)

    def refreshed():
        return ReportDelivery.objects.get(pk=delivery.pk)

    try:
        worker = start_celery_worker()
        send_report.delay(delivery.id)
        wait_for(recorder.holding.is_set, "the SMTP server to hold the message")
        worker.send_signal(signal.SIGKILL)  # the message is with the server, its "250" never reaches us
        worker.wait()
        recorder.release.set()

        lost = refreshed()
        assert lost.status == "sending" and lost.attempts == 1
        assert report_mail.requeue_lost() == []  # within its lease: the worker may still be sending
        assert refreshed().status == "sending"

        # The lease runs out (claimed longer ago than REPORT_SEND_LEASE_S); the next tick sends it again.
        lease = timedelta(seconds=settings.REPORT_SEND_LEASE_S)
        ReportDelivery.objects.filter(pk=delivery.pk).update(claimed_at=F("claimed_at") - lease)
        start_celery_worker()
        report_tick.delay().get(timeout=60)
        wait_for(lambda: refreshed().status == "sent", "the delivery to be sent again")
    finally:
        recorder.release.set()
        controller.stop()

    sent = refreshed()
    first, second = (message for _, message in recorder.messages)
    assert first["Message-ID"] == second["Message-ID"] == sent.message_id == report_mail.message_id(delivery.id)
    assert sent.attempts == 2 and sent.last_error == ""
    outcomes = [(a.number, a.outcome) for a in sent.attempt_log.all()]
    assert outcomes == [(1, "worker_lost"), (2, "sent")]
    assert "may or may not have been delivered" in sent.attempt_log.first().error

    # A sent delivery is never sent again: not by the sweeper, not by a duplicate task.
    ReportDelivery.objects.filter(pk=delivery.pk).update(claimed_at=F("claimed_at") - lease)
    assert report_mail.requeue_lost() == []
    assert send_report.delay(delivery.id).get(timeout=60) is False
    assert len(recorder.messages) == 2 and refreshed().status == "sent"

    client.login(username="crash-viewer", password=PASSWORD)
    log = client.get("/planner/reports/deliveries/?range=7d").content.decode()
    assert "Attempt 1" in log and "worker lost, outcome unknown" in log and "Attempt 2" in log


def lost_delivery(org, *, attempts, claimed_ago):
    return ReportDelivery.objects.create(
        subscription=weekly(org),
        scheduled_for=timezone.now(),
        status="sending",
        attempts=attempts,
        claimed_at=timezone.now() - claimed_ago,
    )


def test_sweeper_fails_a_lost_delivery_after_the_last_attempt(world, settings):
    lease = timedelta(seconds=settings.REPORT_SEND_LEASE_S)
    last = lost_delivery(world.a.org, attempts=report_mail.MAX_ATTEMPTS, claimed_ago=lease + timedelta(seconds=1))
    assert report_mail.requeue_lost() == []
    last.refresh_from_db()
    assert last.status == "failed"
    assert "Worker lost during attempt 7" in last.last_error and "Gave up after 7 attempts" in last.last_error


def test_sweeper_requeues_with_the_backoff_of_the_attempts_made(world, settings):
    settings.REPORT_RETRY_BASE_S = 60
    lease = timedelta(seconds=settings.REPORT_SEND_LEASE_S)
    recent = lost_delivery(world.a.org, attempts=1, claimed_ago=lease - timedelta(seconds=5))
    third = lost_delivery(world.b.org, attempts=3, claimed_ago=lease + timedelta(seconds=5))
    assert report_mail.requeue_lost() == [(third.id, 240)]  # 60 s x 2^(3 - 1), as after a third SMTP failure
    recent.refresh_from_db()
    third.refresh_from_db()
    assert (recent.status, third.status) == ("sending", "queued")
    assert recent.last_error == "" and "Worker lost during attempt 3" in third.last_error


def test_a_lease_shorter_than_the_send_time_limit_is_refused(db, settings):
    settings.REPORT_SEND_LEASE_S = send_report.time_limit
    with pytest.raises(ImproperlyConfigured, match="REPORT_SEND_LEASE_S=240 must be longer"):
        report_mail.requeue_lost()
