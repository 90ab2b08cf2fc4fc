"""The one Celery app; tasks are autodiscovered from the Django apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("headroom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="headroom.ping", time_limit=10, soft_time_limit=5)
def ping(value):
    """Round-trip check used by /healthz tests and operators."""
    return {"pong": value}
