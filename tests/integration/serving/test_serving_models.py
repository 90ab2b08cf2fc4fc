"""Deployments, replicas and serving samples on the real database: validation, scoping, re-sent samples, and
how the rollups combine samples."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from telemetry.models import Deployment, GpuModel, Replica, Resolution, ServingRollup, ServingSample, Source
from telemetry.serving.rollups import refresh_serving_rollups
from telemetry.serving.store import add_replica, store_samples

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def deployment(world):
    return Deployment.objects.create(
        organization=world.a.org,
        name="llama-8b",
        llm_model="Llama-3.1-8B",
        engine="vllm",
        gpu_model=GpuModel.objects.get(name="H100 SXM 80GB"),
    )


def test_llm_model_must_be_in_the_planner_catalog(deployment):
    deployment.llm_model = "Llama-9-Imaginary"
    with pytest.raises(ValidationError, match="not in the LLM catalog"):
        deployment.full_clean()


def test_replica_gets_a_serving_source_and_its_gpus(world, deployment):
    replica = add_replica(deployment, name="r0", metrics_url="http://10.0.0.5:8000/metrics", gpus=[world.a.gpu])
    assert replica.source.kind == Source.Kind.SERVING and replica.metrics_url.endswith("/metrics")
    assert list(deployment.gpus) == [world.a.gpu] and deployment.replica_count == 1
    assert list(Replica.objects.for_org(world.b.org)) == []


def test_store_samples_ignores_resent_rows_and_rejects_unknown_fields(world, deployment):
    replica = add_replica(deployment, name="r0", metrics_url="http://x/metrics")
    rows = [{"ts": T0 + timedelta(seconds=15 * i), "interval_s": 15.0, "generation_tokens": 100.0} for i in range(3)]
    assert store_samples(replica, rows).accepted == 3
    again = store_samples(replica, [*rows[1:], {"ts": T0, "tokens_per_joule": 1}])
    assert (again.accepted, again.duplicate, again.rejected) == (0, 2, 1)
    assert "tokens_per_joule" in again.errors[0]["message"]
    assert ServingSample.objects.for_org(world.a.org).count() == 3
    assert ServingSample.objects.for_org(world.b.org).count() == 0


def test_rollups_average_gauges_weight_percentiles_by_requests_and_sum_counters(world, deployment):
    busy, idle = (add_replica(deployment, name=n, metrics_url=f"http://x/{n}") for n in ("busy", "idle"))
    # Two minutes of busy: one bucket per minute, one 5-minute and one hourly bucket holding both.
    store_samples(
        busy,
        [
            {"ts": T0, "interval_s": 30.0, "requests_waiting": 2.0, "ttft_p95": 1.0, "requests_finished": 1.0},
            {
                "ts": T0 + timedelta(seconds=30),
                "interval_s": 30.0,
                "requests_waiting": 6.0,
                "ttft_p95": 3.0,
                "requests_finished": 3.0,
                "generation_tokens": 50.0,
            },
            {
                "ts": T0 + timedelta(seconds=60),
                "interval_s": 60.0,
                "requests_waiting": 4.0,
                "ttft_p95": 9.0,
                "requests_finished": 0.0,
            },
        ],
    )
    # No request finished: the percentile's plain mean; nothing reported: None, not 0.
    store_samples(idle, [{"ts": T0 + timedelta(seconds=s), "ttft_p95": float(s)} for s in (0, 20)])
    refresh_serving_rollups(now=T0 + timedelta(minutes=5), since=T0)

    def bucket(replica, resolution, ts=T0):
        return ServingRollup.objects.get(replica=replica, resolution=resolution, ts=ts)

    minute = bucket(busy, Resolution.MINUTE)
    assert (minute.n, minute.seconds) == (2, 60.0)
    assert (minute.requests_waiting_avg, minute.requests_waiting_max) == (4.0, 6.0)
    assert minute.ttft_p95_avg == pytest.approx((1 * 1 + 3 * 3) / 4) and minute.ttft_p95_max == 3.0
    assert (minute.requests_finished, minute.generation_tokens, minute.prompt_tokens) == (4.0, 50.0, None)
    hour = bucket(busy, Resolution.HOUR)
    assert (hour.n, hour.seconds, hour.requests_finished) == (3, 120.0, 4.0)
    assert hour.ttft_p95_avg == pytest.approx(2.5) and hour.ttft_p95_max == 9.0  # 9.0 weighs no request
    assert bucket(busy, Resolution.MINUTE, T0 + timedelta(minutes=1)).ttft_p95_avg == 9.0
    quiet = bucket(idle, Resolution.FIVE_MINUTES)
    assert (quiet.ttft_p95_avg, quiet.seconds, quiet.requests_waiting_avg, quiet.requests_finished) == (
        10.0,
        0.0,
        None,
        None,
    )
