"""Daily partitions on PostgreSQL: created ahead, expired ones dropped whole with their rows."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection

from telemetry import partitions, rollups
from telemetry.ingest import ingest
from telemetry.models import GpuSample
from telemetry.vocabulary import Batch, GpuReading

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions exist on PostgreSQL only")


def test_partitions_are_created_ahead_and_expired_ones_dropped(world):
    today = date(2025, 3, 10)
    created = partitions.create_ahead(today, 3)
    assert "telemetry_gpusample_p20250309" in created and "telemetry_sample_p20250313" in created
    assert partitions.create_ahead(today, 3) == []  # idempotent
    days = [d for _, d in partitions.list_partitions("telemetry_gpusample")]
    assert days == [today + timedelta(days=n) for n in range(-1, 4)]

    for day in (9, 10, 11):
        ts = datetime(2025, 3, day, 12, tzinfo=UTC)
        ingest(world.a.org, Batch(gpu_readings=[GpuReading(world.a.gpu.uuid, ts, {"gpu_util": day})]), now=ts)
    removed = rollups.apply_retention(now=datetime(2025, 3, 17, 6, tzinfo=UTC))  # raw 7 days: before 2025-03-10
    assert removed["partitions"] == ["telemetry_gpusample_p20250309", "telemetry_sample_p20250309"]
    assert sorted(GpuSample.objects.values_list("gpu_util", flat=True)) == [10, 11]
