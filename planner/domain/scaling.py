"""Hour-by-hour replica plan for a week: from a demand curve (a deployment's measured request history, or a
workload's diurnal model) and a replica's capacity within the SLO, the replicas each hour with headroom, a
minimum and start-up time, against static peak provisioning and the measured history, in GPU-hours, kWh and
USD, plus the cloud burst left over when the owned GPUs run out. See docs/serving.md "## Scaling plan".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from planner.domain.costs import token_usd
from reference.catalog import (
    InvalidInputError,
    TokenPrice,
    check_fraction,
    check_non_negative,
    check_positive,
)

HOURS_PER_WEEK = 168
WEEKS_PER_MONTH = 365 / 12 / 7
# Ceil of a ratio that is an integer up to float rounding must not add a replica.
_CEIL_SLACK = 1e-9


def _von_mises_kappa(peak_to_mean: float) -> float:
    """Concentration whose von Mises day curve has max / mean = peak_to_mean (e^k / I0(k), increasing in k)."""
    lo, hi = 0.0, 1.0
    while math.exp(hi) / float(np.i0(hi)) < peak_to_mean:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.exp(mid) / float(np.i0(mid)) < peak_to_mean else (lo, mid)
    return (lo + hi) / 2


def diurnal_week(
    mean_requests_per_s: float, peak_to_mean: float, peak_hour: float = 14.0, weekend_factor: float = 1.0
) -> np.ndarray:
    """168 hourly mean request rates (requests/s), Monday 00:00 first, from a workload's diurnal model.

    Each weekday follows a von Mises curve over the day peaking at `peak_hour` whose busiest hour is
    `peak_to_mean` x the day's mean (`mean_requests_per_s`); Saturday and Sunday are scaled by
    `weekend_factor`. Any peak_to_mean >= 1 works (a raised cosine cannot exceed 2)."""
    check_non_negative("mean_requests_per_s", mean_requests_per_s)
    if not peak_to_mean >= 1:
        raise InvalidInputError(f"peak_to_mean must be >= 1, got {peak_to_mean!r}")
    check_fraction("weekend_factor", weekend_factor)
    hours = np.arange(24) + 0.5
    kappa = _von_mises_kappa(peak_to_mean) if peak_to_mean > 1 else 0.0
    # Sampled hourly the curve's mean and peak drift slightly: normalise on the samples.
    day = np.exp(kappa * np.cos(2 * np.pi * (hours - 0.5 - peak_hour) / 24))
    day = day / day.mean()
    day = 1 + (day - 1) * (peak_to_mean - 1) / (day.max() - 1) if peak_to_mean > 1 else np.ones(24)
    week = np.concatenate([day * (weekend_factor if d >= 5 else 1.0) for d in range(7)])
    return mean_requests_per_s * week


def measured_week(timestamps: Sequence[datetime], requests_per_s: Sequence[float], tz: str = "UTC") -> np.ndarray:
    """168 hourly request rates (Monday 00:00 local first) from measured samples: hourly means, then the mean
    of each hour of the week over the weeks measured; an hour of the week never measured takes the mean of the
    same hour of day on the days that were. Needs at least one sample in every hour of the day."""
    if len(timestamps) != len(requests_per_s) or not len(timestamps):
        raise InvalidInputError("measured history: give as many request rates as timestamps, at least one")
    values = pd.Series(np.asarray(requests_per_s, dtype=float), index=pd.DatetimeIndex(timestamps))
    if values.index.tz is None:
        raise InvalidInputError("measured history: timestamps must carry a time zone")
    if not np.isfinite(values.to_numpy()).all() or (values < 0).any():
        raise InvalidInputError("measured history: request rates must be finite numbers >= 0")
    hourly = values.tz_convert(tz).resample("1h").mean().dropna()
    how = hourly.index.day_of_week * 24 + hourly.index.hour
    week = hourly.groupby(how).mean().reindex(range(HOURS_PER_WEEK))
    by_hour = hourly.groupby(hourly.index.hour).mean().reindex(range(24))
    if by_hour.isna().any():
        missing = ", ".join(f"{h:02d}:00" for h in by_hour[by_hour.isna()].index)
        raise InvalidInputError(f"measured history has no sample in hour(s) {missing}; it needs every hour of day")
    fill = np.tile(by_hour.to_numpy(), 7)
    return np.where(week.isna(), fill, week.to_numpy())


@dataclass(frozen=True)
class ScalingPolicy:
    headroom: float = 0.2  # plan capacity = demand x (1 + headroom)
    min_replicas: int = 1
    startup_minutes: float = 10.0  # a new replica runs (and is paid) this long before its hour
    max_replicas: int | None = None  # the owned fleet's replicas; beyond them the plan bursts to the cloud

    def __post_init__(self) -> None:
        check_non_negative("headroom", self.headroom)
        if not isinstance(self.min_replicas, int) or self.min_replicas < 0:
            raise InvalidInputError(f"min_replicas must be a whole number >= 0, got {self.min_replicas!r}")
        check_non_negative("startup_minutes", self.startup_minutes)
        if self.startup_minutes >= 60:
            raise InvalidInputError("startup_minutes must be under 60 (the plan moves in whole hours)")
        # 0: the owned GPUs hold no whole replica, everything bursts.
        if self.max_replicas is not None and (not isinstance(self.max_replicas, int) or self.max_replicas < 0):
            raise InvalidInputError(f"max_replicas must be a whole number >= 0, got {self.max_replicas!r}")


@dataclass(frozen=True)
class ReplicaCost:
    """One replica: its GPUs, its capacity within the SLO (requests/s), power and prices."""

    gpus_per_replica: int
    capacity_requests_per_s: float
    gpu_idle_w: float
    gpu_busy_w: float  # at full capacity; power in between is linear in the replica's load
    pue: float = 1.4
    electricity_usd_per_kwh: float = 0.08
    owned_usd_per_gpu_hour: float | None = None  # the full economic cost of an owned GPU-hour
    rented_usd_per_gpu_hour: float | None = None

    def __post_init__(self) -> None:
        check_positive("gpus_per_replica", self.gpus_per_replica)
        check_positive("capacity_requests_per_s", self.capacity_requests_per_s)
        check_non_negative("gpu_idle_w", self.gpu_idle_w)
        check_positive("gpu_busy_w", self.gpu_busy_w)
        if self.gpu_busy_w < self.gpu_idle_w:
            raise InvalidInputError("gpu_busy_w must be >= gpu_idle_w")
        if not self.pue >= 1:
            raise InvalidInputError(f"pue must be >= 1, got {self.pue!r}")
        check_non_negative("electricity_usd_per_kwh", self.electricity_usd_per_kwh)


@dataclass(frozen=True)
class Totals:
    """A week of one way of provisioning."""

    gpu_hours: float
    kwh: float  # facility energy (IT x PUE)
    energy_usd: float
    rented_usd: float | None  # every GPU-hour at the rented price
    owned_usd: float | None


@dataclass(frozen=True)
class ScalingPlan:
    demand_requests_per_s: tuple[float, ...]  # 168 hourly means
    replicas: tuple[int, ...]  # planned per hour
    static_replicas: int  # static peak provisioning
    capacity_requests_per_s: float  # of one replica
    planned: Totals
    static: Totals
    measured: Totals | None
    burst_gpu_hours: float  # per week, above max_replicas (0 when unlimited)
    burst_usd: float | None
    burst_hours_share: float  # share of hours with any burst: RentalPrices.burst_hours_share for the cost model
    source: str  # "measured" or "model"

    def savings(self, against: str = "static") -> dict:
        """Planned vs static (or measured): GPU-hours, kWh and USD saved per week and per month, and in %."""
        base = self.static if against == "static" else self.measured
        if base is None:
            raise InvalidInputError("no measured history to compare with")
        out = {}
        for key in ("gpu_hours", "kwh", "energy_usd", "rented_usd", "owned_usd"):
            b, p = getattr(base, key), getattr(self.planned, key)
            if b is None or p is None:
                continue
            out[f"{key}_per_week"] = b - p
            out[f"{key}_per_month"] = (b - p) * WEEKS_PER_MONTH
            out[f"{key}_pct"] = 100 * (b - p) / b if b else 0.0
        return out

    def hours(self) -> list[dict]:
        """One row per hour of the week (for tables and exports)."""
        cap = self.capacity_requests_per_s
        return [
            {
                "hour_of_week": h,
                "day": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[h // 24],
                "hour": h % 24,
                "demand_requests_per_s": d,
                "replicas": r,
                "capacity_requests_per_s": r * cap,
                "static_capacity_requests_per_s": self.static_replicas * cap,
            }
            for h, (d, r) in enumerate(zip(self.demand_requests_per_s, self.replicas, strict=True))
        ]


def token_api_week(
    demand_requests_per_s: Sequence[float], mean_input_tokens: float, mean_output_tokens: float, price: TokenPrice
) -> float:
    """USD of the week's requests bought from a per-token API instead of replicas: billed per token, so
    no headroom, minimum, start-up or idle hours are paid."""
    requests = float(np.sum(demand_requests_per_s)) * 3600
    return float(token_usd(requests * mean_input_tokens, requests * mean_output_tokens, price))


def replicas_needed(demand: np.ndarray, capacity: float, policy: ScalingPolicy) -> np.ndarray:
    """Replicas per hour: demand x (1 + headroom) over one replica's capacity, at least min_replicas."""
    need = np.ceil(demand * (1 + policy.headroom) / capacity - _CEIL_SLACK)
    return np.maximum(need, policy.min_replicas).astype(int)


