"""Simulated telemetry for the embedded demo: physically plausible GPU, node, rack, cooling and site readings.

`simulate(fleet, start, end, step, seed)` is the pure core (numpy, no Django): every value is a function of
the absolute time and the seed (counter-based hashing, no random state), so the same instant gives the same
reading whether it is produced in one long run for the demo history or one collection at a time, and the
demo history joins the live data without a seam. `collect(source)` is the collector of kind "simulator": it
loads the source's organization's fleet from the inventory and returns one round of readings.

The physics, in the order it is computed (figures and why in docs/simulator.md):
- hall load: inference halls (air cooled) follow the site's local day and week and grow a few % a month;
  training halls (liquid cooled) run flat-high with short dips when jobs restart.
- GPU power between the model's idle power and its TDP (capped at the TDP, as the real H100 trace is);
  temperature from the first-order thermal response fitted on the real H100 trace (physics.thermal),
  rescaled to each model's TDP and offset by the node's inlet temperature; HBM temperature, SM clock and
  throttle reasons follow from power and temperature.
- node power: GPUs plus the rest of the server (CPUs, memory, NICs, fans, PSU loss); rack = sum of nodes,
  split over its A/B PDUs; cooling load = IT load + in-hall losses; cooling plant power from a COP that
  falls as it gets hotter outside; facility power = IT + distribution losses + cooling + fixed loads.
- node inlet temperature rises with the hall's load against its cooling capacity (with redundancy), with
  the rack's own power and position, and with the outdoor temperature.
- faults arrive at the published base rate (physics.failure_rates.PRIOR_ANNUAL_RATE, ~11 %/GPU-year);
  most show precursors for days to weeks (rising single-bit ECC, row remaps, XIDs 63/94/48/64/95/79, or
  a degrading thermal interface) before the GPU falls off the bus and stops reporting for a repair.
"""

from __future__ import annotations

import math
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from physics.failure_rates import PRIOR_ANNUAL_RATE
from physics.thermal import H100_SXM, simulate_temperature
from telemetry.vocabulary import Batch, EventReading, GpuReading, PointReading

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
DAY_S = 86_400
HOUR_S = 3_600

# Rest of the server beyond its GPUs at full load: 82% of the GPUs' TDP (DGX H100: 10.2 kW system maximum
# for 5.6 kW of GPUs, planner.domain.costs.SERVER_OVERHEAD_SHARE), but at least 1.2 kW (a two-socket host
# with fans, for servers of small GPUs). Of that, 35% is drawn whatever the load (CPUs, memory, NICs idle)
# and up to 45% more scales with GPU load (fans, switches, PSU loss), so a busy node sits below its maximum.
SERVER_OVERHEAD_SHARE = 0.82
SERVER_OVERHEAD_MIN_W = 1_200.0
SERVER_FIXED_SHARE, SERVER_LOAD_SHARE = 0.35, 0.45
# Racks with extra hot-aisle recirculation (C at the inlet): in the demo a row-end rack of hall A1 with missing
# blanking panels, the hall's hottest, whose inlet crosses ASHRAE's recommended 27 C on busy afternoons, so
# that the cooling forecast raises an inlet alert.
RECIRCULATION_HOT_SPOTS_C = {"A1-R16": 1.0}
# The H100 thermal fit's intercept was measured in a rented server of unknown inlet; take 25 C (ASHRAE's
# upper recommended 27 C less a margin) as its reference and move the curve with the node's inlet.
THERMAL_REFERENCE_INLET_C = 25.0
# HBM follows the core with a smaller rise (real H100 trace: 39.5 C idle / 64 C full vs core 38 / 72).
HBM_INTERCEPT_C, HBM_RISE_RATIO = 34.1, 0.73
THERMAL_SLOWDOWN_C = 87.0  # the H100 trace's device reports slowdown at 89 C; software slowdown starts before
POWER_CAP_SHARE = 0.99
# NVML clocks-event reason bits.
REASON_IDLE, REASON_SW_POWER_CAP, REASON_SW_THERMAL = 0x1, 0x4, 0x20
REPAIR_DAYS = 5  # a failed GPU is away this long, then reports again (replaced in the same slot)
FAULT_WINDOW_S = 30 * DAY_S
MAX_LEAD_DAYS = 28
INFERENCE_GROWTH_PER_MONTH = 0.03
GROWTH_REFERENCE = datetime(2026, 11, 1, tzinfo=UTC)

MAX_SM_CLOCK_MHZ = {"H100": 1980, "H200": 1980, "B200": 1965, "GB200": 2062, "A100": 1410, "L40S": 2520, "L4": 2040}
IDLE_SM_CLOCK_MHZ = 345
# Idle board power as a share of TDP (real H100 trace: 126 W of 700 W), for models without a measurement.
IDLE_POWER_SHARE = 0.18

# Failure modes with their share of GPU failures (Meta, Llama 3 on 16k H100s: HBM3 + SRAM memory ~34%,
# faulty GPU / system processor ~62%, thermal interface ~2%; a quarter of board faults come unannounced),
# and how many days of precursors they show (low, high).
FAULT_MODES = (("hbm", 0.34, (10, 28)), ("board", 0.44, (3, 14)), ("thermal", 0.04, (7, 25)), ("sudden", 0.18, (0, 0)))
BENIGN_XID_PER_WINDOW = 0.01  # healthy GPUs log an occasional handled XID 63/94 too


