"""record -> replay round trip on the fake binding: same readings, setup, events, strictness, redaction."""

from __future__ import annotations

import pynvml
import pytest

from telemetry.collectors import nvml as col
from telemetry.models.inventory import gpu_uuid_validator
from tests.unit.collectors.nvml.fake_nvml import T0, FakeNvml


def _record_fake(tmp_path, rounds=3, queue=()):
    fake = FakeNvml()
    fake._queued = list(queue)
    out = tmp_path / "rec.jsonl"
    ticks = iter(range(100))
    col.record(
        fake,
        rounds=rounds,
        interval=0.0,
        out=out,
        note="fake",
        clock=lambda: T0.replace(second=next(ticks)),
        echo=lambda s: None,
    )
    return fake, col.NvmlRecording.load(out)


def test_record_then_replay_gives_the_same_readings(tmp_path):
    _, rec = _record_fake(tmp_path)
    assert rec.header["driver"] == "580.159.04" and len(rec.rounds) == 3
    assert [g["uuid"] for g in rec.header["inventory"]] == ["GPU-fake-0", "GPU-fake-1"]
    for i in range(3):
        replay = col.ReplayNvml(rec, round=i)
        ts = rec.round_ts(i)
        assert col.read_gpus(replay, ts) == rec.recorded_readings(i)
    # energy was a counter on the fake: the replay reproduces each round's own value
    energies = [col.read_gpus(col.ReplayNvml(rec, round=i), T0)[0].values["gpu_energy"] for i in range(3)]
    assert energies == sorted(energies) and len(set(energies)) == 3
    # the missing binding function was recorded as missing and is missing in the replay
    assert not hasattr(col.ReplayNvml(rec, round=0), "nvmlDeviceGetCurrentClocksEventReasons")
    calls = rec.rounds[0]["calls"]
    assert {"fn": "nvmlDeviceGetCurrentClocksEventReasons", "missing": True} in calls
    assert any(c.get("err_name") == "NVMLError_NotSupported" for c in calls)


def test_replay_of_setup_gives_inventory_and_event_set(tmp_path):
    _, rec = _record_fake(tmp_path)
    replay = col.ReplayNvml(rec, round=col.SETUP)
    assert [g.uuid for g in col.read_inventory(replay)] == ["GPU-fake-0", "GPU-fake-1"]
    es = col.open_event_set(replay)
    assert es.registered == rec.header["event_set"]["registered"]


def test_recorded_events_replay(tmp_path):
    xid = pynvml.nvmlEventTypeXidCriticalError
    _, rec = _record_fake(tmp_path, rounds=2, queue=[(1, xid, 31), (0, xid, 13)])
    assert [(e["kind"], e["code"], e["gpu_uuid"]) for e in rec.rounds[0]["events"]] == [
        ("xid", 31, "GPU-fake-1"),
        ("xid", 13, "GPU-fake-0"),
    ]
    assert rec.rounds[1]["events"] == []
    es = col.open_event_set(col.ReplayNvml(rec, round=col.SETUP))
    events = col.poll_events(col.ReplayNvml(rec, round=0), es, 0, clock=lambda: T0)
    assert [(e.kind, e.code, e.gpu_uuid) for e in events] == [("xid", 31, "GPU-fake-1"), ("xid", 13, "GPU-fake-0")]
    assert col.poll_events(col.ReplayNvml(rec, round=1), es, 0) == []


def test_replay_is_strict(tmp_path):
    _, rec = _record_fake(tmp_path, rounds=1)
    replay = col.ReplayNvml(rec, round=0)
    with pytest.raises(col.ReplayMissError, match=r"nvmlDeviceGetFanSpeed\(.*not in record 0"):
        replay.nvmlDeviceGetFanSpeed(replay.nvmlDeviceGetHandleByIndex(0))
    with pytest.raises(col.ReplayMissError, match="nvmlDeviceGetHandleByIndex"):
        replay.nvmlDeviceGetHandleByIndex(7)  # other arguments than recorded
    with pytest.raises(col.ReplayMissError):  # inventory calls live in the setup record only
        col.read_inventory(replay)
    assert not issubclass(col.ReplayMissError, pynvml.NVMLError)  # never taken for "missing"


def test_redacted_recording_is_consistent(tmp_path):
    fake = FakeNvml()
    out = tmp_path / "r.jsonl"
    col.record(fake, rounds=2, interval=0.0, out=out, redact=True, echo=lambda s: None)
    text = out.read_text()
    assert "GPU-fake-0" not in text and "1650000000001" not in text
    rec = col.NvmlRecording.load(out)
    uuid0 = rec.header["inventory"][0]["uuid"]
    assert uuid0.startswith(col.REDACTED_UUID_PREFIX)
    gpu_uuid_validator(uuid0)  # still a UUID the inventory accepts
    assert col.read_gpus(col.ReplayNvml(rec, round=1), T0)[0].gpu_uuid == uuid0
