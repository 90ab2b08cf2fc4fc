"""The closed metric vocabulary (names and units mirror dcgm-exporter/NVML and Redfish).

Plain Python, no Django: collectors, the ingest path and the planner all import it.
"""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    help: str
    counter: bool = False  # monotonically increasing totals (energy, error counts)


GPU_METRICS = {
    m.name: m
    for m in (
        Metric("gpu_util", "%", "GPU utilization"),
        Metric("gpu_mem_used", "bytes", "framebuffer memory used"),
        Metric("gpu_power", "W", "board power draw"),
        Metric("gpu_energy", "J", "energy since driver load", counter=True),
        Metric("gpu_temp", "C", "GPU core temperature"),
        Metric("gpu_mem_temp", "C", "HBM temperature"),
        Metric("gpu_sm_clock", "MHz", "SM clock"),
        Metric("gpu_throttle_reasons", "bitmask", "NVML clocks-event reasons"),
        Metric("gpu_ecc_sbe", "count", "ECC single-bit errors, volatile", counter=True),
        Metric("gpu_ecc_dbe", "count", "ECC double-bit errors, volatile", counter=True),
        Metric("gpu_remap_pending", "0/1", "row remap pending"),
        Metric("gpu_remap_failure", "0/1", "row remap failure"),
        Metric("gpu_retired_pages", "count", "retired pages", counter=True),
        Metric("gpu_pcie_replay", "count", "PCIe replay counter", counter=True),
    )
}

# Entity kinds a narrow Series can belong to, and the metrics each may carry.
POINT_METRICS = {
    m.name: m
    for m in (
        Metric("node_power", "W", "server input power"),
        Metric("node_inlet_temp", "C", "server inlet air temperature"),
        Metric("node_fan", "RPM", "fan speed"),
        Metric("rack_power", "W", "rack power (sum of PDU feeds)"),
        Metric("pdu_power", "W", "PDU or outlet power"),
        Metric("cooling_supply_temp", "C", "coolant or air supply temperature"),
        Metric("cooling_return_temp", "C", "coolant or air return temperature"),
        Metric("cooling_flow", "L/min", "coolant flow"),
        Metric("cooling_power", "W", "power drawn by the cooling unit"),
        Metric("cooling_load", "W", "heat removed by the cooling unit"),
        Metric("site_outdoor_temp", "C", "outdoor dry-bulb temperature"),
        Metric("facility_power", "W", "total facility power (with IT power gives PUE)"),
        Metric("hall_it_power", "W", "IT power of a hall"),
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

    def __len__(self):
        return len(self.gpu_readings) + len(self.point_readings) + len(self.events)

    def extend(self, other):
        self.gpu_readings.extend(other.gpu_readings)
        self.point_readings.extend(other.point_readings)
        self.events.extend(other.events)
