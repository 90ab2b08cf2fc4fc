"""Redfish readers on DMTF's mockups (tests/fixtures/redfish), read straight from the folders."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from telemetry.collectors.common import ChangeTracker
from telemetry.collectors.redfish import mockup_getter, read_service
from telemetry.vocabulary import POINT_METRICS

MOCKUPS = Path(__file__).parents[2] / "fixtures" / "redfish"
TS = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def points(batch):
    return {(p.entity_kind, p.entity, p.metric): p.value for p in batch.point_readings}


def hiding(get, *prefixes):
    """A getter for a BMC that lacks some resources (answers 404 for them)."""
    return lambda path: None if path.startswith(prefixes) else get(path)


def test_rack_server_prefers_the_newer_resources():
    batch = read_service(mockup_getter(MOCKUPS / "rackmount1"), TS)
    assert points(batch) == {
        ("node", "web483", "node_power"): 374.0,  # EnvironmentMetrics.PowerWatts (Power says 344)
        ("node", "web483", "node_inlet_temp"): 24.8,  # ThermalMetrics Intake (Thermal says 25)
        ("node", "web483", "node_fan"): 2400.0,  # fastest of ThermalSubsystem/Fans SpeedRPM
    }


def test_rack_server_falls_back_to_chassis_power_and_thermal():
    get = hiding(
        mockup_getter(MOCKUPS / "rackmount1"),
        "/redfish/v1/Chassis/1U/EnvironmentMetrics",
        "/redfish/v1/Chassis/1U/ThermalSubsystem",
    )
    assert points(read_service(get, TS)) == {
        ("node", "web483", "node_power"): 344.0,  # Power.PowerControl[0].PowerConsumedWatts
        ("node", "web483", "node_inlet_temp"): 25.0,  # Thermal "Chassis Intake Temp"
        ("node", "web483", "node_fan"): 2100.0,  # Thermal.Fans in RPM
    }


def test_server_with_only_sensors_reads_total_power_and_intake():
    get = hiding(
        mockup_getter(MOCKUPS / "liquid-cooled-server"),
        "/redfish/v1/Chassis/1U/EnvironmentMetrics",
        "/redfish/v1/Chassis/1U/ThermalSubsystem",
    )
    assert points(read_service(get, TS)) == {
        ("node", "web483", "node_power"): 374.0,  # Sensors/TotalPower
        ("node", "web483", "node_inlet_temp"): 24.8,  # Sensors/IntakeTemp
    }


def test_hostname_option_names_the_node():
    batch = read_service(mockup_getter(MOCKUPS / "liquid-cooled-server"), TS, hostname="gpu-node-017")
    assert {p.entity for p in batch.point_readings} == {"gpu-node-017"}


def test_rack_pdu_total_mains_branches_and_outlets():
    values = points(read_service(mockup_getter(MOCKUPS / "pdu"), TS))
    assert values[("pdu", "RackPDU1", "pdu_power")] == 6438.0  # Metrics.PowerWatts
    assert values[("pdu", "RackPDU1/branch/A", "pdu_power")] == 937.4
    assert values[("pdu", "RackPDU1/outlet/A1", "pdu_power")] == 197.4
    # Mains carry no PowerWatts in this mockup: the sum of its line-to-neutral phases.
    assert values[("pdu", "RackPDU1/mains/AC1", "pdu_power")] == pytest.approx(198.4 + 231.5 + 58.1)
    assert len([k for k in values if "/outlet/" in k[1]]) == 9  # A4, A5 report no power
    assert {k[2] for k in values} <= set(POINT_METRICS)


def test_pdu_name_from_options():
    batch = read_service(mockup_getter(MOCKUPS / "pdu"), TS, names={"/redfish/v1/PowerEquipment/RackPDUs/1": "R12-A"})
    assert ("pdu", "R12-A", "pdu_power") in points(batch)


def test_cdu_loops_heat_load_and_failed_pump():
    batch = read_service(
        mockup_getter(MOCKUPS / "cooling-unit"), TS, names={"/redfish/v1/ThermalEquipment/CDUs/1": "CDU-4"}
    )
    assert points(batch) == {
        ("cooling", "CDU-4", "cooling_supply_temp"): 30.0,  # secondary (rack-side) loop
        ("cooling", "CDU-4", "cooling_return_temp"): 48.0,
        ("cooling", "CDU-4", "cooling_flow"): 42.0,
        ("cooling", "CDU-4/primary/1", "cooling_supply_temp"): 30.0,
        ("cooling", "CDU-4/primary/1", "cooling_return_temp"): 40.0,
        ("cooling", "CDU-4/primary/1", "cooling_flow"): 42.0,
        ("cooling", "CDU-4", "cooling_load"): 25480.0,  # PrimaryHeatLoad 25.48 kW -> W
    }
    assert [(e.kind, e.entity) for e in batch.events] == [("cooling_fault", "CDU-4")]
    assert "CDU Pump 2" in batch.events[0].detail


def test_leak_detector_raises_an_event_once_per_change():
    base = mockup_getter(MOCKUPS / "cooling-unit")
    state = {"DetectorState": "OK"}

    def get(path):
        body = base(path)
        if path == "/redfish/v1/ThermalEquipment/CDUs/1/LeakDetection":
            body["LeakDetectorGroups"][0]["Detectors"][0]["DetectorState"] = state["DetectorState"]
        return body

    tracker = ChangeTracker()
    leaks = lambda: [e for e in read_service(get, TS, leak_tracker=tracker).events if e.kind == "leak"]  # noqa: E731
    assert leaks() == []
    state["DetectorState"] = "Critical"
    [event] = leaks()
    assert event.detail == "Moisture Leak Detector: Critical"
    assert event.entity == "Rack #4 Cooling Distribution Unit"
    assert leaks() == []  # still leaking: no new event
    state["DetectorState"] = "OK"
    assert leaks() == []


def test_not_a_redfish_service():
    with pytest.raises(ValueError, match="not a Redfish service root"):
        read_service(lambda path: None, TS)
