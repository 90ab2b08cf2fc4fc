"""The physics glue: ``run`` computes every entity's readings over time (figures and why in
docs/simulator.md), in this order:

- hall load (workload.py) times a per-node service level and per-GPU noise;
- GPU power between the model's idle power and its TDP (capped at the TDP, as the real H100 trace is);
  temperature from the first-order thermal response fitted on the real H100 trace (physics.thermal),
  rescaled to each model's TDP and offset by the node's inlet temperature; HBM temperature, SM clock and
  throttle reasons follow from power and temperature.
- node power: GPUs plus the rest of the server (CPUs, memory, NICs, fans, PSU loss); rack = sum of nodes,
  split over its A/B PDUs; cooling load = IT load + in-hall losses; cooling plant power from a COP that
  falls as it gets hotter outside; facility power = IT + distribution losses + cooling + fixed loads.
- node inlet temperature rises with the hall's load against its cooling capacity (with redundancy), with
  the rack's own power and position, and with the outdoor temperature.
- faults (faults.py) take GPUs down and add their precursors.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from physics.thermal import H100_SXM, simulate_temperature
from telemetry.vocabulary import EventReading

from .clock import DAY_S, EPOCH, HOUR_S, seconds, utc_offset_h
from .columns import max_columns, mean_columns, sum_columns
from .faults import FAULT_WINDOW_S, events_between, fault_schedule
from .fleet import floor_grid
from .noise import normal, stable_key, uniform
from .readings import Simulation, to_batch
from .workload import hall_load, outdoor_temp_c

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

MAX_SM_CLOCK_MHZ = {"H100": 1980, "H200": 1980, "B200": 1965, "GB200": 2062, "A100": 1410, "L40S": 2520, "L4": 2040}
IDLE_SM_CLOCK_MHZ = 345
# Idle board power as a share of TDP (real H100 trace: 126 W of 700 W), for models without a measurement.
IDLE_POWER_SHARE = 0.18


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
    node_gpu_power = sum_columns(power, gpu_node, len(node_list))
    node_tdp = sum_columns(tdp[None, :], gpu_node, len(node_list))[0]
    rest_max = np.maximum(SERVER_OVERHEAD_SHARE * node_tdp, SERVER_OVERHEAD_MIN_W)
    node_power = node_gpu_power + rest_max * (SERVER_FIXED_SHARE + SERVER_LOAD_SHARE * node_gpu_power / node_tdp)
    node_power = node_power * (1 + 0.01 * normal(seed, 59, node_keys[None, :], t[:, None]))
    rack_power = sum_columns(node_power, node_rack, len(rack_list))
    hall_it = sum_columns(node_power, node_hall, len(hall_list))
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
    site_it = sum_columns(hall_it, hall_site, len(fleet.sites))
    site_cooling = sum_columns(unit_power, site_of_unit, len(fleet.sites))
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
    hall_gpu_util = mean_columns(np.where(alive, u * 100, np.nan), node_hall[gpu_node], len(hall_list))
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
            "gpu_power": sum_columns(power, node_hall[gpu_node], len(hall_list)),
            "gpu_temp_max": max_columns(np.where(alive, temp, -np.inf), node_hall[gpu_node], len(hall_list)),
            "inlet_max": max_columns(inlet, node_hall, len(hall_list)),
            "gpu_count": sum_columns(alive.astype(float), node_hall[gpu_node], len(hall_list)),
        },
        sites=list(fleet.sites),
        site={"site_outdoor_temp": outdoor, "facility_power": facility},
        events=events,
        faults=faults,
    )


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


def simulate(fleet, start, end, step, seed=0):
    """Readings of the whole fleet at start, start + step, ... (< end), as a Batch."""
    return to_batch(run(fleet, start, end, step, seed))
