"""CSV import: preview and suggested mapping, unit conversion, per-row errors, chunked streaming with progress."""

from datetime import UTC, datetime

import pytest

from telemetry.collectors.csv_import import Mapping, MetricColumn, preview, read

BMS = """Timestamp,Unit,Supply Temp (°F),Return Temp (°F),Flow (gpm),Heat Load (kW)
2025-06-01 00:00:00,CRAH-01,64.4,82.1,210,180.5
2025-06-01 00:05:00,CRAH-01,64.6,82.4,211,181.2
2025-06-01 00:05:00,CRAH-02,65.0,n/a,198,170.0
not-a-date,CRAH-02,65.0,80,198,170.0
2025-06-01 00:10:00,,65.0,80,198,170.0
"""


@pytest.fixture
def bms(tmp_path):
    path = tmp_path / "bms.csv"
    path.write_text(BMS, encoding="utf-8")
    return path


def all_chunks(path, mapping, **kwargs):
    chunks = list(read(path, mapping, **kwargs))
    return [r for c in chunks for r in c.batch.point_readings], [e for c in chunks for e in c.errors]


def test_preview_suggests_columns_units_and_entity(bms):
    p = preview(bms, n=3)
    assert p.columns[:2] == ["Timestamp", "Unit"] and len(p.rows) == 3
    assert p.mapping.timestamp_column == "Timestamp" and p.mapping.entity_column == "Unit"
    assert p.mapping.metrics == {
        "Supply Temp (°F)": MetricColumn("cooling_supply_temp", "F"),
        "Return Temp (°F)": MetricColumn("cooling_return_temp", "F"),
        "Flow (gpm)": MetricColumn("cooling_flow", "gpm"),
        "Heat Load (kW)": MetricColumn("cooling_load", "kW"),
    }


def test_read_converts_units_and_keeps_everything_valid(bms):
    readings, errors = all_chunks(bms, preview(bms).mapping, chunksize=2)
    first = {r.metric: r.value for r in readings if r.ts == datetime(2025, 6, 1, tzinfo=UTC) and r.entity == "CRAH-01"}
    assert first == pytest.approx(
        {
            "cooling_supply_temp": 18.0,
            "cooling_return_temp": 27.8333,
            "cooling_flow": 794.936,
            "cooling_load": 180500.0,
        },
        rel=1e-4,
    )
    assert {r.entity_kind for r in readings} == {"cooling"}
    # 3 good rows x 4 metrics, less CRAH-02's unreadable return temperature.
    assert len(readings) == 11
    assert [(e.line, e.column, e.message) for e in sorted(errors, key=lambda e: e.line)] == [
        (4, "Return Temp (°F)", "'n/a' is not a number"),
        (5, "Timestamp", "cannot read 'not-a-date' as a timestamp"),
        (6, "Unit", "empty entity name"),
    ]


def test_fixed_entity_epoch_timestamps_and_progress(tmp_path):
    path = tmp_path / "site.csv"
    rows = ["epoch;OAT degF;Facility kW"] + [f"{1717200000 + 60 * i};{50 + i % 30};{900 + i}" for i in range(10_000)]
    path.write_text("\n".join(rows) + "\n")
    p = preview(path)
    assert p.delimiter == ";"
    mapping = Mapping("epoch", p.mapping.metrics, timestamp_format="epoch_s", entity="dc1", delimiter=";")
    seen = []
    readings, errors = all_chunks(path, mapping, chunksize=3000, progress=lambda *a: seen.append(a))
    assert errors == [] and len(readings) == 20_000
    assert [s[0] for s in seen] == [3000, 6000, 9000, 10_000]
    assert seen[-1][1] == seen[-1][2] == path.stat().st_size
    facility = [r for r in readings if r.metric == "facility_power"]
    assert facility[0].value == 900_000.0 and facility[0].entity_kind == "site"
    assert facility[0].ts == datetime.fromtimestamp(1717200000, UTC)


def test_naive_timestamps_in_a_local_timezone(tmp_path):
    path = tmp_path / "local.csv"
    path.write_text("time,name,inlet_c\n01.06.2025 14:00,node-1,24.5\n")
    mapping = Mapping(
        "time",
        {"inlet_c": MetricColumn("node_inlet_temp", "C")},
        timestamp_format="%d.%m.%Y %H:%M",
        timezone="Europe/Berlin",
        entity_column="name",
    )
    [reading], errors = all_chunks(path, mapping)
    assert errors == [] and reading.ts == datetime(2025, 6, 1, 12, tzinfo=UTC) and reading.entity_kind == "node"


def test_a_mapping_that_cannot_apply_says_why(bms):
    mapping = Mapping("Time", {"Flow (gpm)": MetricColumn("cooling_flow", "kW")}, entity_column="Unit")
    with pytest.raises(ValueError) as exc:
        list(read(bms, mapping))
    assert "column 'Time' is not in the file" in str(exc.value)
    assert "unit 'kW' cannot be converted to L/min for cooling_flow" in str(exc.value)


def test_empty_and_garbage_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="not a readable CSV file"):
        preview(empty)
    with pytest.raises(ValueError, match="empty"):
        list(read(empty, Mapping("t", {})))
