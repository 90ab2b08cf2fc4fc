"""The demo organization's weekly report (seed_demo calls this; idempotent)."""

from telemetry.models import Site

from .models import ReportSubscription, Section

DEMO_RECIPIENTS = ["infra-team@example.com"]


def seed_report_subscription(organization):
    site = Site.objects.for_org(organization).order_by("name").first()
    subscription, _ = ReportSubscription.objects.get_or_create(
        organization=organization,
        name="Weekly capacity report",
        defaults={
            "recipients": DEMO_RECIPIENTS,
            "cadence": ReportSubscription.Cadence.WEEKLY,
            "weekday": 0,
            "timezone": site.timezone if site else "UTC",
            "sections": list(Section.values),
            "format": ReportSubscription.Format.HTML_XLSX,
        },
    )
    return subscription
