"""Serving metrics of a deployment's replicas driven by a load curve: the demo's and the anomaly bench's.

Plain numpy, no Django. `load` is the share (0..1) of the deployment's capacity in demand at each step,
e.g. its GPUs' measured utilization, so the serving metrics agree with the GPU telemetry. Queueing
follows an M/M/1-like curve (queue ~ rho^2 / (1 - rho)), KV-cache use follows the running requests,
TTFT grows with the queue, TPOT with the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReplicaProfile:
    capacity_rps: float = 6.0  # finished requests per second a replica sustains at full load
    max_seqs: int = 128
    prompt_tokens: float = 900.0
    output_tokens: float = 250.0
    ttft_s: float = 0.18  # p95 TTFT at light load
    tpot_s: float = 0.022  # p95 TPOT at light load


def simulate_replicas(load, replicas, *, step_s=60.0, profile=ReplicaProfile(), seed=0):
    """Per-replica serving metrics (T x R arrays, names of telemetry.models.SERVING_FIELDS) for `load` (T,)."""
    rng = np.random.default_rng(seed)
    load = np.clip(np.asarray(load, dtype=float), 0.0, 0.97)
    steps = len(load)
    share = 1 + 0.04 * rng.standard_normal((steps, replicas))  # the router's imbalance
    rho = np.clip(load[:, None] * share, 0.0, 0.95)
    rate = rho * profile.capacity_rps
    finished = rng.poisson(rate * step_s).astype(float)
    service_s = profile.ttft_s + profile.output_tokens * profile.tpot_s
    running = np.minimum(rng.poisson(rate * service_s), profile.max_seqs).astype(float)
    waiting = rng.poisson(3.0 * rho**2 / (1 - rho)).astype(float)
    batch = running / profile.max_seqs
    kv = np.clip(0.04 + 0.8 * batch + 0.015 * rng.standard_normal((steps, replicas)), 0, 1)
    ttft = profile.ttft_s * (1 + 0.6 * rho + 0.15 * waiting) * rng.lognormal(0, 0.08, (steps, replicas))
    tpot = profile.tpot_s * (1 + 0.7 * batch) * rng.lognormal(0, 0.04, (steps, replicas))
    return {
        "requests_running": running,
        "requests_waiting": waiting,
        "kv_cache_usage": kv,
        "ttft_p50": ttft * 0.55,
        "ttft_p95": ttft,
        "ttft_p99": ttft * 1.4,
        "tpot_p50": tpot * 0.8,
        "tpot_p95": tpot,
        "tpot_p99": tpot * 1.2,
        "e2e_p50": (ttft * 0.55 + tpot * 0.8 * profile.output_tokens),
        "e2e_p95": (ttft + tpot * profile.output_tokens * 1.6),
        "e2e_p99": (ttft * 1.4 + tpot * 1.2 * profile.output_tokens * 2.0),
        "prompt_tokens": rng.poisson(finished * profile.prompt_tokens).astype(float),
        "generation_tokens": rng.poisson(finished * profile.output_tokens).astype(float),
        "requests_finished": finished,
        "requests_failed": rng.binomial(finished.astype(int), 0.002).astype(float),
    }


def add_queue_build_up(metrics, ramp, replica=0):
    """A queue that builds on one replica (a stuck batch, say): `ramp` (T,) goes 0..1 over the event (0 outside
    it); waiting requests ramp to ~70 and p95 TTFT to 4x."""
    ramp = np.asarray(ramp, dtype=float)
    metrics["requests_waiting"][:, replica] += np.round(70 * ramp)
    metrics["ttft_p95"][:, replica] *= 1 + 3 * ramp


def recurring_ramp(minute, *, period_min, length_min):
    """The ramp of an event that lasts `length_min` minutes at the start of every `period_min` (minutes
    since the epoch, an array): 1/length .. 1 inside the event, 0 outside."""
    into = np.asarray(minute) % period_min
    return np.where(into < length_min, (into + 1) / length_min, 0.0)