def _totals(replicas: np.ndarray, demand: np.ndarray, cost: ReplicaCost, startup_h: float) -> Totals:
    gpus = replicas * cost.gpus_per_replica
    # Replicas started for an hour run start-up time before it (paid, drawing idle power).
    started = np.maximum(np.diff(np.concatenate([[replicas[-1]], replicas])), 0)  # the week repeats
    boot_gpu_h = float(started.sum() * cost.gpus_per_replica * startup_h)
    load = np.divide(demand, replicas * cost.capacity_requests_per_s, out=np.zeros(len(demand)), where=replicas > 0)
    watts = cost.gpu_idle_w + (cost.gpu_busy_w - cost.gpu_idle_w) * np.minimum(load, 1.0)
    kwh = (float((gpus * watts).sum()) + boot_gpu_h * cost.gpu_idle_w) / 1000 * cost.pue
    gpu_h = float(gpus.sum()) + boot_gpu_h

    def price(p):
        return None if p is None else gpu_h * p

    return Totals(
        gpu_h,
        kwh,
        kwh * cost.electricity_usd_per_kwh,
        price(cost.rented_usd_per_gpu_hour),
        price(cost.owned_usd_per_gpu_hour),
    )


def plan_week(
    demand_requests_per_s: Sequence[float],
    cost: ReplicaCost,
    policy: ScalingPolicy = ScalingPolicy(),
    measured_replicas: Sequence[float] | None = None,
    source: str = "model",
    measured_gpus_per_replica: int | None = None,
) -> ScalingPlan:
    """The plan for a week of hourly demand (168 request rates, requests/s); `measured_replicas` (168 hourly
    mean replicas actually running, of `measured_gpus_per_replica` GPUs each, default the plan's) adds the
    measured history to the comparison (its power at the plan's replica capacity)."""
    demand = np.asarray(demand_requests_per_s, dtype=float)
    if demand.shape != (HOURS_PER_WEEK,):
        raise InvalidInputError(f"demand: give {HOURS_PER_WEEK} hourly request rates, got {demand.size}")
    if not np.isfinite(demand).all() or (demand < 0).any():
        bad = int(np.flatnonzero(~np.isfinite(demand) | (demand < 0))[0])
        raise InvalidInputError(f"demand: hour {bad} is {demand[bad]!r}; rates must be finite and >= 0")
    replicas = replicas_needed(demand, cost.capacity_requests_per_s, policy)
    static = int(replicas.max())
    startup_h = policy.startup_minutes / 60
    planned = _totals(replicas, demand, cost, startup_h)
    measured = None
    if measured_replicas is not None:
        hist = np.asarray(measured_replicas, dtype=float)
        if hist.shape != (HOURS_PER_WEEK,) or not np.isfinite(hist).all() or (hist < 0).any():
            raise InvalidInputError(f"measured_replicas: give {HOURS_PER_WEEK} hourly counts >= 0")
        size = measured_gpus_per_replica or cost.gpus_per_replica
        measured = _totals(hist * size / cost.gpus_per_replica, demand, cost, 0.0)
    burst = np.zeros(HOURS_PER_WEEK)
    if policy.max_replicas is not None:
        burst = np.maximum(replicas - policy.max_replicas, 0)
    burst_gpu_h = float(burst.sum() * cost.gpus_per_replica)
    return ScalingPlan(
        demand_requests_per_s=tuple(map(float, demand)),
        replicas=tuple(map(int, replicas)),
        static_replicas=static,
        capacity_requests_per_s=cost.capacity_requests_per_s,
        planned=planned,
        static=_totals(np.full(HOURS_PER_WEEK, static), demand, cost, 0.0),
        measured=measured,
        burst_gpu_hours=burst_gpu_h,
        burst_usd=None if cost.rented_usd_per_gpu_hour is None else burst_gpu_h * cost.rented_usd_per_gpu_hour,
        burst_hours_share=float((burst > 0).mean()),
        source=source,
    )
