"""GPU faults at the published base rate (physics.failure_rates.PRIOR_ANNUAL_RATE, ~11 %/GPU-year):
most show precursors for days to weeks (rising single-bit ECC, row remaps, XIDs 63/94/48/64/95/79, or a
degrading thermal interface) before the GPU falls off the bus and stops reporting for a repair."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from physics.failure_rates import PRIOR_ANNUAL_RATE
from telemetry.vocabulary import EventReading

from .clock import DAY_S, EPOCH
from .noise import stable_key, uniform

REPAIR_DAYS = 5  # a failed GPU is away this long, then reports again (replaced in the same slot)
FAULT_WINDOW_S = 30 * DAY_S
MAX_LEAD_DAYS = 28

# Failure modes with their share of GPU failures (Meta, Llama 3 on 16k H100s: HBM3 + SRAM memory ~34%,
# faulty GPU / system processor ~62%, thermal interface ~2%; a quarter of board faults come unannounced),
# and how many days of precursors they show (low, high).
FAULT_MODES = (("hbm", 0.34, (10, 28)), ("board", 0.44, (3, 14)), ("thermal", 0.04, (7, 25)), ("sudden", 0.18, (0, 0)))
BENIGN_XID_PER_WINDOW = 0.01  # healthy GPUs log an occasional handled XID 63/94 too


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
