"""Physics sanity of the demo simulator on a small hand-built fleet (pure numpy, no database)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from physics.failure_rates import PRIOR_ANNUAL_RATE
from telemetry.collectors import simulator as sim
from telemetry.collectors.simulator import workload
from telemetry.collectors.simulator.clock import DAY_S, EPOCH, seconds
from telemetry.collectors.simulator.faults import FAULT_MODES, fault_schedule
from telemetry.collectors.simulator.model import IDLE_POWER_SHARE
from telemetry.collectors.simulator.noise import stable_key
from telemetry.validation import event_problems, gpu_reading_problems, point_reading_problems

START = datetime(2026, 7, 6, tzinfo=UTC)  # a Monday in summer


def make_fleet(racks_per_hall=3, nodes_per_rack=2):
    def hall(site, name, cooling, model, tdp, gb):
        racks = []
        for r in range(1, racks_per_hall + 1):
            rack = f"{name}-R{r:02d}"
            nodes = tuple(
                sim.SimNode(
                    f"{rack.lower()}-n{n}",
                    tuple(sim.SimGpu(f"GPU-{site}-{rack}-{n}-{i}", i, model, tdp, gb * 2**30) for i in range(8)),
                )
                for n in range(1, nodes_per_rack + 1)
            )
            racks.append(sim.SimRack(rack, r, nodes, (f"{rack}-PDU-A", f"{rack}-PDU-B")))
        units = tuple(f"{name}-U{u}" for u in range(1, 4))
        kw = racks_per_hall * nodes_per_rack * 8 * tdp / 1000 * 2.2
        return sim.SimHall(name, cooling, kw, kw * 1.3, units, "N+1", racks_per_hall, tuple(racks))

    return sim.Fleet(
        (
            sim.SimSite("Ashburn", 39.0, "America/New_York", (hall("A", "A1", "air", "H100 SXM 80GB", 700, 80),)),
            sim.SimSite("Frankfurt", 50.1, "Europe/Berlin", (hall("F", "L1", "liquid", "B200 180GB", 1000, 180),)),
        )
    )


@pytest.fixture(scope="module")
def week():
    return sim.run(make_fleet(), START, START + timedelta(days=7), timedelta(minutes=15), seed=3)


def test_power_stays_between_idle_and_tdp(week):
    power = week.gpu["gpu_power"]
    tdp = np.array([g.tdp_w for g in week.gpus])
    alive = week.alive
    assert (power[alive] <= np.broadcast_to(tdp, power.shape)[alive]).all()
    assert (power[alive] >= np.broadcast_to(0.8 * IDLE_POWER_SHARE * tdp, power.shape)[alive]).all()
    assert (power[~alive] == 0).all()


def test_temperature_rises_with_power(week):
    power, temp = week.gpu["gpu_power"], week.gpu["gpu_temp"]
    for g in range(0, len(week.gpus), 7):
        alive = week.alive[:, g]
        assert np.corrcoef(power[alive, g], temp[alive, g])[0, 1] > 0.5
    assert 25 < np.nanmin(temp[week.alive]) and np.nanmax(temp[week.alive]) < 95


def test_cooling_load_covers_it_load_and_pue_is_plausible(week):
    assert (week.hall["cooling_load"] >= week.hall["it_power"]).all()
    it_by_site = week.hall["it_power"]  # one hall per site, in site order
    pue = week.site["facility_power"] / it_by_site
    assert (pue > 1.1).all() and (pue < 1.6).all()
    # Rack power is the sum of its nodes; node power exceeds its GPUs' power.
    assert np.allclose(week.rack["rack_power"].sum(axis=1), week.node["node_power"].sum(axis=1))


def test_inference_hall_follows_the_day_and_training_stays_high(week):
    util = week.hall["gpu_util"]
    hours = np.array([t.hour for t in week.times])
    inference, training = util[:, 0], util[:, 1]
    afternoon, night = inference[(hours >= 17) & (hours <= 21)].mean(), inference[(hours >= 6) & (hours <= 10)].mean()
    assert afternoon > night + 15  # Ashburn local afternoon (UTC-4) is busier than its small hours
    assert np.median(training) > 85


def test_inlet_rises_with_hall_load_and_outdoor_temperature_has_a_daily_cycle(week):
    inlet = week.hall["inlet_max"][:, 0]
    load = week.hall["cooling_load"][:, 0]
    assert np.corrcoef(inlet, load)[0, 1] > 0.3
    outdoor = week.site["site_outdoor_temp"][:, 0]
    hours = np.array([t.hour for t in week.times])
    assert outdoor[(hours >= 18) & (hours <= 21)].mean() > outdoor[(hours >= 8) & (hours <= 11)].mean() + 3
    assert 10 < outdoor.mean() < 35  # Ashburn in July


def test_same_instant_same_reading_however_the_run_is_cut():
    fleet = make_fleet(1, 1)
    whole = sim.run(fleet, START, START + timedelta(hours=2), timedelta(minutes=10), seed=1)
    part = sim.run(fleet, START + timedelta(hours=1), START + timedelta(hours=2), timedelta(minutes=10), seed=1)
    for metric in ("gpu_util", "gpu_power", "gpu_energy", "gpu_ecc_sbe"):
        assert np.allclose(whole.gpu[metric][6:], part.gpu[metric], equal_nan=True), metric
    other_seed = sim.run(fleet, START, START + timedelta(hours=2), timedelta(minutes=10), seed=2)
    assert not np.allclose(whole.gpu["gpu_util"], other_seed.gpu["gpu_util"])


def test_faults_arrive_at_the_published_base_rate():
    keys = np.arange(20_000, dtype=np.uint64) * 7919 + 11
    year = 365 * DAY_S
    t0 = seconds(START)
    faults = [f for f in fault_schedule(keys, t0, t0 + year, seed=0) if t0 <= f.fail_s < t0 + year]
    expected = len(keys) * PRIOR_ANNUAL_RATE
    assert abs(len(faults) - expected) < 4 * np.sqrt(expected)
    modes = {m: sum(f.mode == m for f in faults) for m, *_ in FAULT_MODES}
    assert modes["hbm"] > modes["thermal"] and modes["board"] > modes["sudden"]


def test_a_degrading_gpu_shows_monotonic_counters_and_xids_before_it_fails():
    fleet = make_fleet(3, 2)
    keys = np.array([stable_key(g.uuid) for g in fleet.gpus()], dtype=np.uint64)
    t0 = seconds(START)
    # Find a memory fault within a few years of this small fleet, then simulate around it.
    fault = next(
        f
        for year in range(6)
        for f in fault_schedule(keys, t0 + year * 365 * DAY_S, t0 + (year + 1) * 365 * DAY_S, seed=0)
        if f.mode == "hbm"
    )
    start = EPOCH + timedelta(seconds=fault.onset_s - DAY_S)
    end = EPOCH + timedelta(seconds=fault.fail_s + DAY_S)
    run = sim.run(fleet, start, end, timedelta(hours=1), seed=0)
    g = fault.gpu
    before = np.array([seconds(t) < fault.fail_s for t in run.times])
    for metric in ("gpu_ecc_sbe", "gpu_ecc_dbe", "gpu_pcie_replay"):
        series = run.gpu[metric][before, g]
        assert (np.diff(series) >= 0).all(), metric
    assert run.gpu["gpu_ecc_sbe"][before, g][-1] > 20
    assert run.gpu["gpu_remap_pending"][before, g].max() == 1
    assert run.gpu["gpu_remap_failure"][before, g][-1] == 1
    assert not run.alive[~before, g].any()  # gone after the failure (within its repair time)
    codes = [e.code for e in run.events if e.gpu_uuid == run.gpus[g].uuid and e.kind == "xid"]
    assert {48, 63, 64, 79, 94, 95} <= set(codes)
    assert codes[-1] == 79
    kinds = {e.kind for e in run.events if e.gpu_uuid == run.gpus[g].uuid}
    assert {"ecc_dbe", "remap_failure", "gpu_lost"} <= kinds


def test_energy_counter_is_monotonic_between_reboots(week):
    energy = week.gpu["gpu_energy"]
    steps = np.diff(energy, axis=0)
    both_alive = week.alive[1:] & week.alive[:-1]
    assert (steps[both_alive] >= 0).all()
    # ~ mean power x 15 min
    mean_power = week.gpu["gpu_power"][1:][both_alive].mean()
    assert steps[both_alive].mean() == pytest.approx(mean_power * 900, rel=0.15)


def test_every_reading_passes_ingest_validation():
    fleet = make_fleet(1, 1)
    now = START + timedelta(hours=1)
    batch = sim.simulate(fleet, START, now, timedelta(minutes=5), seed=0)
    oldest = START - timedelta(days=1)
    assert batch.gpu_readings and batch.point_readings
    assert not [p for r in batch.gpu_readings if (p := gpu_reading_problems(r, now, oldest))]
    assert not [p for r in batch.point_readings if (p := point_reading_problems(r, now, oldest))]
    assert not [p for e in batch.events if (p := event_problems(e, now, oldest))]
    metrics = {r.metric for r in batch.point_readings}
    assert {"node_power", "node_inlet_temp", "rack_power", "pdu_power", "cooling_load", "cooling_power"} <= metrics
    assert {"site_outdoor_temp", "facility_power", "cooling_supply_temp", "cooling_return_temp"} <= metrics


def test_training_restarts_are_where_the_training_load_dips():
    hall = sim.SimHall("L9", "liquid", 100, 130, ("U1",), "N", 1, ())
    t0 = START.timestamp()
    t = np.arange(t0, t0 + 7 * 86400, 60.0)
    load = workload.hall_load(hall, 0, t, seed=3)
    restarts = workload.training_restarts("L9", t0, t0 + 7 * 86400, seed=3)
    in_restart = np.zeros(len(t), dtype=bool)
    for a, b in restarts:
        in_restart |= (t >= a) & (t < b)
    assert len(restarts) >= 3
    assert (load[in_restart] == 0.15).all() and (load[~in_restart] > 0.8).all()
