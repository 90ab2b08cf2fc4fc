"""The closed metric vocabulary (names and units mirror dcgm-exporter/NVML and Redfish).

Plain Python, no Django: collectors, the ingest path and the planner all import it.
"""

from dataclasses import dataclass, field
from datetime import datetime

# Physical bounds: what a sensor can really report, with a wide margin (a 1.2 kW GPU today, 5 kW allowed).
# Out of them a value is a unit mistake or garbage, and is rejected at ingest with a message naming it; the
# bounds also keep every sum and average the rollups take far from the column types' limits.
MAX_COUNT = 10**12  # error counters, replays, retired pages: a billion times more than a failing board shows
TEMPERATURE_C = (-60.0, 200.0)
AIR_TEMPERATURE_C = (-90.0, 70.0)  # outdoor dry-bulb: Earth's records are -89 C and 57 C


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    help: str
    low: float  # physical bounds, inclusive
    high: float
    counter: bool = False  # monotonically increasing totals (energy, error counts)
    whole: bool = False  # whole numbers only (besides counts, bitmasks, flags and bytes)


GPU_METRICS = {
    m.name: m
    for m in (
        Metric("gpu_util", "%", "GPU utilization", 0, 100),
        Metric("gpu_mem_used", "bytes", "framebuffer memory used", 0, 2**42),  # 4 TiB
        Metric("gpu_power", "W", "board power draw", 0, 5_000),
        Metric("gpu_energy", "J", "energy since driver load", 0, 1e15, counter=True),  # 5 kW for 6 years
        Metric("gpu_temp", "C", "GPU core temperature", *TEMPERATURE_C),
        Metric("gpu_mem_temp", "C", "HBM temperature", *TEMPERATURE_C),
        Metric("gpu_sm_clock", "MHz", "SM clock", 0, 10_000, whole=True),
        Metric("gpu_throttle_reasons", "bitmask", "NVML clocks-event reasons", 0, 2**32 - 1),  # 9 bits in use
        Metric("gpu_ecc_sbe", "count", "ECC single-bit errors, volatile", 0, MAX_COUNT, counter=True),
        Metric("gpu_ecc_dbe", "count", "ECC double-bit errors, volatile", 0, MAX_COUNT, counter=True),
        Metric("gpu_remap_pending", "0/1", "row remap pending", 0, 1),
        Metric("gpu_remap_failure", "0/1", "row remap failure", 0, 1),
        Metric("gpu_retired_pages", "count", "retired pages", 0, 2**31 - 1, counter=True),  # its int4 column
        Metric("gpu_pcie_replay", "count", "PCIe replay counter", 0, MAX_COUNT, counter=True),
    )
}

# Entity kinds a narrow Series can belong to, and the metrics each may carry.
POINT_METRICS = {
    m.name: m
    for m in (
        Metric("node_power", "W", "server input power", 0, 200_000),
        Metric("node_inlet_temp", "C", "server inlet air temperature", *TEMPERATURE_C),
        Metric("node_fan", "RPM", "fan speed", 0, 100_000),
        Metric("rack_power", "W", "rack power (sum of PDU feeds)", 0, 2e6),
        Metric("pdu_power", "W", "PDU or outlet power", 0, 2e6),
        Metric("cooling_supply_temp", "C", "coolant or air supply temperature", *TEMPERATURE_C),
        Metric("cooling_return_temp", "C", "coolant or air return temperature", *TEMPERATURE_C),
        Metric("cooling_flow", "L/min", "coolant flow", 0, 1e7),
        Metric("cooling_power", "W", "power drawn by the cooling unit", 0, 1e9),
        Metric("cooling_load", "W", "heat removed by the cooling unit", 0, 1e9),
        Metric("site_outdoor_temp", "C", "outdoor dry-bulb temperature", *AIR_TEMPERATURE_C),
        Metric("facility_power", "W", "total facility power (with IT power gives PUE)", 0, 1e10),
        Metric("hall_it_power", "W", "IT power of a hall", 0, 1e10),
    )
}

ENTITY_KINDS = ("node", "rack", "pdu", "cooling", "hall", "site")

EVENT_KINDS = (
    "xid",  # code = XID number
    "ecc_dbe",
    "remap_failure",
    "throttle",  # code = throttle reason bitmask
    "gpu_lost",
    "collector_failure",
    "leak",  # a coolant leak detector not OK (Redfish LeakDetection); entity = cooling unit
    "cooling_fault",  # a cooling unit's pump or component failed; detail says which
)


@dataclass(frozen=True, slots=True)
class GpuReading:
    """All values read from one GPU at one instant; a field the board lacks is absent."""

    gpu_uuid: str
    ts: datetime  # timezone-aware UTC
    values: dict  # metric name (GPU_METRICS) -> float


@dataclass(frozen=True, slots=True)
class PointReading:
    """One value of a non-GPU entity (node, rack, PDU, cooling unit, hall, site)."""

    entity_kind: str  # one of ENTITY_KINDS
    entity: str  # the entity's name as the source knows it (hostname, rack name, ...)
    metric: str  # one of POINT_METRICS
    ts: datetime
    value: float


@dataclass(frozen=True, slots=True)
class EventReading:
    """A discrete happening (XID, DBE, GPU lost, ...)."""

    kind: str  # one of EVENT_KINDS
    ts: datetime
    gpu_uuid: str = ""
    entity: str = ""
    code: int | None = None
    detail: str = ""


@dataclass(slots=True)
class Batch:
    """What one collection (or one push) hands to telemetry.ingest."""

    gpu_readings: list[GpuReading] = field(default_factory=list)
    point_readings: list[PointReading] = field(default_factory=list)
    events: list[EventReading] = field(default_factory=list)
    # Readings a collector read but cannot keep (NaN, infinity): {item, index, field, message}, which ingest
    # counts as rejected and reports like its own errors, so that nothing is dropped silently.
    rejected: list[dict] = field(default_factory=list)

    def __len__(self):
        return len(self.gpu_readings) + len(self.point_readings) + len(self.events)

    def extend(self, other):
        self.gpu_readings.extend(other.gpu_readings)
        self.point_readings.extend(other.point_readings)
        self.events.extend(other.events)
        self.rejected.extend(other.rejected)