@dataclass(frozen=True)
class SimGpu:
    uuid: str
    index: int
    model: str
    tdp_w: float
    memory_bytes: int
    hbm: bool = True  # GDDR boards (L40S, L4) report no memory temperature


@dataclass(frozen=True)
class SimNode:
    hostname: str
    gpus: tuple[SimGpu, ...]


@dataclass(frozen=True)
class SimRack:
    name: str
    position: int
    nodes: tuple[SimNode, ...]
    pdus: tuple[str, ...] = ()


@dataclass(frozen=True)
class SimHall:
    name: str
    cooling_type: str  # air | liquid | hybrid
    it_capacity_kw: float
    cooling_capacity_kw: float
    cooling_units: tuple[str, ...]
    redundancy: str  # N | N+1 | 2N
    floor_positions: int
    racks: tuple[SimRack, ...]

    @property
    def workload(self):
        """Liquid-cooled halls host training (flat, high); air-cooled halls serve inference (diurnal)."""
        return "training" if self.cooling_type == "liquid" else "inference"

    @property
    def available_cooling_kw(self):
        """Cooling that remains with the redundant units out (N+1: one unit down; 2N: half)."""
        units = max(len(self.cooling_units), 1)
        usable = {"N": units, "N+1": max(units - 1, 1), "2N": max(units / 2, 1)}.get(self.redundancy, units)
        return self.cooling_capacity_kw * usable / units


@dataclass(frozen=True)
class SimSite:
    name: str
    latitude: float
    timezone: str
    halls: tuple[SimHall, ...]


@dataclass(frozen=True)
class Fleet:
    sites: tuple[SimSite, ...]

    def halls(self):
        return [(site, hall) for site in self.sites for hall in site.halls]

    def nodes(self):
        return [(site, hall, rack, node) for site, hall in self.halls() for rack in hall.racks for node in rack.nodes]

    def gpus(self):
        return [gpu for *_, node in self.nodes() for gpu in node.gpus]


# --- deterministic noise: a hash of (seed, stream, keys), no random state ---------------------------------

_GOLDEN, _M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x):
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def uniform(seed, stream, a, b=0):
    """Uniform [0, 1) for integer keys a, b (arrays broadcast): splitmix64 of the keys."""
    with np.errstate(over="ignore"):
        h = _mix(np.uint64(seed % 2**63) * _GOLDEN + np.uint64(stream))
        h = _mix(h ^ (np.asarray(a).astype(np.uint64) * _GOLDEN))
        h = _mix(h ^ (np.asarray(b).astype(np.uint64) * _M1 + _GOLDEN))
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


def normal(seed, stream, a, b=0):
    """Standard normal for integer keys (Box-Muller on two hashed uniforms)."""
    u1 = uniform(seed, stream, a, b)
    u2 = uniform(seed, stream + 7919, a, b)
    return np.sqrt(-2 * np.log1p(-u1)) * np.cos(2 * np.pi * u2)


def smooth_noise(seed, stream, key, t_s, knot_s):
    """Normal noise that varies smoothly: independent knots every `knot_s`, linear in between."""
    k = np.floor_divide(t_s, knot_s)
    w = (t_s - k * knot_s) / knot_s
    return (1 - w) * normal(seed, stream, key, k) + w * normal(seed, stream, key, k + 1)


def stable_key(text):
    """An integer key for a name (UUID, hostname): the same in every process, unlike hash()."""
    value = 1469598103934665603
    for byte in text.encode():
        value = ((value ^ byte) * 1099511628211) % 2**64
    return value % 2**62


# --- the model ------------------------------------------------------------------------------------------


def seconds(ts):
    return int((ts - EPOCH).total_seconds())


def utc_offset_h(timezone_name, at):
    try:
        offset = at.astimezone(zoneinfo.ZoneInfo(timezone_name)).utcoffset()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return 0.0
    return offset.total_seconds() / HOUR_S


def outdoor_temp_c(site, t_s, seed, offset_h=0.0):
    """Dry-bulb temperature (C): annual cycle by latitude, daily cycle peaking mid-afternoon, weather."""
    lat = abs(site.latitude)
    mean = 28 - 0.37 * lat  # ~13.6 C at 39 N (Ashburn 13), ~9.5 C at 50 N (Frankfurt 10)
    seasonal = 0.12 * lat + 5  # half the summer-winter swing
    day_of_year = (t_s / DAY_S) % 365.25
    phase = 0 if site.latitude >= 0 else math.pi  # coldest around 15 January in the north
    annual = mean - seasonal * np.cos(2 * np.pi * (day_of_year - 15) / 365.25 + phase)
    local_h = (t_s / HOUR_S + offset_h) % 24
    daily = 4.5 * np.cos(2 * np.pi * (local_h - 15) / 24)
    key = stable_key(site.name)
    weather = 3.0 * smooth_noise(seed, 11, key, t_s, 3 * DAY_S) + 1.2 * smooth_noise(seed, 12, key, t_s, 6 * HOUR_S)
    return annual + daily + weather


