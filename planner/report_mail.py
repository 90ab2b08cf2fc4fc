"""Scheduling and sending report emails (services used by planner.tasks and the "send now" view).

Sending is idempotent per ReportDelivery: a delivery is claimed by one atomic status change
(queued/failed -> sending) before any mail leaves, and a sent delivery is never sent again, so a
retried task, a doubled beat tick or a second click cannot produce a second email.
"""

import logging
import smtplib
import zoneinfo
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.utils import timezone

from planner import reports
from planner.models import ReportDelivery, ReportSubscription
from telemetry.api.renderers import XLSX_MEDIA_TYPE

logger = logging.getLogger(__name__)

# Worth retrying: the SMTP server refused, dropped or timed out, or nothing listens (connection refused).
RETRYABLE = (smtplib.SMTPException, OSError)


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


def compose_message(subscription, as_of, *, connection=None):
    """Build the report email (HTML with inline charts, optional XLSX) for a subscription as of a time."""
    report = reports.build_report(subscription.organization, subscription.sections, as_of)
    images = reports.render_images(report.figures)
    cids = {name: f"{name}@headroom" for name in images}
    local = as_of.astimezone(zoneinfo.ZoneInfo(subscription.timezone))
    message = RelatedEmail(
        subject=f"Headroom: {subscription.name} — {local:%Y-%m-%d}",
        body=reports.render_text(report),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=subscription.recipients,
        connection=connection,
        inline_images={cids[name]: png for name, png in images.items()},
        headers={"Message-ID": make_msgid(domain="headroom")},
    )
    message.attach_alternative(reports.render_html(report, subscription=subscription, inline_images=cids), "text/html")
    if subscription.attaches_xlsx:
        message.attach(f"headroom-{local:%Y-%m-%d}.xlsx", reports.render_xlsx(report), XLSX_MEDIA_TYPE)
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


def claim(delivery_id):
    """Mark a delivery as being sent by us; False when it is already sent or another worker has it."""
    claimed = ReportDelivery.objects.filter(
        pk=delivery_id, status__in=[ReportDelivery.Status.QUEUED, ReportDelivery.Status.FAILED]
    ).update(status=ReportDelivery.Status.SENDING)
    return claimed == 1


def deliver(delivery_id, *, final_attempt=False):
    """Send one delivery. Returns True when sent, False when there was nothing to do (already sent or
    claimed elsewhere). On failure the error is recorded and the exception re-raised; an SMTP/network
    failure leaves the delivery 'queued' for the caller's retry, anything else (or the final attempt)
    leaves it 'failed'."""
    if not claim(delivery_id):
        return False
    delivery = ReportDelivery.objects.select_related("subscription__organization").get(pk=delivery_id)
    ReportDelivery.objects.filter(pk=delivery_id).update(attempts=delivery.attempts + 1)
    try:
        message = compose_message(delivery.subscription, delivery.scheduled_for, connection=get_connection())
        message.send()
    except Exception as exc:
        will_retry = isinstance(exc, RETRYABLE) and not final_attempt
        status = ReportDelivery.Status.QUEUED if will_retry else ReportDelivery.Status.FAILED
        ReportDelivery.objects.filter(pk=delivery_id).update(
            status=status, last_error=f"{exc.__class__.__name__}: {exc}"[:2000]
        )
        logger.warning("report delivery %s failed (attempt %s): %s", delivery_id, delivery.attempts + 1, exc)
        raise
    ReportDelivery.objects.filter(pk=delivery_id).update(
        status=ReportDelivery.Status.SENT,
        sent_at=timezone.now(),
        last_error="",
        message_id=message.extra_headers["Message-ID"],
    )
    return True
