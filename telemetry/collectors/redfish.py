"""Redfish collector: servers (node power, inlet temperature, fans), rack PDUs and liquid-cooling CDUs.

Public API
    collect(source, *, now=None) -> Batch        walk the service at source.endpoint over HTTP
    read_service(get, ts, *, hostname="", names=None, leak_tracker=None, scope="") -> Batch
    read_node(get, chassis, ts, *, hostname="") -> list[PointReading]
    read_rack_pdu(get, pdu, ts, *, name="") -> list[PointReading]
    read_cdu(get, cdu, ts, *, name="", leak_tracker=None, scope="") -> (list[PointReading], list[EventReading])
    mockup_getter(root) -> get                   read a DMTF mockup folder instead of HTTP (tests)

``get(path) -> dict | None`` fetches one resource by its ``@odata.id``; None means "not there" (404), which every
optional resource may be. Readers prefer the newer resources and fall back to the older ones:
    node power    Chassis EnvironmentMetrics.PowerWatts -> Power.PowerControl[].PowerConsumedWatts -> Sensors
    inlet         ThermalSubsystem/ThermalMetrics Intake -> Thermal.Temperatures (PhysicalContext Intake) -> Sensors
    fans          ThermalSubsystem/Fans SpeedRPM -> Thermal.Fans (RPM) -> EnvironmentMetrics.FanSpeedsPercent
A server's fans are reported as one ``node_fan`` value, the fastest fan (the one working hardest).

``source.options``: ``hostname`` (the node's name for a server's BMC; default the system's HostName, else the chassis
Id), ``names`` ({"<@odata.id of a PDU or CDU>": "name in the inventory"}; default: the resource's Name).
Entities: a PDU as ``<name>`` with its circuits as ``<name>/mains/<Id>``, ``<name>/branch/<Id>``,
``<name>/outlet/<Id>``; a CDU as ``<name>`` (rack-side loop and heat removed) and ``<name>/primary/<Id>``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests

from telemetry.vocabulary import Batch, EventReading, PointReading

from .common import ChangeTracker, CollectorError, http_get_json, source_label

Getter = Callable[[str], dict | None]
ROOT = "/redfish/v1"


def _reading(obj, *keys):
    """obj[k1][k2]...['Reading'] as a float, or None when any step is missing or not a number."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    if isinstance(obj, dict):
        obj = obj.get("Reading")
    return float(obj) if isinstance(obj, int | float) and not isinstance(obj, bool) else None


def _link(resource: dict | None, key: str) -> str | None:
    value = (resource or {}).get(key)
    return value.get("@odata.id") if isinstance(value, dict) else None


def _members(get: Getter, collection: str | None) -> list[str]:
    body = get(collection) if collection else None
    return [m["@odata.id"] for m in (body or {}).get("Members", []) if isinstance(m, dict) and "@odata.id" in m]


def _number(value):
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def read_node(get: Getter, chassis: dict, ts: datetime, *, hostname: str) -> list[PointReading]:
    """node_power (W), node_inlet_temp (C) and node_fan (RPM, fastest fan) of one server chassis."""
    env = get(_link(chassis, "EnvironmentMetrics")) if _link(chassis, "EnvironmentMetrics") else None
    thermal_sub = get(_link(chassis, "ThermalSubsystem")) if _link(chassis, "ThermalSubsystem") else None
    power_old = get(_link(chassis, "Power")) if _link(chassis, "Power") else None
    thermal_old = get(_link(chassis, "Thermal")) if _link(chassis, "Thermal") else None

    power = _reading(env, "PowerWatts")
    if power is None and power_old:
        consumed = [_number(c.get("PowerConsumedWatts")) for c in power_old.get("PowerControl", [])]
        power = next((c for c in consumed if c is not None), None)

    inlet = None
    if thermal_sub:
        metrics = get(_link(thermal_sub, "ThermalMetrics")) if _link(thermal_sub, "ThermalMetrics") else None
        inlet = _reading(metrics, "TemperatureSummaryCelsius", "Intake")
    if inlet is None and thermal_old:
        intakes = [t for t in thermal_old.get("Temperatures", []) if t.get("PhysicalContext") == "Intake"]
        inlet = next((_number(t.get("ReadingCelsius")) for t in intakes if _number(t.get("ReadingCelsius"))), None)

    fans = []
    if thermal_sub:
        for path in _members(get, _link(thermal_sub, "Fans")):
            rpm = _number(((get(path) or {}).get("SpeedPercent") or {}).get("SpeedRPM"))
            if rpm is not None:
                fans.append(rpm)
    if not fans and thermal_old:
        fans = [_number(f.get("Reading")) for f in thermal_old.get("Fans", []) if f.get("ReadingUnits") == "RPM"]
        fans = [f for f in fans if f is not None]
    if not fans and env:
        fans = [_number(f.get("SpeedRPM")) for f in env.get("FanSpeedsPercent", []) if _number(f.get("SpeedRPM"))]

    if power is None or inlet is None:
        sensor_power, sensor_inlet = _from_sensors(get, _link(chassis, "Sensors"))
        power = power if power is not None else sensor_power
        inlet = inlet if inlet is not None else sensor_inlet

    readings = []
    for metric, value in (("node_power", power), ("node_inlet_temp", inlet), ("node_fan", max(fans, default=None))):
        if value is not None:
            readings.append(PointReading("node", hostname, metric, ts, value))
    return readings


