"""Planner Celery tasks (thin: fetch by id, call a service, record the outcome).

Report emails: `planner.reports.tick` runs every minute from beat, creates the due ReportDelivery rows
and queues one `planner.reports.send` per delivery; sending retries with exponential backoff while the
SMTP server refuses or is down (REPORT_RETRY_BASE_S x 2^attempt), and sends a delivery once. The tick
also requeues deliveries whose worker died mid-send (mail.requeue_lost: the one case that can
send a copy, with the same Message-ID).
"""

from celery import shared_task

from . import mail


@shared_task(name="planner.reports.tick", time_limit=60, soft_time_limit=50, expires=55)
def report_tick():
    delivery_ids = mail.schedule_due()
    for delivery_id in delivery_ids:
        send_report.delay_on_commit(delivery_id)
    for delivery_id, delay_s in mail.requeue_lost():
        send_report.apply_async((delivery_id,), countdown=delay_s)
    return len(delivery_ids)


# The delivery counts its attempts (mail.MAX_ATTEMPTS), so the task retries without a limit of its own.
@shared_task(
    bind=True,
    name="planner.reports.send",
    time_limit=mail.SEND_TIME_LIMIT_S,
    soft_time_limit=mail.SEND_TIME_LIMIT_S - 40,
    max_retries=None,
)
def send_report(self, delivery_id):
    try:
        return mail.deliver(delivery_id)
    except mail.RetryLater as retry:
        raise self.retry(countdown=retry.delay_s) from retry
