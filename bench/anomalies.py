"""Anomaly detection evaluation: labelled anomalies injected into a real H100 trace and simulated fleet data.

Three datasets, each a history (what the detector learns from) and a scan period (what it is scored on):
- real-h100: tests/fixtures/h100-nvml-trace (930 NVML samples at 0.5 s under a stepped load) as 8 peers
  (per-GPU temperature offset, power gain and sensor noise), tiled 4x; history = the first 2 tiles;
- sim-gpu: telemetry.collectors.simulator, one air-cooled inference hall, 64 H100s, 14 days at 1 minute;
  history = the first 7 days (GPUs with a simulated hardware fault in the period are left out);
- sim-serving: telemetry.serving.sim, 8 replicas (TP=2) driven by the simulated hall load, 14 days at 1 min.

Each anomaly type is injected N times (a fresh copy of the scan period, one anomaly, a random subject and
time); a detection of any metric of the dataset overlapping the labelled window (plus a grace of one
shift window) is a true positive, any other detection in that copy a false positive. Recall is per injected
anomaly, precision per detection; delay is from the anomaly's start to the first overlapping detection.
The baseline in the same run: the fixed-threshold rule (telemetry.anomalies.THRESHOLDS: e.g. "pending
requests >= 50 for 3 minutes", GPU >= 85 C) on the same copies. False alarms: both on the clean scan
periods, per 1,000 GPU-hours (a replica counts its GPUs).

Run: /work/venv/bin/python bench/anomalies.py   (BENCH_INJECTIONS, default 20 per type)
"""

from __future__ import annotations

import os
import sys
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telemetry import anomalies  # noqa: E402
from telemetry.collectors import simulator  # noqa: E402
from telemetry.serving.sim import simulate_replicas  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INJECTIONS = int(os.environ.get("BENCH_INJECTIONS", 20))
GPU_METRICS = ("gpu_temp", "gpu_power", "gpu_sm_clock")
SERVING_METRICS = ("requests_waiting", "kv_cache_usage", "ttft_p95")


@dataclass
class Dataset:
    name: str
    history: dict  # metric -> (N, S)
    scan: dict  # metric -> (T, S)
    history_slots: np.ndarray
    scan_slots: np.ndarray
    load_history: np.ndarray | None
    load_scan: np.ndarray | None
    gpus_per_subject: int
    step_h: float
    settings: anomalies.Settings
    groups: np.ndarray | None = None  # peer group of each subject (the GPU's node)

    @property
    def subjects(self):
        return [f"{self.name}-{i}" for i in range(next(iter(self.scan.values())).shape[1])]

    @property
    def gpu_hours(self):
        steps, subjects = next(iter(self.scan.values())).shape
        return steps * subjects * self.step_h * self.gpus_per_subject


# --- datasets --------------------------------------------------------------------------------------------


def real_h100(seed=1):
    trace = pd.read_csv(ROOT / "tests/fixtures/h100-nvml-trace/trace.csv")
    base = {
        "gpu_temp": trace["temp_gpu_c"].to_numpy(float),
        "gpu_power": trace["power_mw"].to_numpy(float) / 1000,
        "gpu_sm_clock": trace["sm_clock_mhz"].to_numpy(float),
        "gpu_util": trace["gpu_util_pct"].to_numpy(float),
    }
    rng = np.random.default_rng(seed)
    peers, tiles = 8, 4
    offset, gain = rng.uniform(-1.5, 1.5, peers), rng.uniform(0.98, 1.02, peers)
    panels = {}
    for metric, series in base.items():
        tiled = np.tile(series, tiles)[:, None].repeat(peers, axis=1)
        if metric == "gpu_temp":
            tiled = tiled + offset + rng.normal(0, 0.4, tiled.shape)
        elif metric == "gpu_power":
            tiled = tiled * gain + rng.normal(0, 4.0, tiled.shape)
        elif metric == "gpu_sm_clock":
            tiled = tiled + rng.normal(0, 8.0, tiled.shape)
        panels[metric] = tiled
    n = 2 * len(trace)
    slots = np.zeros(len(panels["gpu_temp"]), dtype=int)  # no season in an 8-minute trace
    settings = anomalies.Settings(shift_window=10, stuck_window=40, saturation_window=10, drift_h=80.0)
    return Dataset(
        "real-h100",
        {m: p[:n] for m, p in panels.items() if m != "gpu_util"},
        {m: p[n:] for m, p in panels.items() if m != "gpu_util"},
        slots[:n],
        slots[n:],
        panels["gpu_util"][:n],
        panels["gpu_util"][n:],
        1,
        0.5 / 3600,
        settings,
    )


