"""APC PowerNet OIDs mapped to PDU power, on the values recorded from three real APC Rack PDUs."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from telemetry.collectors.snmp import PROFILES, SYS_NAME, Profile, parse_pdu, pick_profile

RECORDINGS = Path(__file__).parents[2] / "fixtures" / "snmp"
TS = datetime(2025, 6, 1, tzinfo=UTC)


def recorded_integers(name):
    """The INTEGER (2) and Gauge32 (66) cells of an .snmprec recording: OID|type|value."""
    values = {}
    for line in (RECORDINGS / f"{name}.snmprec").read_text().splitlines():
        oid, kind, value = line.split("|", 2)
        if kind in ("2", "66"):
            values[oid] = int(value)
    return values


def test_metered_by_outlet_pdu():
    readings = parse_pdu(recorded_integers("apc-8641"), TS, profile=PROFILES["apc"], name="R1-A")
    by_entity = {r.entity: r.value for r in readings}
    assert by_entity["R1-A"] == 1210.0  # rPDU2DeviceStatusPower 121 (0.01 kW)
    assert by_entity["R1-A/phase/1"] == 1220.0
    assert by_entity["R1-A/outlet/1"] == 163.0 and by_entity["R1-A/outlet/24"] == 0.0
    assert len([e for e in by_entity if "/outlet/" in e]) == 24
    assert {r.metric for r in readings} == {"pdu_power"} and {r.entity_kind for r in readings} == {"pdu"}


def test_unmetered_pdu_gives_no_power():
    # AP7902B reports -1 ("not available") for device and phase power.
    assert parse_pdu(recorded_integers("apc-7902b"), TS, profile=PROFILES["apc"], name="R2-A") == []


def test_profile_by_sys_object_id():
    assert pick_profile("1.3.6.1.4.1.318.1.3.4.6") == "apc"
    assert pick_profile("1.3.6.1.4.1.534.6.6.7") == "eaton"
    with pytest.raises(ValueError, match="no OID profile for sysObjectID '1.3.6.1.4.1.9.1.1'"):
        pick_profile("1.3.6.1.4.1.9.1.1")


def test_index_suffix_selects_raritan_active_power_rows():
    base = "1.3.6.1.4.1.13742.6.5.2.3.1.4"
    values = {f"{base}.1.1.5": 3120, f"{base}.1.1.4": 230, SYS_NAME: 0}
    readings = parse_pdu(values, TS, profile=PROFILES["raritan"], name="px3")
    assert [(r.entity, r.value) for r in readings] == [("px3", 3120.0)]


def test_custom_profile():
    profile = Profile("", {"outlet": PROFILES["eaton"].columns["outlet"]})
    values = {"1.3.6.1.4.1.534.6.6.7.6.5.1.3.0.2": 410, "1.3.6.1.4.1.534.6.6.7.6.5.1.3.0.1": 120}
    assert [(r.entity, r.value) for r in parse_pdu(values, TS, profile=profile, name="e")] == [
        ("e/outlet/0.1", 120.0),
        ("e/outlet/0.2", 410.0),
    ]
