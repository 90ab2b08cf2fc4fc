"""Scheduling and sending report emails (services used by planner.tasks and the "send now" view).

Sending is idempotent per ReportDelivery: a delivery is claimed by one atomic status change
(queued/failed -> sending) before any mail leaves, and a sent delivery is never sent again, so a
retried task, a doubled beat tick or a second click cannot produce a second email. The one duplicate
that cannot be ruled out: a worker that dies after the SMTP server took the message but before the row
says 'sent'. requeue_lost() sends such a delivery again once its lease has run out, with the same
Message-ID, so mail clients can recognise the copy.
"""

import logging
import re
import smtplib
import zoneinfo
from datetime import timedelta
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from telemetry.api.renderers import XLSX_MEDIA_TYPE

from . import sections
from .models import ReportDelivery, ReportDeliveryAttempt, ReportSubscription

logger = logging.getLogger(__name__)

# Worth retrying: the SMTP server refused, dropped or timed out, nothing listens (connection refused),
# or the attempt ran into the task's soft time limit.
RETRYABLE = (smtplib.SMTPException, OSError, SoftTimeLimitExceeded)
MAX_ATTEMPTS = 7  # with the 60 s default base the retries wait 1, 2, 4, 8, 16, 32 minutes: ~1 h in all
# planner.reports.send's hard time limit: an attempt ends (or its worker is killed) before the lease runs out.
SEND_TIME_LIMIT_S = 240


class RelatedEmail(EmailMultiAlternatives):
    """multipart/mixed[ multipart/related[ multipart/alternative[text, html], image/png ... ], xlsx ]:
    the structure mail clients expect for HTML with inline (cid:) images plus a separate attachment."""

    def __init__(self, *args, inline_images=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.inline_images = inline_images or {}  # content id -> PNG bytes

    def _create_alternatives(self, msg):  # Django <6 builds the message through this hook
        alternative = super()._create_alternatives(msg)
        if not self.inline_images:
            return alternative
        related = MIMEMultipart("related")
        related.attach(alternative)
        for cid, png in self.inline_images.items():
            image = MIMEImage(png, "png")
            image.add_header("Content-ID", f"<{cid}>")
            image.add_header("Content-Disposition", "inline", filename=f"{cid}.png")
            related.attach(image)
        return related


def compose_message(delivery, *, connection=None):
    """Build a delivery's email (HTML with inline charts, optional XLSX) as of its scheduled time."""
    subscription, as_of = delivery.subscription, delivery.scheduled_for
    report = sections.build_report(subscription.organization, subscription.sections, as_of)
    images = sections.render_images(report.figures)
    cids = {name: f"{name}@headroom" for name in images}
    local = as_of.astimezone(zoneinfo.ZoneInfo(subscription.timezone))
    message = RelatedEmail(
        subject=f"Headroom: {subscription.name} — {local:%Y-%m-%d}",
        body=sections.render_text(report),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=subscription.recipients,
        connection=connection,
        inline_images={cids[name]: png for name, png in images.items()},
        headers={"Message-ID": message_id(delivery.pk)},
    )
    message.attach_alternative(sections.render_html(report, subscription=subscription, inline_images=cids), "text/html")
    if subscription.attaches_xlsx:
        message.attach(f"headroom-{local:%Y-%m-%d}.xlsx", sections.render_xlsx(report), XLSX_MEDIA_TYPE)
    return message


def schedule_due(now=None):
    """Create the delivery rows for every subscription that is due; return their ids.

    A run missed while beat was down is sent once (for its original time), not once per missed slot.
    """
    now = now or timezone.now()
    created = []
    with transaction.atomic():
        due = (
            ReportSubscription.objects.select_for_update(skip_locked=True)
            .filter(enabled=True, next_run_at__lte=now)
            .order_by("next_run_at")
        )
        for subscription in due:
            delivery, is_new = ReportDelivery.objects.get_or_create(
                subscription=subscription, scheduled_for=subscription.next_run_at
            )
            if is_new:
                created.append(delivery.id)
            # update(), not save(): save() re-plans from the clock, here we advance from the schedule.
            ReportSubscription.objects.filter(pk=subscription.pk).update(
                next_run_at=subscription.next_run_after(max(now, subscription.next_run_at))
            )
    return created


def queue_now(subscription):
    """A 'send now' delivery, separate from the schedule."""
    return ReportDelivery.objects.create(subscription=subscription, scheduled_for=timezone.now())


def message_id(delivery_id):
    """The delivery's Message-ID, the same on every attempt, so mail clients see a resend after an
    uncertain attempt as the same message. Its right part is the site's host name (not the worker's)."""
    host = urlsplit(settings.HEADROOM_SITE_URL).hostname or ""
    if not re.fullmatch(r"[\w.-]+", host):  # e.g. an IPv6 address, not allowed there
        host = "headroom"
    return f"<report-delivery-{delivery_id}@{host}>"


def retry_delay_s(attempts):
    """Backoff after `attempts` failed attempts: REPORT_RETRY_BASE_S x 2^(attempts - 1)."""
    return settings.REPORT_RETRY_BASE_S * 2 ** (attempts - 1)


class RetryLater(Exception):
    """The attempt failed in a way worth retrying; the delivery is queued again for `delay_s` from now."""

    def __init__(self, delay_s):
        super().__init__(f"retry in {delay_s:g} s")
        self.delay_s = delay_s


def claim(delivery_id):
    """Mark a delivery as being sent by us and open its next attempt; the attempt number, or None when it
    is already sent or another worker has it."""
    now = timezone.now()
    with transaction.atomic():
        claimed = ReportDelivery.objects.filter(
            pk=delivery_id, status__in=[ReportDelivery.Status.QUEUED, ReportDelivery.Status.FAILED]
        ).update(
            status=ReportDelivery.Status.SENDING,
            claimed_at=now,
            attempts=F("attempts") + 1,
            message_id=message_id(delivery_id),
        )
        if not claimed:
            return None
        number = ReportDelivery.objects.values_list("attempts", flat=True).get(pk=delivery_id)
        ReportDeliveryAttempt.objects.create(delivery_id=delivery_id, number=number, started_at=now)
    return number


def _finish(delivery_id, number, status, outcome, error="", now=None):
    """Record how attempt `number` ended, on the attempt and (while it is the latest) the delivery."""
    now = now or timezone.now()
    with transaction.atomic():
        # A later attempt (after requeue_lost) owns the delivery's status.
        ReportDelivery.objects.filter(pk=delivery_id, attempts=number).update(
            status=status, last_error=error, **({"sent_at": now} if status == ReportDelivery.Status.SENT else {})
        )
        ReportDeliveryAttempt.objects.filter(delivery_id=delivery_id, number=number).update(
            outcome=outcome, finished_at=now, error=error
        )


def deliver(delivery_id):
    """Send one delivery. Returns True when sent, False when there was nothing to do (already sent or
    claimed elsewhere). A failure is recorded on the delivery and its attempt; an SMTP/network failure
    before the last attempt leaves it 'queued' and raises RetryLater, anything else leaves it 'failed'
    and re-raises."""
    number = claim(delivery_id)
    if number is None:
        return False
    delivery = ReportDelivery.objects.select_related("subscription__organization").get(pk=delivery_id)
    try:
        message = compose_message(delivery, connection=get_connection())
        message.send()
    except Exception as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:2000]
        will_retry = isinstance(exc, RETRYABLE) and number < MAX_ATTEMPTS
        status = ReportDelivery.Status.QUEUED if will_retry else ReportDelivery.Status.FAILED
        _finish(delivery_id, number, status, ReportDeliveryAttempt.Outcome.ERROR, error)
        logger.warning("report delivery %s failed (attempt %s of %s): %s", delivery_id, number, MAX_ATTEMPTS, exc)
        if will_retry:
            raise RetryLater(retry_delay_s(number)) from exc
        raise
    _finish(delivery_id, number, ReportDelivery.Status.SENT, ReportDeliveryAttempt.Outcome.SENT)
    return True


