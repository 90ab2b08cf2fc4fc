"""A task sent from Django is delivered by the real broker, run by a real worker, and its result returns."""

from config.celery import ping


def test_task_round_trip_through_a_real_worker(celery_worker):
    result = ping.delay("hello")
    assert result.get(timeout=30) == {"pong": "hello"}