def _from_sensors(get: Getter, collection: str | None):
    """Total power and intake temperature from a Sensors collection (servers without EnvironmentMetrics)."""
    power = inlet = None
    for path in _members(get, collection):
        sensor = get(path) or {}
        value = _number(sensor.get("Reading"))
        if value is None:
            continue
        if power is None and sensor.get("ReadingType") == "Power" and sensor.get("ElectricalContext") == "Total":
            power = value if sensor.get("ReadingUnits", "W") == "W" else value * 1000  # kW on large chassis
        elif inlet is None and sensor.get("PhysicalContext") == "Intake" and sensor.get("ReadingUnits") == "Cel":
            inlet = value
    return power, inlet


def _circuit_power(circuit: dict) -> float | None:
    total = _reading(circuit, "PowerWatts")
    if total is not None:
        return total
    phases = circuit.get("PolyPhasePowerWatts") or {}
    to_neutral = [_reading(v) for k, v in phases.items() if k.endswith("ToNeutral")]
    line_to_line = [_reading(v) for k, v in phases.items() if not k.endswith("ToNeutral")]
    for readings in (to_neutral, line_to_line):
        readings = [r for r in readings if r is not None]
        if readings:
            return sum(readings)
    return None


def read_rack_pdu(get: Getter, pdu: dict, ts: datetime, *, name: str = "") -> list[PointReading]:
    """pdu_power (W) of a rack PDU and of each of its mains, branch circuits and outlets."""
    name = name or pdu.get("Name") or pdu.get("Id", "")
    readings = []
    total = _reading(get(_link(pdu, "Metrics")) if _link(pdu, "Metrics") else None, "PowerWatts")
    parts = []
    for key, label in (("Mains", "mains"), ("Branches", "branch"), ("Outlets", "outlet")):
        for path in _members(get, _link(pdu, key)):
            circuit = get(path) or {}
            watts = _circuit_power(circuit)
            if watts is not None:
                parts.append((label, watts))
                cid = circuit.get("Id") or path.rsplit("/", 1)[-1]
                readings.append(PointReading("pdu", f"{name}/{label}/{cid}", "pdu_power", ts, watts))
    if total is None:  # no summary metrics: the mains carry everything the PDU draws
        mains = [w for label, w in parts if label == "mains"]
        total = sum(mains) if mains else None
    if total is not None:
        readings.insert(0, PointReading("pdu", name, "pdu_power", ts, total))
    return readings


def read_cdu(
    get: Getter,
    cdu: dict,
    ts: datetime,
    *,
    name: str = "",
    leak_tracker: ChangeTracker | None = None,
    scope: str = "",
) -> tuple[list[PointReading], list[EventReading]]:
    """A CDU's loops (supply/return C, flow L/min), heat removed (kW -> W), own power; leaks and failed pumps.

    The rack-side (secondary) loop is what the IT equipment sees, so it is reported under the CDU's own name;
    the facility-side (primary) loop under ``<name>/primary/<Id>``. Heat removed is the primary side's total
    (falls back to the secondary side).
    """
    name = name or cdu.get("Name") or cdu.get("Id", "")
    points, events = [], []

    def loop(path, entity):
        connector = get(path) or {}
        for metric, key in (
            ("cooling_supply_temp", "SupplyTemperatureCelsius"),
            ("cooling_return_temp", "ReturnTemperatureCelsius"),
            ("cooling_flow", "FlowLitersPerMinute"),
        ):
            value = _reading(connector, key)
            if value is not None:
                points.append(PointReading("cooling", entity, metric, ts, value))
        return _reading(connector, "HeatRemovedkW")

    secondary = _members(get, _link(cdu, "SecondaryCoolantConnectors"))
    secondary_heat = [
        loop(path, name if len(secondary) == 1 else f"{name}/secondary/{path.rsplit('/', 1)[-1]}") for path in secondary
    ]
    primary_heat = [
        loop(path, f"{name}/primary/{path.rsplit('/', 1)[-1]}")
        for path in _members(get, _link(cdu, "PrimaryCoolantConnectors"))
    ]
    for heats in (primary_heat, secondary_heat):
        heats = [h for h in heats if h is not None]
        if heats:
            points.append(PointReading("cooling", name, "cooling_load", ts, sum(heats) * 1000))
            break
    own_power = _reading(
        get(_link(cdu, "EnvironmentMetrics")) if _link(cdu, "EnvironmentMetrics") else None, "PowerWatts"
    )
    if own_power is not None:
        points.append(PointReading("cooling", name, "cooling_power", ts, own_power))

    for path in _members(get, _link(cdu, "Pumps")):
        pump = get(path) or {}
        status = pump.get("Status") or {}
        failed = status.get("Health") == "Critical" or status.get("State") == "UnavailableOffline"
        key = ("pump", scope, path)
        if (leak_tracker.changed(key, failed) if leak_tracker else True) and failed:
            detail = f"{pump.get('Name') or path}: {status.get('State', '')} {status.get('Health', '')}".strip()
            events.append(EventReading("cooling_fault", ts, entity=name, detail=detail))

    leak = get(_link(cdu, "LeakDetection")) if _link(cdu, "LeakDetection") else None
    detectors = [d for g in (leak or {}).get("LeakDetectorGroups", []) for d in g.get("Detectors", [])]
    if leak and not detectors:
        detectors = [get(p) or {} for p in _members(get, _link(leak, "LeakDetectors"))]
    for detector in detectors:
        label = detector.get("DeviceName") or detector.get("Name") or detector.get("DataSourceUri", "detector")
        state = detector.get("DetectorState", "OK")
        leaking = state not in ("OK", "Absent", None)
        key = ("leak", scope, label)
        if (leak_tracker.changed(key, leaking) if leak_tracker else True) and leaking:
            events.append(EventReading("leak", ts, entity=name, detail=f"{label}: {state}"))
    return points, events