def requeue_lost(now=None):
    """Deliveries left 'sending' longer than REPORT_SEND_LEASE_S: their worker died mid-attempt (killed,
    out of memory, past its time limit). The message may or may not have reached the SMTP server, so each
    is queued again (same Message-ID) with the usual backoff, or failed after MAX_ATTEMPTS.
    Returns [(delivery id, seconds until the retry)] for the caller to queue."""
    lease_s = settings.REPORT_SEND_LEASE_S
    if lease_s <= SEND_TIME_LIMIT_S:
        raise ImproperlyConfigured(
            f"REPORT_SEND_LEASE_S={lease_s:g} must be longer than the send task's time limit ({SEND_TIME_LIMIT_S} s), "
            "or deliveries still being sent would be sent again."
        )
    now = now or timezone.now()
    requeued = []
    with transaction.atomic():
        lost = ReportDelivery.objects.select_for_update(skip_locked=True).filter(
            status=ReportDelivery.Status.SENDING, claimed_at__lt=now - timedelta(seconds=lease_s)
        )
        for delivery in lost:
            gives_up = delivery.attempts >= MAX_ATTEMPTS
            error = (
                f"Worker lost during attempt {delivery.attempts} (claimed {delivery.claimed_at:%Y-%m-%d %H:%M:%S} "
                f"UTC, not finished within {lease_s:g} s): the message may or may not have been delivered."
            )
            if gives_up:
                error += f" Gave up after {delivery.attempts} attempts."
            status = ReportDelivery.Status.FAILED if gives_up else ReportDelivery.Status.QUEUED
            _finish(delivery.pk, delivery.attempts, status, ReportDeliveryAttempt.Outcome.WORKER_LOST, error, now)
            logger.warning("report delivery %s: %s %s", delivery.pk, error, "" if gives_up else "Sending it again.")
            if not gives_up:
                requeued.append((delivery.pk, retry_delay_s(delivery.attempts)))
    return requeued
