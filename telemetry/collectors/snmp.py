"""SNMP collector for rack PDUs: PDU, phase and outlet power through pysnmp (v7 asyncio API), SNMP v2c.

Public API
    collect(source, *, now=None) -> Batch       walk the PDU at source.endpoint ("host" or "host:port", UDP)
    parse_pdu(values, ts, *, profile, name) -> list[PointReading]   values: {oid: int} from the walks
    PROFILES: vendor -> Profile (the OID columns read and their scale to watts); pick_profile(sys_object_id)

``source.token`` is the community (default "public"); ``source.options``: ``name`` (the PDU's name in the
inventory; default its sysName), ``profile`` (a key of PROFILES; default chosen from sysObjectID), ``columns``
(extra or replacement columns: {"device": {"oid": "1.3.6...", "scale": 1.0}, "outlet": {...}, "phase": {...}}).
Entities: the PDU as ``<name>``, its phases as ``<name>/phase/<N>``, outlets as ``<name>/outlet/<N>``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from telemetry.vocabulary import Batch, PointReading

from .common import CollectorError, TransientCollectorError, source_label

SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"


@dataclass(frozen=True)
class Column:
    oid: str  # the table column; each row's index follows it
    scale: float  # raw value x scale = watts
    index_suffix: str = ""  # keep only rows whose index ends with this (e.g. Raritan's sensor type)


@dataclass(frozen=True)
class Profile:
    enterprise: str  # sysObjectID prefix of the vendor
    columns: dict = field(default_factory=dict)  # "device" | "phase" | "outlet" -> Column


PROFILES = {
    # APC PowerNet-MIB, rPDU2 tables (Rack PDU 2G), tested on recordings of AP7902B, AP8641, AP8932.
    "apc": Profile(
        "1.3.6.1.4.1.318",
        {
            "device": Column("1.3.6.1.4.1.318.1.1.26.4.3.1.5", 10.0),  # rPDU2DeviceStatusPower, 0.01 kW
            "phase": Column("1.3.6.1.4.1.318.1.1.26.6.3.1.7", 10.0),  # rPDU2PhaseStatusPower, 0.01 kW
            "outlet": Column("1.3.6.1.4.1.318.1.1.26.9.4.3.1.7", 1.0),  # rPDU2OutletMeteredStatusPower, W
        },
    ),
    # From the vendors' MIBs, not yet run against a recording:
    "eaton": Profile(
        "1.3.6.1.4.1.534",
        {
            "device": Column("1.3.6.1.4.1.534.6.6.7.3.5.1.4", 1.0),  # EATON-EPDU-MIB inputWatts, W
            "outlet": Column("1.3.6.1.4.1.534.6.6.7.6.5.1.3", 1.0),  # outletWatts, W
        },
    ),
    "servertech": Profile(
        "1.3.6.1.4.1.1718",
        {"device": Column("1.3.6.1.4.1.1718.4.1.3.3.1.3", 1.0)},  # Sentry4-MIB st4InputCordActivePower, W
    ),
    "raritan": Profile(
        "1.3.6.1.4.1.13742",
        # PDU2-MIB measurementsInletSensorValue.<pdu>.<inlet>.activePower(5), W (0 decimal digits)
        {"device": Column("1.3.6.1.4.1.13742.6.5.2.3.1.4", 1.0, index_suffix=".5")},
    ),
}


def pick_profile(sys_object_id: str) -> str:
    for key, profile in PROFILES.items():
        if sys_object_id == profile.enterprise or sys_object_id.startswith(profile.enterprise + "."):
            return key
    raise ValueError(f"no OID profile for sysObjectID {sys_object_id!r}; set options.profile or options.columns")


def parse_pdu(values: dict[str, int], ts: datetime, *, profile: Profile, name: str) -> list[PointReading]:
    """PointReadings (pdu_power, W) from walked values; negative readings (APC's -1 = not metered) are skipped."""
    readings = []
    for part in ("device", "phase", "outlet"):
        column = profile.columns.get(part)
        if column is None:
            continue
        prefix = column.oid + "."
        rows = [
            (oid[len(prefix) :], value)
            for oid, value in values.items()
            if oid.startswith(prefix) and oid.endswith(column.index_suffix)
        ]
        if part == "device":
            watts = [v * column.scale for _, v in rows if v >= 0]
            if watts:
                readings.append(PointReading("pdu", name, "pdu_power", ts, float(sum(watts))))
            continue
        for index, value in sorted(rows, key=lambda r: [int(x) for x in r[0].split(".") if x.isdigit()]):
            if value >= 0:
                readings.append(PointReading("pdu", f"{name}/{part}/{index}", "pdu_power", ts, value * column.scale))
    return readings


def _profile(options: dict, sys_object_id: str) -> Profile:
    profile = PROFILES.get(options["profile"]) if options.get("profile") else None
    if options.get("profile") and profile is None:
        raise ValueError(f"unknown SNMP profile {options['profile']!r}; known: {', '.join(PROFILES)}")
    if profile is None:
        profile = PROFILES[pick_profile(sys_object_id)] if not options.get("columns") else Profile("")
    extra = {}
    for part, spec in (options.get("columns") or {}).items():
        if part not in ("device", "phase", "outlet") or not isinstance(spec, dict) or "oid" not in spec:
            raise ValueError(f"options.columns.{part}: expected {{'oid': ..., 'scale': ...}} for device/phase/outlet")
        extra[part] = Column(spec["oid"].lstrip("."), float(spec.get("scale", 1.0)), spec.get("index_suffix", ""))
    return replace(profile, columns={**profile.columns, **extra})


async def _walk(host: str, port: int, community: str, timeout_s: float, options: dict) -> tuple[Profile, dict]:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        bulk_walk_cmd,
        get_cmd,
    )

    engine = SnmpEngine()
    try:
        target = await UdpTransportTarget.create((host, port), timeout=timeout_s, retries=1)
        auth = CommunityData(community, mpModel=1)  # v2c
        values: dict[str, object] = {}
        error, status, _, binds = await get_cmd(
            engine,
            auth,
            target,
            ContextData(),
            ObjectType(ObjectIdentity(SYS_NAME)),
            ObjectType(ObjectIdentity(SYS_OBJECT_ID)),
            lookupMib=False,  # numeric OIDs only: no MIB compiling (and no MIB downloads) on a collector
        )
        if error:  # transport level: no answer before the timeout, unreachable
            raise TransientCollectorError(str(error))
        if status:
            raise CollectorError(status.prettyPrint())
        for oid, value in binds:
            # With lookupMib=False names come back as dotted numbers; sysObjectID stays numeric too.
            values[str(oid)] = str(value) if str(oid) == SYS_OBJECT_ID else value.prettyPrint()
        profile = _profile(options, str(values.get(SYS_OBJECT_ID, "")))
        for column in sorted({c.oid for c in profile.columns.values()}):
            async for error, status, _, rows in bulk_walk_cmd(
                engine,
                auth,
                target,
                ContextData(),
                0,
                25,
                ObjectType(ObjectIdentity(column)),
                lexicographicMode=False,
                lookupMib=False,
            ):
                if error:
                    raise TransientCollectorError(f"walk of {column}: {error}")
                if status:
                    raise CollectorError(f"walk of {column}: {status.prettyPrint()}")
                for oid, value in rows:
                    try:
                        values[str(oid)] = int(value)
                    except (TypeError, ValueError):
                        continue  # noSuchObject / endOfMibView markers and non-integer cells
        return profile, values
    finally:
        engine.close_dispatcher()


def _run(coro):
    """asyncio.run, also when the calling thread already runs an event loop (an async caller)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def collect(source, *, now: datetime | None = None) -> Batch:
    """Read one PDU; raises CollectorError naming the source on timeouts, SNMP errors or an unknown vendor."""
    ts = now or datetime.now(UTC)
    options = source.options or {}
    host, _, port = source.endpoint.removeprefix("udp://").partition(":")
    what = f"SNMP read of {source_label(source)}"
    try:
        port_number = int(port or 161)
    except ValueError:
        raise CollectorError(f"{what}: endpoint must be host or host:port, got {source.endpoint!r}") from None
    community = source.token or "public"
    try:
        profile, values = _run(_walk(host, port_number, community, float(source.timeout_s), options))
    except TransientCollectorError as exc:
        raise TransientCollectorError(f"{what}: {exc}") from None
    except (CollectorError, ValueError) as exc:
        raise CollectorError(f"{what}: {exc}") from None
    name = options.get("name") or str(values.get(SYS_NAME) or host)
    return Batch(point_readings=parse_pdu(values, ts, profile=profile, name=name))