def _sim_fleet(gpus=64):
    nodes = []
    for n in range(gpus // 8):
        node_gpus = tuple(
            simulator.SimGpu(f"GPU-bench{n:03d}-0000-0000-0000-{g:012d}", g, "H100 SXM 80GB", 700.0, 85520809984)
            for g in range(8)
        )
        nodes.append(simulator.SimNode(f"bench-n{n:02d}", node_gpus))
    racks = tuple(simulator.SimRack(f"R{r}", r, tuple(nodes[r * 2 : r * 2 + 2])) for r in range(len(nodes) // 2))
    hall = simulator.SimHall("bench-hall", "air", 400.0, 480.0, ("CRAH-1", "CRAH-2"), "N+1", 12, racks)
    return simulator.Fleet((simulator.SimSite("bench-site", 52.5, "Europe/Berlin", (hall,)),))


START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
DAYS = 14


def sim_gpu():
    sim = simulator.run(_sim_fleet(), START, START + timedelta(days=DAYS), timedelta(minutes=1), seed=5)
    faulty = {f.gpu for f in sim.faults}
    keep = [g for g in range(len(sim.gpus)) if g not in faulty and sim.alive[:, g].all()]
    n = len(sim.times) // 2
    slots = np.array([t.hour + 24 * (t.weekday() >= 5) for t in sim.times])  # hour of day, weekends apart
    panels = {m: sim.gpu[m][:, keep] for m in (*GPU_METRICS, "gpu_util")}
    ds = Dataset(
        "sim-gpu",
        {m: panels[m][:n] for m in GPU_METRICS},
        {m: panels[m][n:] for m in GPU_METRICS},
        slots[:n],
        slots[n:],
        panels["gpu_util"][:n],
        panels["gpu_util"][n:],
        1,
        1 / 60,
        anomalies.Settings(),
        groups=np.array([g // 8 for g in keep]),
    )
    return ds, len(faulty)


def sim_serving(gpu_ds):
    load = np.nanmean(np.concatenate([gpu_ds.load_history, gpu_ds.load_scan]), axis=1) / 100
    metrics = simulate_replicas(load, 8, seed=11)
    n = len(gpu_ds.history_slots)
    slots = np.concatenate([gpu_ds.history_slots, gpu_ds.scan_slots])
    return Dataset(
        "sim-serving",
        {m: metrics[m][:n] for m in SERVING_METRICS},
        {m: metrics[m][n:] for m in SERVING_METRICS},
        slots[:n],
        slots[n:],
        None,
        None,
        2,
        1 / 60,
        anomalies.Settings(),
    )


# --- injections --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Injection:
    kind: str
    subject: int | None  # None: every subject (a deployment-wide regression)
    start: int
    end: int  # inclusive


def _ramp(length, rise):
    return np.minimum(np.arange(length) / max(rise, 1), 1.0)


def inject(kind, ds, rng):
    """A copy of ds.scan with one anomaly of `kind`, and its label. Lengths scale with the cadence."""
    scan = {m: p.copy() for m, p in ds.scan.items()}
    steps, subjects = next(iter(scan.values())).shape
    per_min = round(1 / (ds.step_h * 60))  # samples per minute
    real = ds.name == "real-h100"
    s = int(rng.integers(subjects))
    lengths = {  # in samples
        "spike": 1,
        "stuck": 120 if real else 60,
        "drift": 400 if real else 12 * 60,
        "thermal_throttling": 120 if real else 30,
        "power_cap": 120 if real else 60,
        "peer_divergence": 120 if real else 6 * 60,
        "queue_buildup": 60,
        "kv_saturation": 30,
        "ttft_regression": 6 * 60,
    }
    length = lengths[kind]
    if kind == "power_cap":  # only visible where the demand is above the cap: pick a busy moment
        power = scan["gpu_power"][: steps - length, s]
        busy = np.flatnonzero(power > np.percentile(power, 80))
        start = int(rng.choice(busy))
    else:
        margin = min(per_min * 30, steps // 10)
        start = int(rng.integers(margin, steps - length - margin))
    w = slice(start, start + length)
    subject = s
    if kind == "spike":
        scan["gpu_temp"][w, s] += rng.uniform(6, 20)
    elif kind == "stuck":
        metric = "gpu_power"
        scan[metric][w, s] = scan[metric][start, s]
    elif kind == "drift":
        scan["gpu_temp"][start:, s] += rng.uniform(4, 10) * _ramp(steps - start, length)
        w = slice(start, start + length)
    elif kind == "thermal_throttling":
        scan["gpu_sm_clock"][w, s] -= rng.uniform(150, 500)
        scan["gpu_temp"][w, s] += 6 * _ramp(length, 5 * per_min if not real else 20)
        scan["gpu_power"][w, s] *= 0.9
    elif kind == "power_cap":
        cap = rng.uniform(0.75, 0.9) * float(np.median(scan["gpu_power"][w, s]))
        over = scan["gpu_power"][w, s] > cap
        clock_drop = (scan["gpu_power"][w, s] - cap).clip(0) * 1.2
        scan["gpu_power"][w, s] = np.minimum(scan["gpu_power"][w, s], cap + rng.normal(0, 2, length))
        scan["gpu_sm_clock"][w, s] -= np.where(over, clock_drop, 0)
    elif kind == "peer_divergence":
        scan["gpu_temp"][w, s] += rng.uniform(3, 6) * _ramp(length, 10 * per_min if not real else 20)
    elif kind == "queue_buildup":
        scan["requests_waiting"][w, s] += np.round(np.linspace(2, rng.uniform(20, 100), length))
        scan["ttft_p95"][w, s] *= 1 + np.linspace(0, 3, length)
    elif kind == "kv_saturation":
        scan["kv_cache_usage"][w, s] = np.clip(rng.uniform(0.9, 0.995) + 0.005 * rng.standard_normal(length), 0, 1)
    elif kind == "ttft_regression":
        scan["ttft_p95"][w, :] *= rng.uniform(1.3, 2.5)  # a bad release: every replica at once
        subject = None
    return scan, Injection(kind, subject, start, start + length - 1)


TYPES = {
    "real-h100": ("spike", "stuck", "drift", "thermal_throttling", "power_cap", "peer_divergence"),
    "sim-gpu": ("spike", "stuck", "drift", "thermal_throttling", "power_cap", "peer_divergence"),
    "sim-serving": ("queue_buildup", "kv_saturation", "ttft_regression"),
}


# --- scoring --------------------------------------------------------------------------------------------------


def learned(ds):
    return {
        m: anomalies.learn(
            ds.history[m],
            ds.history_slots,
            anomalies.METRICS[m],
            load=ds.load_history if m.startswith("gpu_") else None,
            groups=ds.groups,
            settings=ds.settings,
        )
        for m in ds.history
    }


def run_detector(ds, baselines, scan):
    """(subject index or None, start, end) of every detection on every metric."""
    spans = []
    for m, values in scan.items():
        found = anomalies.detect(
            values,
            ds.scan_slots,
            anomalies.METRICS[m],
            baselines[m],
            ds.subjects,
            load=ds.load_scan if m.startswith("gpu_") else None,
            groups=ds.groups,
            settings=ds.settings,
        )
        index = {name: i for i, name in enumerate(ds.subjects)}
        spans += [(index.get(d.subject), d.start, d.end) for d in found]
    return spans


def run_threshold(ds, scan):
    spans = []
    for m, values in scan.items():
        hold = 3 * round(1 / (ds.step_h * 60)) if ds.name == "real-h100" else 3
        spans += anomalies.threshold_rule(values, m, hold=max(hold, 1))
    return spans


def score(spans, label, grace):
    """(true detections, false detections, detected?, delay in samples), over the detections of the labelled
    subject's series and the group's (all of them for a deployment-wide anomaly)."""
    if label.subject is not None:
        spans = [span for span in spans if span[0] in (label.subject, None)]
    hits = [
        (s, e)
        for subject, s, e in spans
        if s <= label.end + grace and e >= label.start and (label.subject is None or subject in (label.subject, None))
    ]
    delay = min(s for s, _ in hits) - label.start if hits else None
    return len(hits), len(spans) - len(hits), bool(hits), delay


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    found: int = 0
    injected: int = 0
    delays: tuple = ()

    def add(self, result):
        tp, fp, found, delay = result
        self.tp, self.fp, self.found, self.injected = self.tp + tp, self.fp + fp, self.found + found, self.injected + 1
        if delay is not None:
            self.delays = (*self.delays, max(delay, 0))

    def f1(self):
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.found / self.injected if self.injected else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main():
    started = time.perf_counter()
    gpu, faulty = sim_gpu()
    datasets = [real_h100(), gpu, sim_serving(gpu)]
    print(f"datasets built in {time.perf_counter() - started:.1f} s (sim-gpu: {faulty} GPUs with faults left out)")
    rows, alarms = [], []
    for ds in datasets:
        baselines = learned(ds)
        clean_det, clean_thr = run_detector(ds, baselines, ds.scan), run_threshold(ds, ds.scan)
        alarms.append((ds.name, ds.gpu_hours, len(clean_det), len(clean_thr)))
        minutes = ds.step_h * 60
        for kind in TYPES[ds.name]:
            rng = np.random.default_rng(zlib.crc32(f"{ds.name}/{kind}".encode()))  # the same copies every run
            det, thr = Tally(), Tally()
            for _ in range(INJECTIONS):
                scan, label = inject(kind, ds, rng)
                grace = ds.settings.shift_window
                det.add(score(run_detector(ds, baselines, scan), label, grace))
                thr.add(score(run_threshold(ds, scan), label, grace))
            rows.append((ds.name, kind, det, thr, minutes))
    print(f"\n{INJECTIONS} injections per type; delay = median minutes from the anomaly's start to the first detection")
    print(
        f"{'dataset':<12} {'type':<19} {'P':>5} {'R':>5} {'F1':>5} {'delay':>7}   {'thr P':>5} {'thr R':>5} "
        f"{'thr F1':>6} {'delay':>7}"
    )
    worst = 1.0
    for name, kind, det, thr, minutes in rows:
        p, r, f = det.f1()
        tp, tr, tf = thr.f1()
        worst = min(worst, f)
        d = f"{np.median(det.delays) * minutes:.1f}" if det.delays else "-"
        td = f"{np.median(thr.delays) * minutes:.1f}" if thr.delays else "-"
        print(f"{name:<12} {kind:<19} {p:5.2f} {r:5.2f} {f:5.2f} {d:>7}   {tp:5.2f} {tr:5.2f} {tf:6.2f} {td:>7}")
    print("\nfalse alarms on the clean scan periods")
    total_h = sum(h for _, h, _, _ in alarms)
    for name, hours, det_n, thr_n in alarms:
        print(
            f"{name:<12} {hours:9.0f} GPU-h   detector {det_n:4d} ({1000 * det_n / hours:6.2f} per 1,000 GPU-h)   "
            f"threshold {thr_n:4d} ({1000 * thr_n / hours:6.2f})"
        )
    det_total, thr_total = sum(a[2] for a in alarms), sum(a[3] for a in alarms)
    print(
        f"{'all':<12} {total_h:9.0f} GPU-h   detector {det_total:4d} ({1000 * det_total / total_h:6.2f} per 1,000 "
        f"GPU-h)   threshold {thr_total:4d} ({1000 * thr_total / total_h:6.2f})"
    )
    print(f"\nworst F1 {worst:.2f}; ran in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
