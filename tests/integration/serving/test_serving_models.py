"""Deployments, replicas and serving samples on the real database: validation, scoping, re-sent samples."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from telemetry.models import Deployment, GpuModel, Replica, ServingSample, Source
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