def hall_load(hall, site_offset_h, t_s, seed):
    """Share of the hall's GPU capacity in use (0..1) over time."""
    key = stable_key(hall.name)
    if hall.workload == "training":
        # Flat-high with a dip to ~15% when a job restarts: in each 6-hour slot, 30% chance, 30-90 min.
        slot = np.floor_divide(t_s, 6 * HOUR_S)
        restart = uniform(seed, 21, key, slot) < 0.3
        dip_start = slot * 6 * HOUR_S + uniform(seed, 22, key, slot) * 4 * HOUR_S
        dip_len = (0.5 + uniform(seed, 23, key, slot)) * HOUR_S
        in_dip = restart & (t_s >= dip_start) & (t_s < dip_start + dip_len)
        level = 0.93 + 0.02 * smooth_noise(seed, 24, key, t_s, 2 * HOUR_S)
        return np.where(in_dip, 0.15, level).clip(0, 1)
    local_h = (t_s / HOUR_S + site_offset_h) % 24
    day = np.floor_divide(t_s + site_offset_h * HOUR_S, DAY_S)
    weekday = (day + 5) % 7  # 2000-01-01 was a Saturday: 0 = Monday
    daily = 0.5 - 0.5 * np.cos(2 * np.pi * (local_h - 4) / 24) + 0.08 * np.sin(4 * np.pi * (local_h - 4) / 24)
    week = np.where(weekday >= 5, 0.82, 1.0)
    months = (t_s - seconds(GROWTH_REFERENCE)) / (30 * DAY_S)
    growth = (1 + INFERENCE_GROWTH_PER_MONTH) ** months
    base = 0.78 * growth * week * (0.5 + 0.5 * daily)
    noise = 0.035 * smooth_noise(seed, 25, key, t_s, 6 * HOUR_S) + 0.02 * smooth_noise(seed, 26, key, t_s, HOUR_S)
    return (base + noise).clip(0.02, 1)


@dataclass(frozen=True)
class Fault:
    gpu: int  # index into the fleet's GPU list
    mode: str
    onset_s: int
    fail_s: int

    @property
    def back_s(self):
        return self.fail_s + REPAIR_DAYS * DAY_S

    def progress(self, t_s):
        """0 at onset, 1 at failure (clipped); a sudden fault jumps from 0 to 1."""
        span = max(self.fail_s - self.onset_s, 1)
        return np.clip((np.asarray(t_s) - self.onset_s) / span, 0, 1)


def fault_schedule(gpu_keys, t0_s, t1_s, seed, annual_rate=PRIOR_ANNUAL_RATE):
    """Faults whose effects reach into [t0_s, t1_s): one chance per GPU per 30-day window at the base rate."""
    keys = np.asarray(gpu_keys, dtype=np.uint64)
    p_window = 1 - math.exp(-annual_rate * FAULT_WINDOW_S / DAY_S / 365)
    first = (t0_s - (REPAIR_DAYS + 1) * DAY_S) // FAULT_WINDOW_S
    last = (t1_s + (MAX_LEAD_DAYS + 1) * DAY_S) // FAULT_WINDOW_S
    faults = []
    for window in range(int(first), int(last) + 1):
        hit = np.nonzero(uniform(seed, 31, keys, window) < p_window)[0]
        for g in hit:
            key = keys[g]
            fail_s = window * FAULT_WINDOW_S + int(uniform(seed, 32, key, window) * FAULT_WINDOW_S)
            mode, (low, high) = _fault_mode(float(uniform(seed, 33, key, window)))
            lead_days = low + (high - low) * float(uniform(seed, 34, key, window))
            fault = Fault(int(g), mode, fail_s - int(lead_days * DAY_S), fail_s)
            if fault.onset_s < t1_s and fault.back_s > t0_s:
                faults.append(fault)
    return faults


def _fault_mode(pick):
    cumulative = 0.0
    for mode, share, lead in FAULT_MODES:
        cumulative += share
        if pick < cumulative:
            return mode, lead
    return FAULT_MODES[-1][0], FAULT_MODES[-1][2]


# (progress at which it happens, XID) per mode; small per-GPU jitter keeps them from lining up.
FAULT_XIDS = {
    "hbm": ((0.30, 63), (0.55, 63), (0.65, 94), (0.75, 63), (0.80, 48), (0.90, 48), (0.90, 64), (0.95, 95)),
    "board": ((0.45, 79), (0.70, 94), (0.85, 79)),
    "thermal": (),
    "sudden": (),
}


def fault_events(fault, uuid, seed):
    """(ts_s, kind, code, detail) of everything a fault logs, its failure included."""
    events = []
    span = fault.fail_s - fault.onset_s
    for n, (at, xid) in enumerate(FAULT_XIDS[fault.mode]):
        jitter = (float(uniform(seed, 41, stable_key(uuid), n)) - 0.5) * 0.04
        ts = fault.onset_s + int(span * min(max(at + jitter, 0.0), 0.99))
        events.append((ts, "xid", xid, f"simulated {fault.mode} fault"))
        if xid == 48:
            events.append((ts, "ecc_dbe", None, "double-bit ECC error"))
        if xid == 64:
            events.append((ts, "remap_failure", None, "row remapping failed"))
    events.append((fault.fail_s, "xid", 79, "GPU has fallen off the bus"))
    events.append((fault.fail_s, "gpu_lost", None, f"simulated {fault.mode} failure"))
    return events


