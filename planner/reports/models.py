"""Scheduled email reports (subscriptions and their delivery log) and read-only export links.

A subscription's `next_run_at` is the single source of "when is it due": the beat tick picks every
enabled subscription whose next_run_at has passed, records a ReportDelivery for exactly that instant
(unique per subscription, so a retried or doubled tick cannot send twice) and advances next_run_at.
"""

import calendar
import hashlib
import secrets
import zoneinfo
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from telemetry.models import Organization, OrgQuerySet
from telemetry.models.inventory import validate_timezone


class Section(models.TextChoices):
    """Report sections; planner.reports.sections keeps the function that builds each one."""

    FLEET_SUMMARY = "fleet_summary", "Fleet summary"
    CAPACITY_RUNWAY = "capacity_runway", "Capacity runway"
    COOLING_OUTLOOK = "cooling_outlook", "Cooling outlook and alerts"
    FAILURE_RISK = "failure_risk", "Failure risk (top GPUs)"
    SCENARIO_SUMMARY = "scenario_summary", "Planner scenario summary"


def validate_sections(value):
    if not isinstance(value, list) or not value:
        raise ValidationError("Pick at least one section.", code="no_sections")
    unknown = sorted(set(value) - set(Section.values))
    if unknown:
        raise ValidationError(
            f"Unknown section(s) {', '.join(unknown)}; choose from {', '.join(Section.values)}.", code="bad_section"
        )


def validate_recipients(value):
    from django.core.validators import validate_email

    if not isinstance(value, list) or not value:
        raise ValidationError("Give at least one recipient address.", code="no_recipients")
    for address in value:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(f"{address!r} is not an email address.", code="bad_recipient") from None


def default_sections():
    return [Section.FLEET_SUMMARY.value]


class ReportSubscription(models.Model):
    ORG_LOOKUP = "organization"

    class Cadence(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"

    class Format(models.TextChoices):
        HTML = "html", "HTML email"
        HTML_XLSX = "html+xlsx", "HTML email with XLSX attachment"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="report_subscriptions")
    name = models.CharField(max_length=120)
    recipients = models.JSONField(
        default=list, validators=[validate_recipients], help_text="Email addresses the report is sent to."
    )
    cadence = models.CharField(max_length=10, choices=Cadence.choices, default=Cadence.WEEKLY)
    send_time = models.TimeField(default=time(7, 0), help_text="Local time of day in the report's timezone.")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    weekday = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(6)],
        help_text="Weekly reports: 0 = Monday … 6 = Sunday.",
    )
    monthday = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text="Monthly reports: day of month; short months use their last day.",
    )
    sections = models.JSONField(default=default_sections, validators=[validate_sections])
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.HTML_XLSX)
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrgQuerySet.as_manager()

    class Meta:
        db_table = "planner_reportsubscription"  # created by the planner app before this one
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="report_subscription_name_per_org",
                violation_error_message="A report with this name already exists in the organization.",
            )
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # A new or re-enabled subscription schedules its next run from now; edits re-plan it too.
        if self.enabled:
            self.next_run_at = self.next_run_after(timezone.now())
        else:
            self.next_run_at = None
        super().save(*args, **kwargs)

    @property
    def attaches_xlsx(self):
        return self.format == self.Format.HTML_XLSX

    def next_run_after(self, moment):
        """The first scheduled instant strictly after `moment` (aware), in UTC.

        Computed in the subscription's timezone so that 07:00 stays 07:00 across daylight-saving changes.
        """
        tz = zoneinfo.ZoneInfo(self.timezone)
        local = moment.astimezone(tz)
        day = local.date()
        for _ in range(400):  # at most a year and a bit ahead: every cadence matches within it
            if self._runs_on(day):
                candidate = datetime.combine(day, self.send_time, tzinfo=tz)
                if candidate > moment:
                    return candidate.astimezone(zoneinfo.ZoneInfo("UTC"))
            day += timedelta(days=1)
        raise ValueError(f"no run date found for report {self.name!r}")  # unreachable with valid fields

    def _runs_on(self, day):
        if self.cadence == self.Cadence.DAILY:
            return True
        if self.cadence == self.Cadence.WEEKLY:
            return day.weekday() == self.weekday
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day == min(self.monthday, last)


class ReportDelivery(models.Model):
    """One scheduled (or 'send now') sending of a subscription; the log shown on the reports page."""

    ORG_LOOKUP = "subscription__organization"

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"

    subscription = models.ForeignKey(ReportSubscription, on_delete=models.CASCADE, related_name="deliveries")
    scheduled_for = models.DateTimeField(help_text="The run this delivery belongs to (UTC).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the latest attempt claimed it; a 'sending' lease runs from here."
    )
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True, help_text="The same on every attempt.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrgQuerySet.as_manager()

    class Meta:
        db_table = "planner_reportdelivery"  # created by the planner app before this one
        ordering = ["-scheduled_for"]
        verbose_name_plural = "report deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "scheduled_for"], name="one_delivery_per_run"),
        ]

    def __str__(self):
        return f"{self.subscription} @ {self.scheduled_for:%Y-%m-%d %H:%M} ({self.status})"


class ReportDeliveryAttempt(models.Model):
    """One try at sending a delivery (the history under a delivery in the log)."""

    class Outcome(models.TextChoices):
        SENDING = "sending", "sending"
        SENT = "sent", "sent"
        ERROR = "error", "error"
        WORKER_LOST = "worker_lost", "worker lost, outcome unknown"

    delivery = models.ForeignKey(ReportDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True, help_text="For a lost worker: when that was noticed.")
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.SENDING)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "planner_reportdeliveryattempt"  # created by the planner app before this one
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_row_per_delivery_attempt")]

    def __str__(self):
        return f"{self.delivery} attempt {self.number} ({self.outcome})"


def hash_export_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


class ExportLinkQuerySet(OrgQuerySet):
    def usable(self):
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ExportLink(models.Model):
    """A read-only, revocable secret in the URL for clients that cannot send headers (spreadsheet
    "from web" imports). Only its SHA-256 is stored; the secret is shown once, when it is created."""

    ORG_LOOKUP = "user__membership__organization"
    PREFIX = "hx_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_links")
    name = models.CharField(max_length=120, help_text="What the link is for, e.g. 'capacity sheet'.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ExportLinkQuerySet.as_manager()

    class Meta:
        db_table = "planner_exportlink"  # created by the planner app before this one
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.user})"

    @classmethod
    def issue(cls, *, user, name):
        """Create a link and return (link, secret); the secret is not recoverable afterwards."""
        secret = cls.PREFIX + secrets.token_urlsafe(32)
        link = cls.objects.create(user=user, name=name, token_hash=hash_export_token(secret))
        return link, secret

    @property
    def revoked(self):
        return self.revoked_at is not None
