"""The recording of a real H100 (tests/fixtures/nvml-recording) replayed through the NVML collector and
the one ingest path into PostgreSQL: what the GPU reported is what the database holds, once."""

from datetime import timedelta
from pathlib import Path

import pytest

from telemetry.collectors import nvml
from telemetry.ingest import ingest
from telemetry.models import Event, Gpu, GpuModel, GpuSample
from telemetry.vocabulary import Batch

RECORDING = Path(__file__).resolve().parents[2] / "fixtures" / "nvml-recording" / "h100-load.jsonl"


def replayed_batch(recording):
    events = nvml.open_event_set(nvml.ReplayNvml(recording, round=nvml.SETUP))
    batch = Batch()
    for i in range(len(recording.rounds)):
        gpu = nvml.ReplayNvml(recording, round=i)
        ts = recording.round_ts(i)
        batch.gpu_readings += nvml.read_gpus(gpu, ts)
        batch.events += nvml.poll_events(gpu, events, recording.header["poll_timeout_ms"], clock=lambda ts=ts: ts)
    return batch


def test_real_h100_recording_lands_in_the_database_once(world):
    recording = nvml.NvmlRecording.load(RECORDING)
    (inventory,) = recording.header["inventory"]
    # The recording's UUID is a redacted alias; register it as the node's second GPU.
    gpu = Gpu.objects.create(
        node=world.a.node, index=1, uuid=inventory["uuid"], model=GpuModel.objects.get(name="H100 SXM 80GB")
    )
    batch = replayed_batch(recording)
    now = recording.round_ts(len(recording.rounds) - 1) + timedelta(minutes=1)

    first = ingest(world.a.org, batch, now=now)
    assert (first.accepted, first.rejected) == (len(batch), 0), first.errors
    again = ingest(world.a.org, batch, now=now)
    assert (again.accepted, again.duplicate) == (0, len(batch))

    stored = list(GpuSample.objects.filter(gpu=gpu).order_by("ts"))
    assert [s.ts for s in stored] == [r.ts for r in batch.gpu_readings]
    for sample, reading in zip(stored, batch.gpu_readings, strict=True):
        for metric, value in reading.values.items():
            assert getattr(sample, metric) == pytest.approx(value, rel=1e-6), metric  # float4 columns
        assert sample.gpu_retired_pages is None  # Hopper reports no retired pages: missing, not zero
    assert max(s.gpu_power for s in stored) > 600  # the load reached the 700 W power cap
    assert list(Event.objects.filter(gpu=gpu).values_list("kind", "code")) == [("xid", 31)]
