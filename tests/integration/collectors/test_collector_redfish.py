"""Redfish collector over HTTP against DMTF's mockups served by a static Redfish server of the test's own."""

import json
import shutil

import pytest

from telemetry.collectors import redfish
from telemetry.collectors.common import CollectorError
from telemetry.models import Source

from .conftest import FIXTURES

MOCKUPS = FIXTURES / "redfish"


def bmc_source(url, **options):
    return Source(
        name="bmc",
        kind=Source.Kind.REDFISH,
        endpoint=url,
        timeout_s=2,
        username="admin",
        password="secret",
        options=options,
    )


def test_server_bmc_with_basic_auth(http_peer):
    http_peer.mockup(MOCKUPS / "rackmount1")
    http_peer.credentials = ("admin", "secret")
    batch = redfish.collect(bmc_source(http_peer.url))
    assert {(p.entity, p.metric): p.value for p in batch.point_readings} == {
        ("web483", "node_power"): 374.0,
        ("web483", "node_inlet_temp"): 24.8,
        ("web483", "node_fan"): 2400.0,
    }
    assert "/redfish/v1/Chassis/1U/EnvironmentMetrics" in http_peer.requests


def test_pdu_and_cdu_services(http_peer):
    http_peer.mockup(MOCKUPS / "pdu")
    pdu = redfish.collect(
        bmc_source(f"{http_peer.url}/redfish/v1", names={"/redfish/v1/PowerEquipment/RackPDUs/1": "R12-A"})
    )
    assert len(pdu.point_readings) == 14 and {p.entity_kind for p in pdu.point_readings} == {"pdu"}
    http_peer.mockup(MOCKUPS / "cooling-unit")
    cdu = redfish.collect(bmc_source(http_peer.url))
    assert ("cooling_load", 25480.0) in {(p.metric, p.value) for p in cdu.point_readings}


def test_leak_reported_by_a_live_cdu(http_peer, tmp_path):
    tree = shutil.copytree(MOCKUPS / "cooling-unit", tmp_path / "cdu")
    leak_file = tree / "ThermalEquipment/CDUs/1/LeakDetection/index.json"
    body = json.loads(leak_file.read_text())
    body["LeakDetectorGroups"][0]["Detectors"][1]["DetectorState"] = "Warning"
    leak_file.write_text(json.dumps(body))
    http_peer.mockup(tree)
    batch = redfish.collect(bmc_source(http_peer.url + "/leaky"))  # a scope of its own for the change tracker
    assert [(e.kind, e.detail) for e in batch.events if e.kind == "leak"] == [("leak", "Fluid Level Overflow: Warning")]


def test_bad_answers_name_the_source_and_the_resource(http_peer, tmp_path):
    http_peer.credentials = ("admin", "other")
    http_peer.mockup(MOCKUPS / "rackmount1")
    with pytest.raises(CollectorError, match=r"bmc \(http://127.0.0.1:\d+\).*refused the credentials \(HTTP 401\)"):
        redfish.collect(bmc_source(http_peer.url))
    http_peer.credentials = None

    tree = shutil.copytree(MOCKUPS / "rackmount1", tmp_path / "broken")
    (tree / "Chassis/1U/Power/index.json").write_text('{"PowerControl": [')
    (tree / "Chassis/1U/EnvironmentMetrics/index.json").unlink()
    http_peer.mockup(tree)
    with pytest.raises(CollectorError, match=r"/redfish/v1/Chassis/1U/Power did not answer JSON"):
        redfish.collect(bmc_source(http_peer.url))

    http_peer.text("/redfish/v1", "oops", status=500)
    with pytest.raises(CollectorError, match=r"/redfish/v1 answered HTTP 500"):
        redfish.collect(bmc_source(http_peer.url))

    http_peer.routes.pop("/redfish/v1")
    http_peer.slow("/redfish/v1", 3)
    source = bmc_source(http_peer.url)
    source.timeout_s = 1
    with pytest.raises(CollectorError, match="no answer .* within 1 s"):
        redfish.collect(source)


def test_missing_optional_resources_are_tolerated(http_peer, tmp_path):
    tree = shutil.copytree(MOCKUPS / "rackmount1", tmp_path / "sparse")
    for gone in ("Chassis/1U/ThermalSubsystem", "Chassis/1U/Thermal", "Chassis/1U/Sensors", "Systems/437XR1138R2"):
        shutil.rmtree(tree / gone)
    http_peer.mockup(tree)
    batch = redfish.collect(bmc_source(http_peer.url))
    # EnvironmentMetrics still gives power and fans (no inlet without the thermal resources); the chassis Id
    # names the node when the system (and its HostName) is gone.
    assert {(p.entity, p.metric, p.value) for p in batch.point_readings} == {
        ("1U", "node_power", 374.0),
        ("1U", "node_fan", 2100.0),
    }
