"""Planner Celery tasks (thin: fetch by id, call a service, record the outcome).

Report emails: `planner.reports.tick` runs every minute from beat, creates the due ReportDelivery rows
and queues one `planner.reports.send` per delivery; sending retries with exponential backoff while the
SMTP server refuses or is down (REPORT_RETRY_BASE_S x 2^attempt), and never sends a delivery twice.
"""

from celery import shared_task
from django.conf import settings

from . import report_mail

REPORT_MAX_RETRIES = 6  # with the 60 s default base: 1, 2, 4, 8, 16, 32 minutes, ~1 h in all


@shared_task(name="planner.reports.tick", time_limit=60, soft_time_limit=50, expires=55)
def report_tick():
    delivery_ids = report_mail.schedule_due()
    for delivery_id in delivery_ids:
        send_report.delay_on_commit(delivery_id)
    return len(delivery_ids)


@shared_task(
    bind=True, name="planner.reports.send", time_limit=240, soft_time_limit=200, max_retries=REPORT_MAX_RETRIES
)
def send_report(self, delivery_id):
    try:
        return report_mail.deliver(delivery_id, final_attempt=self.request.retries >= self.max_retries)
    except report_mail.RETRYABLE as exc:
        if self.request.retries >= self.max_retries:
            raise
        raise self.retry(exc=exc, countdown=settings.REPORT_RETRY_BASE_S * 2**self.request.retries) from exc
