"""dcgm-exporter / node-exporter expositions mapped to the vocabulary (fixtures in tests/fixtures/prometheus)."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from telemetry.collectors.common import ChangeTracker
from telemetry.collectors.prometheus import is_dcgm_blank, parse_exposition
from telemetry.vocabulary import GPU_METRICS, POINT_METRICS

FIXTURES = Path(__file__).parents[2] / "fixtures" / "prometheus"
TS = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def read(name):
    return (FIXTURES / name).read_text()


def by_uuid(batch):
    return {r.gpu_uuid: r.values for r in batch.gpu_readings}


def test_dcgm_33_h100_values_are_converted_to_vocabulary_units():
    batch = parse_exposition(read("dcgm-exporter-3.3-h100-8gpu.prom"), TS)
    gpus = by_uuid(batch)
    assert len(gpus) == 8
    assert all(set(values) <= set(GPU_METRICS) for values in gpus.values())
    degraded = gpus["GPU-6ecace3c-0490-ca26-561d-2417eb837ba8"]
    assert degraded["gpu_mem_used"] == 78611 * 1024 * 1024  # MiB -> bytes
    assert degraded["gpu_energy"] == pytest.approx(986286437.646)  # 986286437646 mJ -> J
    assert degraded["gpu_power"] == pytest.approx(538.614)
    assert degraded["gpu_ecc_sbe"] == 112 and degraded["gpu_ecc_dbe"] == 2
    assert degraded["gpu_retired_pages"] == 3  # RETIRED_SBE 1 + RETIRED_DBE 2
    assert degraded["gpu_remap_pending"] == 1 and degraded["gpu_remap_failure"] == 0
    assert degraded["gpu_pcie_replay"] == 14 and degraded["gpu_throttle_reasons"] == 40
    assert {r.ts for r in batch.gpu_readings} == {TS}


def test_dcgm_not_supported_sentinels_are_dropped():
    gpus = by_uuid(parse_exposition(read("dcgm-exporter-3.3-h100-8gpu.prom"), TS))
    # GPU 6 reports ROW_REMAP_PENDING as DCGM_INT32_NOT_SUPPORTED (2147483634): absent, not a value.
    gpu6 = gpus["GPU-0dd00e8f-a212-f8fc-794b-aead45c2c169"]
    assert "gpu_remap_pending" not in gpu6 and "gpu_temp" in gpu6
    t4 = by_uuid(parse_exposition(read("dcgm-exporter-2.4-t4-2gpu.prom"), TS))
    assert len(t4) == 2
    assert all("gpu_mem_temp" not in values for values in t4.values())  # 9223372036854775794 on a T4


@pytest.mark.parametrize(
    ("value", "kind", "blank"),
    [
        (9223372036854775794, "i64", True),
        (9.223372036854776e18, "i32", True),
        (2147483632, "i32", True),
        (2147483636, "i32", False),
        (2147483634, "i64", False),  # a real energy count may pass through that number
        (140737488355330.0, "f64", True),
        (float("nan"), "f64", True),
        (540.2, "f64", False),
    ],
)
def test_blank_sentinels_per_value_type(value, kind, blank):
    assert is_dcgm_blank(value, kind) is blank


def test_dcgm_2x_spaced_label_separators_are_read():
    t4 = by_uuid(parse_exposition(read("dcgm-exporter-2.4-t4-2gpu.prom"), TS))
    assert {round(v["gpu_power"], 2) for v in t4.values()} == {6.35, 67.39}


def test_xid_becomes_an_event_only_when_it_changes():
    text = read("dcgm-exporter-3.3-h100-8gpu.prom")
    tracker = ChangeTracker()
    first = parse_exposition(text, TS, xid_tracker=tracker)
    assert [(e.kind, e.code, e.gpu_uuid) for e in first.events] == [
        ("xid", 48, "GPU-6ecace3c-0490-ca26-561d-2417eb837ba8")
    ]
    assert parse_exposition(text, TS, xid_tracker=tracker).events == []  # same last XID: nothing new
    changed = "\n".join(
        line.removesuffix(" 48") + " 79" if line.startswith('DCGM_FI_DEV_XID_ERRORS{gpu="3"') else line
        for line in text.splitlines()
    )
    assert [e.code for e in parse_exposition(changed, TS, xid_tracker=tracker).events] == [79]


def test_node_exporter_power_meter_and_fans():
    batch = parse_exposition(read("node-exporter-1.5.prom"), TS, node="gpu-node-017")
    points = {(p.entity, p.metric): p.value for p in batch.point_readings}
    assert points == {("gpu-node-017", "node_power"): 4312.0, ("gpu-node-017", "node_fan"): 6120.0}
    assert batch.gpu_readings == [] and batch.events == []


def test_ipmi_exporter_power_inlet_and_fans():
    batch = parse_exposition(read("ipmi-exporter-1.8.prom"), TS, node="n1")
    points = {p.metric: p.value for p in batch.point_readings}
    assert points == {"node_power": 5120.0, "node_fan": 8820.0, "node_inlet_temp": 24.0}
    assert set(points) <= set(POINT_METRICS)


def test_garbage_exposition_raises_value_error():
    with pytest.raises(ValueError):
        parse_exposition("<html><body>502 Bad Gateway</body></html>\n", TS)