@dataclass
class Simulation:
    """Arrays over time (rows) and entities (columns); entity order is the fleet's order."""

    times: list  # datetimes
    gpus: list  # SimGpu
    gpu: dict  # metric -> (T, G) array; NaN where a GPU does not report
    alive: np.ndarray  # (T, G) bool
    nodes: list  # (site, hall, rack, node)
    node: dict  # metric -> (T, N)
    racks: list  # (hall, rack)
    rack: dict  # "rack_power" (T, R), "pdu_share_a" (R,)
    units: list  # (hall, unit name)
    unit: dict  # metric -> (T, U)
    halls: list  # (site, hall)
    hall: dict  # "it_power", "cooling_load", "gpu_util", "inlet_max" -> (T, H)
    sites: list
    site: dict  # "site_outdoor_temp", "facility_power" -> (T, S)
    events: list = field(default_factory=list)  # EventReading
    faults: list = field(default_factory=list)  # Fault (GPU positions index sim.gpus)


def _model_prefix(name):
    return next((p for p in sorted(MAX_SM_CLOCK_MHZ, key=len, reverse=True) if name.startswith(p)), None)


def run(fleet, start, end, step, seed=0):
    """Simulate every entity at start, start + step, ... (< end). Returns a Simulation."""
    step_s = int(step.total_seconds())
    first = seconds(start)
    t = np.arange(first, seconds(end), step_s, dtype=np.int64)
    times = [EPOCH + timedelta(seconds=int(s)) for s in t]
    T = len(t)
    gpus = fleet.gpus()
    G = len(gpus)
    node_list = fleet.nodes()
    hall_list = fleet.halls()
    tdp = np.array([g.tdp_w for g in gpus])
    idle = tdp * IDLE_POWER_SHARE
    gpu_keys = np.array([stable_key(g.uuid) for g in gpus], dtype=np.uint64)

    # Which hall/node/rack each GPU sits in.
    gpu_node = np.repeat(np.arange(len(node_list)), [len(n.gpus) for *_, n in node_list])
    hall_index = {id(h): i for i, (_, h) in enumerate(hall_list)}
    node_hall = np.array([hall_index[id(h)] for _, h, _, _ in node_list], dtype=int)
    rack_list = [(h, r) for _, h in hall_list for r in h.racks]
    rack_index = {id(r): i for i, (_, r) in enumerate(rack_list)}
    node_rack = np.array([rack_index[id(r)] for _, _, r, _ in node_list], dtype=int)
    site_offsets = {s.name: utc_offset_h(s.timezone, start) for s in fleet.sites}

    # Load: hall profile x per-node service level + per-GPU noise.
    hall_u = (
        np.column_stack([hall_load(h, site_offsets[s.name], t, seed) for s, h in hall_list])
        if hall_list
        else np.zeros((T, 0))
    )
    node_keys = np.array([stable_key(n.hostname) for *_, n in node_list], dtype=np.uint64)
    node_factor = 0.8 + 0.35 * uniform(seed, 51, node_keys)
    spare = uniform(seed, 52, node_keys) < 0.05  # a few nodes held as spares, idle
    training = np.array([h.workload == "training" for _, h in hall_list], dtype=bool)
    node_factor = np.where(training[node_hall], 1.0, np.where(spare, 0.02, node_factor))
    u = hall_u[:, node_hall[gpu_node]] * node_factor[gpu_node]
    u = u + 0.04 * normal(seed, 53, gpu_keys[None, :], t[:, None])
    u = u.clip(0, 1)

    # Faults: alive mask and the signals of degrading GPUs.
    faults = fault_schedule(gpu_keys, first, first + T * step_s, seed)
    alive = np.ones((T, G), dtype=bool)
    sbe = np.floor(
        np.where(uniform(seed, 54, gpu_keys) < 0.02, 0.2 * uniform(seed, 55, gpu_keys), 0.0)
        * (t[:, None] / DAY_S - 9000)
    )
    sbe = np.maximum(sbe, 0)
    dbe = np.zeros((T, G))
    remap_pending = np.zeros((T, G))
    remap_failure = np.zeros((T, G))
    pcie = np.floor((t[:, None] / DAY_S - 9000).clip(0) * 0.5 * uniform(seed, 56, gpu_keys))
    temp_offset = 2.0 * (uniform(seed, 57, gpu_keys) - 0.5)[None, :].repeat(T, axis=0)
    for fault in faults:
        g = fault.gpu
        x = fault.progress(t)
        down = (t >= fault.fail_s) & (t < fault.back_s)
        alive[down, g] = False
        before = t < fault.fail_s
        if fault.mode == "hbm":
            sbe[:, g] += np.where(before & (t >= fault.onset_s), np.floor(3 * np.expm1(4 * x)), 0)
            remap_pending[:, g] = np.where(before & (x >= 0.55), 1, 0)
            dbe[:, g] = np.where(before, (x >= 0.8).astype(float) + (x >= 0.9), 0)
            remap_failure[:, g] = np.where(before & (x >= 0.9), 1, 0)
        elif fault.mode == "board":
            pcie[:, g] += np.where(before, np.floor(40 * x**2), 0)
        elif fault.mode == "thermal":
            temp_offset[:, g] += np.where(before, 20 * x, 0)
    events = events_between(gpus, first, first + T * step_s, seed, faults)

    # Power (W): demand above the cap is clipped, and the SM clock drops to hold the cap.
    demand = idle + (tdp - idle) * 1.08 * u
    cap = POWER_CAP_SHARE * tdp
    power = np.minimum(demand, cap) + 3 * normal(seed, 58, gpu_keys[None, :], t[:, None])
    power = np.where(alive, np.clip(power, idle * 0.8, tdp), 0.0)

    # Node inlet (needs hall loads first: IT power depends on GPU power, not on inlet).
    node_gpu_power = _sum_columns(power, gpu_node, len(node_list))
    node_tdp = _sum_columns(tdp[None, :], gpu_node, len(node_list))[0]
    rest_max = np.maximum(SERVER_OVERHEAD_SHARE * node_tdp, SERVER_OVERHEAD_MIN_W)
    node_power = node_gpu_power + rest_max * (SERVER_FIXED_SHARE + SERVER_LOAD_SHARE * node_gpu_power / node_tdp)
    node_power = node_power * (1 + 0.01 * normal(seed, 59, node_keys[None, :], t[:, None]))
    rack_power = _sum_columns(node_power, node_rack, len(rack_list))
    hall_it = _sum_columns(node_power, node_hall, len(hall_list))
    site_index = {s.name: i for i, s in enumerate(fleet.sites)}
    outdoor = (
        np.column_stack([outdoor_temp_c(s, t, seed, site_offsets[s.name]) for s in fleet.sites])
        if fleet.sites
        else np.zeros((T, 0))
    )
    hall_site = np.array([site_index[s.name] for s, _ in hall_list], dtype=int)
    hall_outdoor = outdoor[:, hall_site]
    liquid = np.array([h.cooling_type == "liquid" for _, h in hall_list], dtype=bool)
    # Cooling load: all IT power becomes heat, plus in-hall losses (lights, UPS/PDU loss, unit fans ~4%)
    # and envelope gains from a hot outside (air halls).
    fixed_kw = np.array([0.01 * h.it_capacity_kw for _, h in hall_list])
    cooling_load = hall_it * 1.04 + fixed_kw * 1000 + np.where(liquid, 0, 800 * (hall_outdoor - 22).clip(0))
    available_w = np.array([h.available_cooling_kw * 1000 for _, h in hall_list])
    ratio = cooling_load / available_w
    # Supply air rises once the units run out of margin; liquid halls supply warm water (W32) to cold
    # plates and the room air only carries the rest (~20%) of the heat.
    setpoint = np.where(liquid, 21.0, 20.5)
    supply_air = setpoint + 1.5 * ratio + 8 * (ratio - 0.9).clip(0) + 0.06 * (hall_outdoor - 15).clip(0)
    rack_keys = np.array([stable_key(r.name) for _, r in rack_list], dtype=np.uint64)
    rack_offset = 2.2 * uniform(seed, 61, rack_keys)
    per_row = np.array([floor_grid(h.floor_positions or len(h.racks))[1] for h, _ in rack_list])
    pos = np.array([(r.position or i + 1) for i, (_, r) in enumerate(rack_list)])
    row_end = ((pos - 1) % per_row == 0) | (pos % per_row == 0)
    hot_spot = np.array([RECIRCULATION_HOT_SPOTS_C.get(r.name, 0.0) for _, r in rack_list])
    rack_offset = rack_offset + 0.8 * row_end + hot_spot
    rack_kw = rack_power / 1000
    recirc = np.where(liquid[node_hall], 0.3, 1.0)
    inlet = (
        supply_air[:, node_hall]
        + recirc * (2.5 * ratio[:, node_hall] ** 2 + rack_offset[node_rack] + 0.03 * rack_kw[:, node_rack])
        + 0.3 * normal(seed, 62, node_keys[None, :], t[:, None])
    )

    # GPU temperature: the H100 response, rescaled so that every model rises as far at its TDP.
    temp = np.empty((T, G))
    for model_tdp in np.unique(tdp):
        cols = np.nonzero(tdp == model_tdp)[0]
        scale = H100_SXM.full_power_w / model_tdp
        response = H100_SXM.__class__(**{**H100_SXM.__dict__, "rise_c_per_w": H100_SXM.rise_c_per_w * scale})
        temp[:, cols] = simulate_temperature(response, power[:, cols], step_s)
    cold_plate = np.where(liquid[node_hall[gpu_node]], -8.0, 0.0)  # cold plates run cooler than air at the same inlet
    temp = temp + inlet[:, gpu_node] - THERMAL_REFERENCE_INLET_C + temp_offset + cold_plate
    hot = temp >= THERMAL_SLOWDOWN_C
    temp = np.where(hot, THERMAL_SLOWDOWN_C + 0.3 * (temp - THERMAL_SLOWDOWN_C), temp)  # throttling holds it
    mem_temp = (
        HBM_INTERCEPT_C
        + HBM_RISE_RATIO * (temp - H100_SXM.intercept_c)
        + (inlet[:, gpu_node] - THERMAL_REFERENCE_INLET_C) * 0.3
    )
    max_clock = np.array([MAX_SM_CLOCK_MHZ.get(_model_prefix(g.model), 1800) for g in gpus], dtype=float)
    capped = demand > cap
    clock = max_clock * np.minimum(1.0, cap / demand) ** 3
    clock = np.where(hot, clock * 0.8, clock)
    idle_now = u < 0.03
    clock = np.where(idle_now, IDLE_SM_CLOCK_MHZ, clock)
    reasons = (
        np.where(idle_now, REASON_IDLE, 0)
        | np.where(capped & ~idle_now, REASON_SW_POWER_CAP, 0)
        | np.where(hot, REASON_SW_THERMAL, 0)
    )
    memory = np.array([g.memory_bytes for g in gpus], dtype=float)
    hbm = np.array([g.hbm for g in gpus], dtype=bool)
    mem_used = np.where(idle_now, 0.006 * memory, np.where(training[node_hall[gpu_node]], 0.93, 0.82) * memory)
    energy = _energy_j(hall_list, site_offsets, node_hall, gpu_node, node_factor, tdp, idle, t, seed, faults)

    # Thermal throttling: one event per GPU per hour in which it throttled (same key whatever the step).
    for ti, g in zip(*np.nonzero(hot & alive), strict=True):
        hour = EPOCH + timedelta(seconds=int(t[ti] // HOUR_S * HOUR_S))
        events.append(EventReading("throttle", hour, gpus[g].uuid, "", REASON_SW_THERMAL, "thermal slowdown"))

    # Node fans, cooling units, site.
    node_fan = np.where(
        liquid[node_hall],
        3000 + 2000 * node_gpu_power / node_tdp,
        4000 + 9000 * (0.3 * node_gpu_power / node_tdp + 0.7 * ((inlet - 18) / 17).clip(0, 1)),
    )
    unit_list = [(h, name) for _, h in hall_list for name in h.cooling_units]
    unit_hall = np.array([i for i, (_, h) in enumerate(hall_list) for _ in h.cooling_units], dtype=int)
    unit_keys = np.array([stable_key(name) for _, name in unit_list], dtype=np.uint64)
    units_per_hall = np.bincount(unit_hall, minlength=len(hall_list)) if unit_list else np.zeros(len(hall_list))
    share = 1 + 0.05 * (uniform(seed, 71, unit_keys) - 0.5)
    unit_load = cooling_load[:, unit_hall] / units_per_hall[unit_hall] * share
    unit_capacity = np.array([h.cooling_capacity_kw * 1000 / len(h.cooling_units) for h, _ in unit_list])
    unit_outdoor = hall_outdoor[:, unit_hall]
    unit_liquid = liquid[unit_hall]
    # Plant COP (heat removed per W of electricity incl. chillers/dry coolers): falls as it gets hotter.
    cop = np.where(
        unit_liquid, (10 - 0.15 * (unit_outdoor - 15)).clip(6, 20), (4.8 - 0.09 * (unit_outdoor - 15)).clip(2.5, 8)
    )
    unit_power = unit_load / cop
    supply = np.where(
        unit_liquid, 32 + 0.3 * normal(seed, 72, unit_keys[None, :], t[:, None]), supply_air[:, unit_hall]
    )
    # Liquid: flow (L/min) scales with load from 40% (variable-speed pumps), return = supply + Q / (flow * cp).
    flow = np.where(
        unit_liquid, unit_capacity / (4186 * 10) * 60 * (0.4 + 0.6 * (unit_load / unit_capacity).clip(0, 1)), np.nan
    )
    delta = np.where(
        unit_liquid, unit_load / (np.where(unit_liquid, flow, 1) / 60 * 4186), 12 * unit_load / unit_capacity
    )
    return_temp = supply + delta
    site_of_unit = hall_site[unit_hall]
    site_it = _sum_columns(hall_it, hall_site, len(fleet.sites))
    site_cooling = _sum_columns(unit_power, site_of_unit, len(fleet.sites))
    # Lighting, offices, security, UPS standby: ~2% of the site's IT capacity whatever the load.
    site_fixed = np.array([20.0 * sum(h.it_capacity_kw for h in s.halls) for s in fleet.sites])
    facility = site_it * 1.06 + site_cooling + site_fixed  # 6% UPS and distribution loss

    nan = np.nan
    gpu_values = {
        "gpu_util": u * 100,
        "gpu_mem_used": np.floor(mem_used),
        "gpu_power": power,
        "gpu_energy": energy,
        "gpu_temp": temp,
        "gpu_mem_temp": np.where(hbm, mem_temp, nan),
        "gpu_sm_clock": np.round(clock),
        "gpu_throttle_reasons": reasons.astype(float),
        "gpu_ecc_sbe": sbe,
        "gpu_ecc_dbe": dbe,
        "gpu_remap_pending": remap_pending,
        "gpu_remap_failure": remap_failure,
        "gpu_retired_pages": np.zeros((T, G)),
        "gpu_pcie_replay": pcie,
    }
    hall_gpu_util = _mean_columns(np.where(alive, u * 100, np.nan), node_hall[gpu_node], len(hall_list))
    return Simulation(
        times=times,
        gpus=gpus,
        gpu=gpu_values,
        alive=alive,
        nodes=node_list,
        node={"node_power": node_power, "node_inlet_temp": inlet, "node_fan": node_fan},
        racks=rack_list,
        rack={"rack_power": rack_power, "pdu_share_a": 0.5 + 0.03 * (uniform(seed, 63, rack_keys) - 0.5)},
        units=unit_list,
        unit={
            "cooling_supply_temp": supply,
            "cooling_return_temp": return_temp,
            "cooling_flow": flow,
            "cooling_power": unit_power,
            "cooling_load": unit_load,
        },
        halls=hall_list,
        hall={
            "it_power": hall_it,
            "cooling_load": cooling_load,
            "gpu_util": hall_gpu_util,
            "gpu_power": _sum_columns(power, node_hall[gpu_node], len(hall_list)),
            "gpu_temp_max": _max_columns(np.where(alive, temp, -np.inf), node_hall[gpu_node], len(hall_list)),
            "inlet_max": _max_columns(inlet, node_hall, len(hall_list)),
            "gpu_count": _sum_columns(alive.astype(float), node_hall[gpu_node], len(hall_list)),
        },
        sites=list(fleet.sites),
        site={"site_outdoor_temp": outdoor, "facility_power": facility},
        events=events,
        faults=faults,
    )


def events_between(gpus, t0_s, t1_s, seed, faults=None):
    """EventReadings of faults and benign XIDs that happen in [t0_s, t1_s) (throttling is found in run)."""
    keys = np.array([stable_key(g.uuid) for g in gpus], dtype=np.uint64)
    if faults is None:
        faults = fault_schedule(keys, t0_s, t1_s, seed)
    events = []
    for fault in faults:
        uuid = gpus[fault.gpu].uuid
        for ts_s, kind, code, detail in fault_events(fault, uuid, seed):
            if t0_s <= ts_s < t1_s:
                events.append(EventReading(kind, EPOCH + timedelta(seconds=ts_s), uuid, "", code, detail))
    for window in range(t0_s // FAULT_WINDOW_S, (t1_s - 1) // FAULT_WINDOW_S + 1):
        for g in np.nonzero(uniform(seed, 81, keys, window) < BENIGN_XID_PER_WINDOW)[0]:
            ts_s = window * FAULT_WINDOW_S + int(uniform(seed, 82, keys[g], window) * FAULT_WINDOW_S)
            if t0_s <= ts_s < t1_s:
                code = 63 if uniform(seed, 83, keys[g], window) < 0.5 else 94
                detail = "row remap recorded" if code == 63 else "contained ECC error"
                events.append(EventReading("xid", EPOCH + timedelta(seconds=ts_s), gpus[g].uuid, "", code, detail))
    return events


def floor_grid(positions):
    """(rows, racks per row) of a hall's floor: rows of up to 8 positions."""
    per_row = max(1, min(8, positions))
    return math.ceil(positions / per_row), per_row


def _sum_columns(values, groups, n):
    """Sum the columns of a (T, K) array into n groups (groups: length-K array of group indices)."""
    out = np.zeros((values.shape[0], n))
    np.add.at(out.T, groups, values.T)
    return out


def _max_columns(values, groups, n):
    out = np.full((values.shape[0], n), -np.inf)
    np.maximum.at(out.T, groups, values.T)
    return np.where(np.isfinite(out), out, np.nan)


def _mean_columns(values, groups, n):
    present = ~np.isnan(values)
    total = _sum_columns(np.where(present, values, 0.0), groups, n)
    count = _sum_columns(present.astype(float), groups, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _energy_j(hall_list, site_offsets, node_hall, gpu_node, node_factor, tdp, idle, t, seed, faults):
    """Energy counter (J) since driver load: the monthly maintenance reboot at the start of each 30-day
    window, or the return from repair. It integrates the load profile on a 15-minute grid without the
    minute-scale noise, so it is monotonic between reboots and within ~1% of the reported power's integral."""
    knot = 900
    g0 = t[0] // FAULT_WINDOW_S * FAULT_WINDOW_S
    grid = np.arange(g0, t[-1] + 2 * knot, knot, dtype=np.int64)
    hall_u = np.column_stack([hall_load(h, site_offsets[s.name], grid + knot // 2, seed) for s, h in hall_list])
    headroom = (POWER_CAP_SHARE * tdp - idle) / (tdp - idle)
    power = idle + (tdp - idle) * np.minimum(1.08 * hall_u[:, node_hall[gpu_node]] * node_factor[gpu_node], headroom)
    cumulative = np.vstack([np.zeros(len(tdp)), np.cumsum(power * knot, axis=0)])
    columns = np.arange(len(tdp))

    def integral(ts):  # ts: (T, G) seconds -> cumulative J since g0, linear between knots
        position = (ts - g0) / knot
        k = np.floor(position).astype(np.int64)
        w = position - k
        return cumulative[k, columns] * (1 - w) + cumulative[k + 1, columns] * w

    boot = np.broadcast_to((t // FAULT_WINDOW_S * FAULT_WINDOW_S)[:, None], (len(t), len(tdp))).copy()
    for fault in faults:
        after = (t >= fault.back_s) & (fault.back_s >= boot[:, fault.gpu])
        boot[after, fault.gpu] = fault.back_s
    now = np.broadcast_to(t[:, None], boot.shape)
    return integral(now) - integral(boot)


def to_batch(sim):
    """The readings of a Simulation as a Batch for telemetry.ingest (dead GPUs report nothing)."""
    batch = Batch()
    metrics = list(sim.gpu)
    columns = [sim.gpu[m] for m in metrics]
    for ti, ts in enumerate(sim.times):
        rows = [c[ti] for c in columns]
        for g in np.nonzero(sim.alive[ti])[0]:
            values = {m: float(row[g]) for m, row in zip(metrics, rows, strict=True) if not math.isnan(row[g])}
            batch.gpu_readings.append(GpuReading(sim.gpus[g].uuid, ts, values))
        points = batch.point_readings
        for n, (*_, node) in enumerate(sim.nodes):
            for metric, values in sim.node.items():
                points.append(PointReading("node", node.hostname, metric, ts, float(values[ti, n])))
        share_a = sim.rack["pdu_share_a"]
        for r, (_, rack) in enumerate(sim.racks):
            power = float(sim.rack["rack_power"][ti, r])
            points.append(PointReading("rack", rack.name, "rack_power", ts, power))
            for pdu, share in zip(rack.pdus, (share_a[r], 1 - share_a[r]), strict=False):
                points.append(PointReading("pdu", pdu, "pdu_power", ts, power * float(share)))
        for u, (_, name) in enumerate(sim.units):
            for metric, values in sim.unit.items():
                if not math.isnan(values[ti, u]):
                    points.append(PointReading("cooling", name, metric, ts, float(values[ti, u])))
        for s, site in enumerate(sim.sites):
            for metric, values in sim.site.items():
                points.append(PointReading("site", site.name, metric, ts, float(values[ti, s])))
    batch.events.extend(sim.events)
    return batch


def simulate(fleet, start, end, step, seed=0):
    """Readings of the whole fleet at start, start + step, ... (< end), as a Batch."""
    return to_batch(run(fleet, start, end, step, seed))


# --- the collector --------------------------------------------------------------------------------------

EVENT_LOOKBACK = timedelta(hours=1)  # events of missed rounds are sent again; ingest drops the duplicates


def collect(source, now=None):
    """One round of simulated readings for the source's organization, at `now` floored to its interval."""
    now = now or datetime.now(UTC)
    step = timedelta(seconds=max(int(source.interval_s or 60), 1))
    at = EPOCH + (now - EPOCH) // step * step
    seed = int((source.options or {}).get("seed", 0))
    fleet = fleet_from_inventory(source.organization)
    if not fleet.sites:
        return Batch()
    sim = run(fleet, at, at + step, step, seed)
    batch = to_batch(sim)
    earlier = events_between(sim.gpus, seconds(at - EVENT_LOOKBACK), seconds(at), seed)
    batch.events.extend(earlier)
    return batch


def fleet_from_inventory(organization):
    """The organization's inventory as a Fleet (GPUs marked failed or retired do not report)."""
    from telemetry.models import CoolingUnit, Gpu, Hall, Pdu, Rack

    gpus = (
        Gpu.objects.for_org(organization)
        .exclude(status__in=["failed", "retired"])
        .select_related("model", "node__rack")
        .order_by("node__rack__hall_id", "node__rack__name", "node__hostname", "index")
    )
    by_node, node_rack = {}, {}
    for gpu in gpus:
        model = gpu.model
        by_node.setdefault(gpu.node.hostname, []).append(
            SimGpu(
                uuid=gpu.uuid,
                index=gpu.index,
                model=model.name,
                tdp_w=model.tdp_w,
                memory_bytes=int(model.memory_gb * 1024**3),
                hbm=not model.name.startswith(("L4", "RTX")),
            )
        )
        node_rack[gpu.node.hostname] = gpu.node.rack_id
    pdus = {}
    for rack_id, name in Pdu.objects.for_org(organization).order_by("name").values_list("rack_id", "name"):
        pdus.setdefault(rack_id, []).append(name)
    units = {}
    for hall_id, name in CoolingUnit.objects.for_org(organization).order_by("name").values_list("hall_id", "name"):
        units.setdefault(hall_id, []).append(name)
    racks = {}
    for rack in Rack.objects.for_org(organization).order_by("name"):
        nodes = tuple(
            SimNode(hostname, tuple(gs)) for hostname, gs in by_node.items() if node_rack[hostname] == rack.id
        )
        if nodes:
            racks.setdefault(rack.hall_id, []).append(
                SimRack(rack.name, rack.position or 0, nodes, tuple(pdus.get(rack.id, ())))
            )
    sites = {}
    for hall in Hall.objects.for_org(organization).select_related("site").order_by("site__name", "name"):
        if hall.id not in racks:
            continue
        sim_hall = SimHall(
            name=hall.name,
            cooling_type=hall.cooling_type,
            it_capacity_kw=hall.it_power_capacity_kw,
            cooling_capacity_kw=hall.cooling_capacity_kw,
            cooling_units=tuple(units.get(hall.id, ())),
            redundancy=hall.redundancy,
            floor_positions=hall.floor_positions,
            racks=tuple(racks[hall.id]),
        )
        site = hall.site
        sites.setdefault(site.name, (site, []))[1].append(sim_hall)
    return Fleet(
        tuple(
            SimSite(site.name, site.latitude if site.latitude is not None else 45.0, site.timezone, tuple(halls))
            for site, halls in sites.values()
        )
    )
