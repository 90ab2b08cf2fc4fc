"""The anomaly detector on injected anomalies (a small simulated panel), its guard rails, and the threshold
rule it is compared with. The full evaluation with F1 per type is bench/anomalies.py."""

import ast
from pathlib import Path

import numpy as np
import pytest

from telemetry import anomalies
from telemetry.anomalies import METRICS, Settings, detect, learn, threshold_rule
from telemetry.serving import sim as serving_sim

ROOT = Path(__file__).parents[3]
MINUTES = 3 * 24 * 60


def test_detector_and_serving_simulator_import_no_framework():
    for path in (ROOT / "telemetry" / "anomalies.py", ROOT / "telemetry" / "serving" / "sim.py"):
        names = [
            alias.name if isinstance(node, ast.Import) else node.module
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [node])
        ]
        assert not [n for n in names if n and n.split(".")[0] in {"django", "rest_framework", "celery", "config"}]


@pytest.fixture(scope="module")
def gpus():
    """16 GPUs on 2 nodes, temperature = f(util) + node ambient + noise, 3 days at 1 minute."""
    rng = np.random.default_rng(3)
    t = np.arange(MINUTES)
    day = 0.5 - 0.5 * np.cos(2 * np.pi * (t % 1440) / 1440)
    util = np.clip(
        100 * (0.2 + 0.7 * day[:, None] * rng.uniform(0.8, 1.1, 16)) + rng.normal(0, 4, (MINUTES, 16)), 0, 100
    )
    ambient = np.repeat(rng.normal(0, 1, (MINUTES // 60 + 1, 2)), 60, axis=0)[:MINUTES].repeat(8, axis=1)
    temp = 35 + 0.4 * util + ambient + rng.normal(0, 0.7, (MINUTES, 16))
    return util, temp, np.array([g // 8 for g in range(16)]), (t // 60) % 24


def split(a, n=2 * 1440):
    return a[:n], a[n:]


def run(temp, util, groups, slots, metric="gpu_temp"):
    (th, ts), (uh, us), (sh, ss) = split(temp), split(util), split(slots)
    spec = METRICS[metric]
    base = learn(th, sh, spec, load=uh, groups=groups)
    return detect(ts, ss, spec, base, [f"gpu{i}" for i in range(16)], load=us, groups=groups)


@pytest.fixture(scope="module")
def power_and_clock(gpus):
    """The same GPUs' board power and SM clock, as the demo simulator makes them: power demand rises with
    utilization (per-GPU gain) up to the 700 W cap, the clock stays at 1,980 MHz boost until the demand
    passes the cap and then falls as (cap / demand)^3; NVML noise on both."""
    util, _, _, _ = gpus
    rng = np.random.default_rng(5)
    demand = (90 + 6.3 * util) * rng.uniform(0.97, 1.03, 16)
    power = np.minimum(demand, 700) + rng.normal(0, 4, util.shape)
    clock = np.round(1980 * np.minimum(1.0, 700 / demand) ** 3 + rng.normal(0, 6, util.shape))
    return power, clock


def run_gpu_metrics(panels, util, groups, slots):
    """(subject, metric, kind) of every finding on the GPUs' temperature, power and SM clock panels."""
    return {
        (d.subject, d.metric, d.kind): d
        for metric, values in panels.items()
        for d in run(values, util, groups, slots, metric)
    }


def test_clean_data_raises_nothing(gpus):
    util, temp, groups, slots = gpus
    assert run(temp, util, groups, slots) == []


def test_one_gpu_hotter_than_its_peers_under_the_same_load(gpus):
    util, temp, groups, slots = gpus
    temp = temp.copy()
    temp[2 * 1440 + 600 : 2 * 1440 + 900, 5] += 5
    found = run(temp, util, groups, slots)
    assert [(d.subject, d.kind) for d in found] == [("gpu5", "shift")]
    d = found[0]
    assert 590 <= d.start <= 610 and d.observed > d.expected_high and "gpu5" in d.explanation


def test_spike_and_stuck_sensor(gpus):
    util, temp, groups, slots = gpus
    temp = temp.copy()
    temp[2 * 1440 + 100, 3] += 15
    temp[2 * 1440 + 400 : 2 * 1440 + 460, 9] = temp[2 * 1440 + 400, 9]
    kinds = {(d.subject, d.kind) for d in run(temp, util, groups, slots)}
    assert kinds == {("gpu3", "spike"), ("gpu9", "stuck")}


def test_busier_gpu_is_not_an_anomaly(gpus):
    """Its temperature is higher because its load is: the load curve explains it."""
    util, temp, groups, slots = gpus
    util, temp = util.copy(), temp.copy()
    window = slice(2 * 1440 + 600, 2 * 1440 + 900)
    busier = np.minimum(util[window, 4] + 30, 100)
    temp[window, 4] += 0.4 * (busier - util[window, 4])
    util[window, 4] = busier
    assert [d for d in run(temp, util, groups, slots) if d.subject == "gpu4"] == []


def test_deployment_wide_ttft_regression_is_seen_on_the_group():
    load = np.tile(0.3 + 0.4 * (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1440) / 1440)), 4)
    metrics = serving_sim.simulate_replicas(load, 6, seed=4)
    ttft = metrics["ttft_p95"].copy()
    ttft[3 * 1440 + 300 : 3 * 1440 + 500] *= 1.6
    slots = (np.arange(len(load)) // 60) % 24
    spec = METRICS["ttft_p95"]
    base = learn(ttft[: 3 * 1440], slots[: 3 * 1440], spec)
    found = detect(ttft[3 * 1440 :], slots[3 * 1440 :], spec, base, [f"r{i}" for i in range(6)])
    assert [(d.subject, d.kind) for d in found] == [("all peers", "shift")]
    assert 290 <= found[0].start <= 310


def test_kv_cache_held_at_its_ceiling_is_saturation():
    load = np.tile(0.2 + 0.3 * (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1440) / 1440)), 3)
    kv = serving_sim.simulate_replicas(load, 4, seed=9)["kv_cache_usage"]
    kv[2 * 1440 + 200 : 2 * 1440 + 230, 1] = 0.995
    slots = (np.arange(len(load)) // 60) % 24
    spec = METRICS["kv_cache_usage"]
    base = learn(kv[: 2 * 1440], slots[: 2 * 1440], spec)
    found = detect(kv[2 * 1440 :], slots[2 * 1440 :], spec, base, ["r0", "r1", "r2", "r3"])
    assert [(d.subject, d.kind, d.severity) for d in found] == [("r1", "saturation", "critical")]


def test_threshold_rule_needs_the_value_held():
    values = np.array([[10.0], [60], [60], [10], [60], [60], [60], [60]])
    assert threshold_rule(values, "requests_waiting", hold=3) == [(0, 6, 7)]


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().spike_z = 1
    assert anomalies.THRESHOLDS["requests_waiting"] == (">=", 50.0)


def test_slow_drift_of_one_gpu_is_found_before_it_is_large(gpus):
    """A heat sink drying out: gpu7 creeps up by 8 C over 10 hours, under the same load as its peers."""
    util, temp, groups, slots = gpus
    temp = temp.copy()
    ramp = np.linspace(0, 8, 600)
    temp[2 * 1440 + 200 : 2 * 1440 + 800, 7] += ramp
    temp[2 * 1440 + 800 :, 7] += 8
    found = run(temp, util, groups, slots)
    assert {d.subject for d in found} == {"gpu7"}
    first = min(d.start for d in found)
    assert 200 <= first and ramp[first - 200] < 5  # seen while the creep is still under 5 C


# Minute 600-630 of the scanned day: the fleet is busy (the clock is judged only above 30 % utilization).
EVENT = slice(2 * 1440 + 600, 2 * 1440 + 630)


def test_thermal_throttling_of_one_gpu(gpus, power_and_clock):
    """gpu11's cooling fails for half an hour: it runs 6 C hotter, clocks down by 300 MHz to hold its
    temperature and so draws 10 % less power than its peers at the same utilization."""
    util, temp, groups, slots = gpus
    power, clock = power_and_clock
    panels = {"gpu_temp": temp.copy(), "gpu_power": power.copy(), "gpu_sm_clock": clock.copy()}
    panels["gpu_sm_clock"][EVENT, 11] -= 300
    panels["gpu_temp"][EVENT, 11] += 6 * np.minimum(np.arange(30) / 5, 1.0)
    panels["gpu_power"][EVENT, 11] *= 0.9
    found = run_gpu_metrics(panels, util, groups, slots)
    assert set(found) == {("gpu11", m, "shift") for m in ("gpu_sm_clock", "gpu_temp", "gpu_power")}
    clock, hot = found["gpu11", "gpu_sm_clock", "shift"], found["gpu11", "gpu_temp", "shift"]
    assert 595 <= clock.start <= 605 and clock.end >= 629 and clock.observed < clock.expected_low
    assert "SM clock of gpu11" in clock.explanation and "below the expected" in clock.explanation
    assert 595 <= hot.start <= 610 and hot.observed > hot.expected_high


def test_power_cap_of_one_gpu(gpus, power_and_clock):
    """gpu2 is capped at 80 % of what it draws for half an hour (a lowered power limit): its power stays flat
    below its peers' at the same utilization and its clock falls with the excess demand."""
    util, temp, groups, slots = gpus
    power, clock = power_and_clock
    panels = {"gpu_temp": temp, "gpu_power": power.copy(), "gpu_sm_clock": clock.copy()}
    cap = 0.8 * float(np.median(power[EVENT, 2]))
    excess = (panels["gpu_power"][EVENT, 2] - cap).clip(0)
    panels["gpu_power"][EVENT, 2] = cap + np.random.default_rng(8).normal(0, 2, 30)
    panels["gpu_sm_clock"][EVENT, 2] -= 1.2 * excess
    found = run_gpu_metrics(panels, util, groups, slots)
    assert set(found) == {("gpu2", "gpu_power", "shift"), ("gpu2", "gpu_sm_clock", "shift")}
    capped, clock = found["gpu2", "gpu_power", "shift"], found["gpu2", "gpu_sm_clock", "shift"]
    assert 595 <= capped.start <= 605 and 629 <= capped.end <= 645, (capped.start, capped.end)
    assert capped.observed < capped.expected_low
    assert "board power of gpu2" in capped.explanation and "below the expected" in capped.explanation
    assert 595 <= clock.start <= 605 and clock.observed < clock.expected_low