def read_service(
    get: Getter,
    ts: datetime,
    *,
    hostname: str = "",
    names: dict | None = None,
    leak_tracker: ChangeTracker | None = None,
    scope: str = "",
) -> Batch:
    """Everything the service at ``get`` exposes: servers, rack PDUs and CDUs."""
    root = get(ROOT)
    if not isinstance(root, dict) or "@odata.id" not in root and "RedfishVersion" not in root:
        raise ValueError(f"{ROOT} is not a Redfish service root")
    names = names or {}
    batch = Batch()
    systems = _members(get, _link(root, "Systems"))
    if systems:
        seen = set()
        for path in _members(get, _link(root, "Chassis")):
            chassis = get(path) or {}
            linked = [s["@odata.id"] for s in (chassis.get("Links") or {}).get("ComputerSystems", [])]
            if not linked:
                continue  # enclosures, GPU baseboards: not a server's own power/thermal view
            host = hostname or (get(linked[0]) or {}).get("HostName") or chassis.get("Id", path)
            for reading in read_node(get, chassis, ts, hostname=host):
                if (host, reading.metric) not in seen:  # a server with several chassis: the first that reports
                    seen.add((host, reading.metric))
                    batch.point_readings.append(reading)
    for path in _members(
        get, _link(get(_link(root, "PowerEquipment")) if _link(root, "PowerEquipment") else None, "RackPDUs")
    ):
        pdu = get(path) or {}
        batch.point_readings += read_rack_pdu(get, pdu, ts, name=names.get(path, ""))
    thermal_equipment = get(_link(root, "ThermalEquipment")) if _link(root, "ThermalEquipment") else None
    for path in _members(get, _link(thermal_equipment, "CDUs")):
        points, events = read_cdu(
            get, get(path) or {}, ts, name=names.get(path, ""), leak_tracker=leak_tracker, scope=scope
        )
        batch.point_readings += points
        batch.events += events
    return batch


def mockup_getter(root: Path) -> Getter:
    """Read a DMTF mockup folder: /redfish/v1/X -> root/X/index.json (None when absent)."""

    def get(path: str) -> dict | None:
        rel = path.split("#")[0].rstrip("/").removeprefix(ROOT).strip("/")
        index = Path(root) / rel / "index.json"
        return json.loads(index.read_text()) if index.is_file() else None

    return get


def _http_getter(session: requests.Session, base: str, timeout_s: float, what: str) -> Getter:
    cache: dict[str, dict | None] = {}

    def get(path: str) -> dict | None:
        path = path.split("#")[0]
        if path in cache:
            return cache[path]
        url = base + path
        body = http_get_json(session, url, timeout_s=timeout_s, what=what, missing_ok=True)
        if body is None:
            cache[path] = None  # optional resources may be missing
            return None
        if not isinstance(body, dict):
            raise CollectorError(f"{what}: {url} answered JSON that is not a Redfish resource: {str(body)[:120]}")
        cache[path] = body
        return body

    return get


_state = ChangeTracker()


def collect(source, *, session: requests.Session | None = None, now: datetime | None = None) -> Batch:
    """Walk the Redfish service at ``source.endpoint`` (``https://bmc`` or ``.../redfish/v1``)."""
    ts = now or datetime.now(UTC)
    options = source.options or {}
    parts = urlsplit(source.endpoint)
    base = f"{parts.scheme}://{parts.netloc}"
    session = session or requests.Session()
    session.headers["Accept"] = "application/json"
    if source.username:
        session.auth = (source.username, source.password)
    session.verify = options.get("verify_tls", True)  # BMCs often carry self-signed certificates
    what = f"Redfish walk of {source_label(source)}"
    get = _http_getter(session, base, source.timeout_s, what)
    try:
        return read_service(
            get,
            ts,
            hostname=options.get("hostname", ""),
            names=options.get("names"),
            leak_tracker=_state,
            scope=source.endpoint,
        )
    except ValueError as exc:
        raise CollectorError(f"{what}: {exc}") from None
