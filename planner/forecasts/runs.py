"""What every forecast run does alike: its as-of hour and its bookkeeping when it ends."""

import time

from django.utils import timezone

from .models import ForecastRun


def floor_hour(ts):
    return ts.replace(minute=0, second=0, microsecond=0)


def finish(run, clock, error=""):
    """Close `run` (started at perf_counter() `clock`): ok, or failed with `error`."""
    run.finished = timezone.now()
    run.duration_s = time.perf_counter() - clock
    run.status = ForecastRun.Status.FAILED if error else ForecastRun.Status.OK
    run.error = error
    run.save()
