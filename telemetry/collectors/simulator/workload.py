"""What drives the fleet: each hall's load (inference follows the site's day and week and grows a few
% a month; training runs flat-high with restart dips) and each site's outdoor temperature."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from .clock import DAY_S, HOUR_S, seconds
from .noise import smooth_noise, stable_key, uniform

INFERENCE_GROWTH_PER_MONTH = 0.03
GROWTH_REFERENCE = datetime(2026, 11, 1, tzinfo=UTC)


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


RESTART_SLOT_S = 6 * HOUR_S


def _restart_dips(key, slot, seed):
    """A training hall's job restarts: in each 6-hour slot a 30% chance of one, starting in the slot's first
    4 hours, 30-90 min long. (restarts?, start s, length s) per slot."""
    restart = uniform(seed, 21, key, slot) < 0.3
    dip_start = slot * RESTART_SLOT_S + uniform(seed, 22, key, slot) * 4 * HOUR_S
    return restart, dip_start, (0.5 + uniform(seed, 23, key, slot)) * HOUR_S


def training_restarts(hall_name, start_s, end_s, seed):
    """[(start s, end s)] of the simulated job restarts (IT load dips) of a training hall overlapping the span,
    so that pages can say the demo's sudden drops are simulated."""
    slots = np.arange(start_s // RESTART_SLOT_S - 1, end_s // RESTART_SLOT_S + 1, dtype=np.float64)
    restart, dip_start, dip_len = _restart_dips(stable_key(hall_name), slots, seed)
    return [
        (float(a), float(a + n))
        for a, n, r in zip(dip_start, dip_len, restart, strict=True)
        if r and a + n > start_s and a < end_s
    ]


def hall_load(hall, site_offset_h, t_s, seed):
    """Share of the hall's GPU capacity in use (0..1) over time."""
    key = stable_key(hall.name)
    if hall.workload == "training":
        # Flat-high with a dip to ~15% when a job restarts (see _restart_dips).
        restart, dip_start, dip_len = _restart_dips(key, np.floor_divide(t_s, RESTART_SLOT_S), seed)
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
