"""Anomaly detection on GPU telemetry and serving metrics: learned baselines, no fixed thresholds.

Plain numpy/pandas, no Django (telemetry.serving.anomalies reads the database and writes Anomaly rows).
A *panel* is one metric of a group of peers: the GPUs of one model in one hall, or the replicas of one
deployment, as a (time x subject) array at one cadence. Two learned expectations, from a history of the
same panel:

- peer: at each instant the peers' median, plus the subject's usual offset from it, plus (where a load
  panel is given, e.g. GPU utilization) a slope times the subject's load above the peers' (fitted on the
  history), so "hotter than its peers under the same load" is what stands out;
- seasonal: for the group as a whole (the peers' median, or each subject when there are too few peers), the
  median of the history at the same slot of the day/week (the caller says which slot each row is in).

Residuals are divided by a robust scale (1.4826 x MAD of the history's residuals, floored per metric) and
scanned by five detectors: spike (one point far out), shift (the rolling median far out: regressions,
divergence, throttling, a power cap, a queue that builds up), drift (one-sided CUSUM: slow creep), stuck
(a flat window where the history almost never is flat) and saturation (held at the metric's ceiling, which
the history rarely touches). Overlapping findings of one subject and metric are merged into one event.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class MetricSpec:
    """What the detectors need to know about a metric: its unit, a floor for its noise scale (in its unit),
    its ceiling if it has one (KV-cache use 1.0), and which direction is bad ("up", "down" or "both")."""

    name: str
    unit: str
    min_scale: float
    ceiling: float | None = None
    bad: str = "both"
    label: str = ""
    log: bool = False  # latencies: noise and regressions are relative, so residuals are taken in log
    group: bool = False  # also scan the peers' median against its season (a deployment-wide regression)
    stuck: bool = True  # False where a constant value is normal (a clock locked at boost)
    min_load: float | None = None  # findings only where the subject's load is at least this (an idle GPU
    # clocks down by design)


METRICS = {
    m.name: m
    for m in (
        MetricSpec("gpu_temp", "C", 1.0, bad="up", label="GPU temperature"),  # NVML reports whole degrees
        MetricSpec("gpu_power", "W", 5.0, label="board power"),
        MetricSpec("gpu_sm_clock", "MHz", 15.0, bad="down", label="SM clock", stuck=False, min_load=30.0),
        MetricSpec("gpu_util", "%", 2.0, ceiling=100.0, label="GPU utilization"),
        MetricSpec("requests_waiting", "requests", 1.0, bad="up", label="queued requests", group=True),
        MetricSpec("kv_cache_usage", "fraction", 0.01, ceiling=1.0, bad="up", label="KV-cache use"),
        MetricSpec("ttft_p95", "s", 0.005, bad="up", label="p95 time to first token", log=True, group=True),
        MetricSpec("tpot_p95", "s", 0.001, bad="up", label="p95 time per output token", log=True, group=True),
    )
}


@dataclass(frozen=True)
class Settings:
    """Detector windows are in samples of the panel's cadence; thresholds in robust standard deviations."""

    spike_z: float = 9.0
    shift_z: float = 5.0
    shift_window: int = 5
    drift_k: float = 1.5
    drift_h: float = 60.0
    stuck_window: int = 10
    stuck_rel: float = 0.02  # flat: range within this fraction of the noise scale
    stuck_history_max: float = 0.002  # only where the history is flat this rarely
    saturation_window: int = 5
    saturation_margin: float = 0.02  # within 2 % of the ceiling
    saturation_history_max: float = 0.01
    min_peers: int = 3


@dataclass(frozen=True)
class Detection:
    """One anomaly of one subject's metric: rows [start, end] (inclusive) of the scanned panel."""

    subject: str
    metric: str
    kind: str
    start: int
    end: int
    score: float  # the largest |z| in the event
    observed: float
    expected_low: float
    expected_high: float
    severity: str
    explanation: str


@dataclass
class Baseline:
    """What was learned from the history of one panel (in the metric's scale: log for latencies)."""

    curve: tuple | None  # (load points, values): the metric against its own load, pooled over the peers
    offsets: np.ndarray  # (S,) each subject's usual offset from the peers
    peer_scale: np.ndarray  # (S,)
    profile: dict  # slot -> (S or 1,) medians of the seasonal series
    level: np.ndarray  # fallback where a slot was not seen
    seasonal_scale: np.ndarray
    flat_rate: np.ndarray  # (S,) share of flat windows in the history
    ceiling_rate: np.ndarray  # (S,) share of the history at the ceiling
    peers: bool
    raw_scale: np.ndarray  # (S,) sample-to-sample noise in the metric's unit (for "stuck")
    load_scale: tuple | None = None  # (bin edges, scale per bin): residual spread by load, pooled

    def scale_at(self, load):
        """(T x S) scale: the subject's own, or the spread at that load where it is wider (an idle GPU's clock
        jumps between idle and boost; at full load it is steady)."""
        if self.load_scale is None or load is None:
            return self.peer_scale[None, :]
        edges, scales = self.load_scale
        which = np.clip(np.searchsorted(edges, np.nan_to_num(load), side="right") - 1, 0, len(scales) - 1)
        return np.maximum(self.peer_scale[None, :], scales[which])


def _nanmedian(a, axis=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (a GPU that did not report) stay NaN
        return np.nanmedian(a, axis=axis)


def _robust_scale(residuals, floor):
    """1.4826 x MAD, or a quarter of the 99.5th percentile of the absolute deviation where that is larger:
    a subject whose residual is often far out (an idle GPU whose clock jumps between idle and boost) gets
    a scale its usual excursions fit in."""
    center = _nanmedian(residuals, axis=0)
    deviation = np.abs(residuals - center)
    mad = MAD_TO_SIGMA * _nanmedian(deviation, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        tail = np.nanquantile(deviation, 0.995, axis=0) / 4
    return np.maximum(np.nan_to_num(np.maximum(mad, tail), nan=floor), floor)


def _transform(values, spec):
    values = np.asarray(values, dtype=float)
    return np.log(np.maximum(values, spec.min_scale)) if spec.log else values


# Load quantiles that bound the curve's bins: finer in the tails, where a few busy GPUs sit near the cap.
CURVE_QUANTILES = np.concatenate([np.linspace(0, 0.9, 19), [0.93, 0.96, 0.98, 0.99, 0.995, 0.999, 1.0]])


def _fit_curve(load, values):
    """Median of the metric per load quantile bin, pooled over subjects: a GPU's temperature, power or clock
    as a function of its own utilization (not a straight line: the clock is flat until the power cap)."""
    x, y = np.ravel(load), np.ravel(values)
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 500:
        return None
    x, y = x[ok], y[ok]
    edges = np.unique(np.quantile(x, CURVE_QUANTILES))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(len(edges) - 2, 0))
    frame = pd.DataFrame({"bin": which, "x": x, "y": y}).groupby("bin").median()
    return frame["x"].to_numpy(), frame["y"].to_numpy()


def _curve_at(load, curve):
    """The curve at `load`, extended past its end points along its last segments."""
    xs, ys = curve
    out = np.interp(load, xs, ys)
    if len(xs) >= 2:
        for (x0, x1), (y0, y1), beyond in (
            ((xs[-2], xs[-1]), (ys[-2], ys[-1]), load > xs[-1]),
            ((xs[0], xs[1]), (ys[0], ys[1]), load < xs[0]),
        ):
            if x1 > x0:
                out = np.where(beyond, y1 + (load - x1) * (y1 - y0) / (x1 - x0), out)
    return out


def _peer_expectation(values, load, curve, offsets, groups=None):
    """Expected values: the load curve at each subject's load, plus what its peers share at that instant
    (ambient, a common load change: per group, e.g. the GPUs of one node), plus its usual offset."""
    by_load = _curve_at(load, curve) if curve is not None and load is not None else np.zeros_like(values)
    rest = values - by_load
    if groups is None:
        common = _nanmedian(rest, axis=1)[:, None]
    else:
        groups = np.asarray(groups)
        common = np.empty_like(rest)
        for g in np.unique(groups):
            cols = groups == g
            common[:, cols] = _nanmedian(rest[:, cols], axis=1)[:, None]
    return by_load + common + offsets[None, :]


def _season(values, slots, profile, level):
    return np.vstack([profile.get(s, level) for s in slots])


def _flat(values, window, tolerance):
    frame = pd.DataFrame(values)
    spread = (
        frame.rolling(window, min_periods=window).max() - frame.rolling(window, min_periods=window).min()
    ).to_numpy()
    return (spread <= tolerance[None, :]) & ~np.isnan(spread)


def learn(history, slots, spec: MetricSpec, *, load=None, groups=None, settings=Settings()) -> Baseline:
    """Learn a panel's baseline from its history: `history` (N x S) in the metric's unit, `slots` (N,) ints
    naming each row's seasonal slot (e.g. hour of day, weekdays apart from weekends), `load` (N x S) or None,
    `groups` (S,) the peer group of each subject (e.g. its node; None: all one group; groups of fewer than
    `min_peers` are joined to the whole panel)."""
    groups = _usable_groups(groups, settings)
    raw = np.asarray(history, dtype=float)
    values = _transform(raw, spec)
    peers = values.shape[1] >= settings.min_peers
    curve = _fit_curve(load, values) if load is not None and peers else None
    offsets = np.zeros(values.shape[1])
    if peers:
        offsets = np.nan_to_num(_nanmedian(values - _peer_expectation(values, load, curve, offsets, groups), axis=0))
    seasonal = _nanmedian(values, axis=1)[:, None] if peers else values
    frame = pd.DataFrame(seasonal)
    frame["slot"] = np.asarray(slots)
    profile = {slot: row.to_numpy() for slot, row in frame.groupby("slot").median().iterrows()}
    level = _nanmedian(seasonal, axis=0)
    floor = settings_floor(spec)
    seasonal_scale = _robust_scale(seasonal - _season(seasonal, slots, profile, level), floor)
    load_scale = None
    if peers:
        residuals = values - _peer_expectation(values, load, curve, offsets, groups)
        scale = _robust_scale(residuals, floor)
        if curve is not None:
            load_scale = _scale_by_load(load, residuals, floor)
    else:
        scale = seasonal_scale
    raw_scale = _robust_scale(np.diff(raw, axis=0), spec.min_scale)  # sample-to-sample noise, in the unit
    flat_rate = _flat(raw, settings.stuck_window, settings.stuck_rel * raw_scale).mean(axis=0)
    if spec.ceiling is not None:
        ceiling_rate = (raw >= spec.ceiling * (1 - settings.saturation_margin)).mean(axis=0)
    else:
        ceiling_rate = np.zeros(values.shape[1])
    return Baseline(
        curve, offsets, scale, profile, level, seasonal_scale, flat_rate, ceiling_rate, peers, raw_scale, load_scale
    )


def _scale_by_load(load, residuals, floor):
    x, r = np.ravel(load), np.ravel(residuals)
    ok = ~(np.isnan(x) | np.isnan(r))
    edges = np.unique(np.quantile(x[ok], CURVE_QUANTILES))
    which = np.clip(np.searchsorted(edges, x[ok], side="right") - 1, 0, max(len(edges) - 2, 0))
    scales = np.array(
        [
            _robust_scale(r[ok][which == b], floor) if (which == b).any() else floor
            for b in range(max(len(edges) - 1, 1))
        ],
        dtype=float,
    )
    return edges, scales


def settings_floor(spec):
    """The noise floor in the scale the residuals live in (log metrics: a relative 5 %)."""
    return 0.05 if spec.log else spec.min_scale


def _usable_groups(groups, settings):
    if groups is None:
        return None
    groups = np.asarray(groups)
    names, counts = np.unique(groups, return_counts=True)
    small = set(names[counts < settings.min_peers])
    if len(small) == len(names):
        return None
    return np.array([g if g not in small else "__rest__" for g in groups.tolist()], dtype=object)


def detect(
    values, slots, spec: MetricSpec, baseline: Baseline, subjects, *, load=None, groups=None, settings=Settings()
):
    """Scan `values` (T x S, the same subjects, cadence and groups as the history) and return Detections."""
    groups = _usable_groups(groups, settings)
    raw = np.asarray(values, dtype=float)
    values = _transform(raw, spec)
    found = []
    if baseline.peers:
        expected = _peer_expectation(values, load, baseline.curve, baseline.offsets, groups)
        scale = baseline.scale_at(load)
        z = (values - expected) / scale
        if spec.min_load is not None and load is not None:
            z = np.where(np.nan_to_num(np.asarray(load, dtype=float)) >= spec.min_load, z, 0.0)
        found += _scan(z, raw, expected, scale, spec, baseline, settings, "peer")
        if spec.group:
            group = _nanmedian(values, axis=1)[:, None]
            gexp = _season(group, slots, baseline.profile, baseline.level)
            gz = (group - gexp) / baseline.seasonal_scale[None, :]
            rows = _scan(
                gz,
                _nanmedian(raw, axis=1)[:, None],
                gexp,
                baseline.seasonal_scale,
                spec,
                baseline,
                settings,
                "seasonal",
                group=True,
            )
            found += [(None, *rest) for _, *rest in rows]
    else:
        expected = _season(values, slots, baseline.profile, baseline.level)
        z = (values - expected) / baseline.seasonal_scale[None, :]
        found += _scan(z, raw, expected, baseline.seasonal_scale, spec, baseline, settings, "seasonal")
    return _merge(found, subjects, spec)


def _runs(mask):
    """(start, end) inclusive of each run of True in a 1-D mask."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2], edges[1::2] - 1, strict=True))


def _signed(z, bad):
    return {"up": z, "down": -z}.get(bad, np.abs(z))


def _cusum(z, k, h):
    """Rows where a one-sided CUSUM of z (already signed: positive is bad) is above h, each run ending where
    the sum peaked: after that the excess has stopped and the sum only decays (at k a row, hours after a
    large excess), which would keep the event open long after the series came back."""
    z = np.nan_to_num(z)
    sums = np.zeros_like(z, dtype=float)
    s = np.zeros(z.shape[1])
    for row in range(z.shape[0]):
        s = np.maximum(0.0, s + z[row] - k)
        sums[row] = s
    out = sums > h
    for col in range(z.shape[1]):
        for start, end in _runs(out[:, col]):
            peak = start + int(np.argmax(sums[start : end + 1, col]))
            out[peak + 1 : end + 1, col] = False
    return out


def _scan(z, values, expected, scale, spec, baseline, settings, basis, group=False):
    signed = _signed(z, spec.bad)
    rolled = pd.DataFrame(signed).rolling(settings.shift_window, min_periods=settings.shift_window).median()
    shift = rolled.to_numpy() >= settings.shift_z
    # The shift is seen at the window's end; the event starts where the window began.
    shift = pd.DataFrame(shift[::-1]).rolling(settings.shift_window, min_periods=1).max().to_numpy()[::-1] > 0
    detectors = {
        "spike": signed >= settings.spike_z,
        "shift": shift,
        "drift": _cusum(signed, settings.drift_k, settings.drift_h),
    }
    if not group and spec.stuck:
        flat = _flat(values, settings.stuck_window, settings.stuck_rel * baseline.raw_scale)
        detectors["stuck"] = flat & (baseline.flat_rate < settings.stuck_history_max)[None, :]
    if not group and spec.ceiling is not None:
        at_ceiling = values >= spec.ceiling * (1 - settings.saturation_margin)
        held = (
            pd.DataFrame(at_ceiling.astype(float))
            .rolling(settings.saturation_window, min_periods=settings.saturation_window)
            .min()
            .to_numpy()
            > 0
        )
        detectors["saturation"] = held & (baseline.ceiling_rate < settings.saturation_history_max)[None, :]
    scale = np.broadcast_to(scale if np.ndim(scale) == 2 else np.asarray(scale)[None, :], z.shape)
    out = []
    for kind, mask in detectors.items():
        for col in range(mask.shape[1]):
            for start, end in _runs(mask[:, col]):
                out.append((col, kind, start, end, z[:, col], expected[:, col], scale[:, col], values[:, col], basis))
    return out


MERGE_GAP = 10  # findings this few samples apart are one event
KIND_ORDER = ("saturation", "stuck", "shift", "drift", "spike")  # the most specific name wins a merge
KIND_WORDS = {
    "saturation": "held at its ceiling",
    "stuck": "stuck at one value",
    "shift": "away from its expected range",
    "drift": "drifting away from its expected range",
    "spike": "spiked",
}


def _merge(found, subjects, spec):
    by_key = {}
    for col, kind, start, end, z, expected, scale, observed, basis in found:
        by_key.setdefault(col, []).append((start, end, kind, z, expected, scale, observed, basis))
    detections = []
    for col, spans in by_key.items():
        spans.sort(key=lambda s: s[0])
        merged = []
        for span in spans:
            if merged and span[0] <= merged[-1][1] + MERGE_GAP:
                last = merged[-1]
                merged[-1] = (last[0], max(last[1], span[1]), [*last[2], span[2]], *span[3:])
            else:
                merged.append((span[0], span[1], [span[2]], *span[3:]))
        for start, end, kinds, z, expected, scale, observed, basis in merged:
            kind = next(k for k in KIND_ORDER if k in kinds)
            detections.append(_detection(col, subjects, spec, start, end, kind, z, expected, scale, observed, basis))
    return sorted(detections, key=lambda d: (d.start, d.subject))


def _detection(col, subjects, spec, start, end, kind, z, expected, scale, observed, basis):
    window = slice(start, end + 1)
    zs = np.nan_to_num(z[window])
    peak = int(np.argmax(np.abs(zs)))
    score = float(abs(zs[peak]))
    value, centre = float(observed[window][peak]), float(expected[window][peak])
    spread = float(scale[window][peak])
    low, high = centre - 3 * spread, centre + 3 * spread
    if spec.log:
        low, high = float(np.exp(low)), float(np.exp(high))
    low = max(low, 0.0)  # every metric here is non-negative
    subject = "all peers" if col is None else subjects[col]
    reference = "its peers' median and its usual offset" if basis == "peer" else "the same time of day in its history"
    direction = "above" if value > high else "below" if value < low else "within"
    explanation = (
        f"{spec.label or spec.name} of {subject} {KIND_WORDS[kind]}: {value:.3g} {spec.unit}, {direction} the "
        f"expected {low:.3g}-{high:.3g} {spec.unit} (from {reference}); {score:.1f} robust standard deviations."
    )
    severity = "critical" if score >= 12 or kind == "saturation" else "warning"
    return Detection(subject, spec.name, kind, int(start), int(end), score, value, low, high, severity, explanation)


def threshold_rule(values, spec_name, *, hold=3, limits=None):
    """The fixed-threshold baseline (what serving platforms hard-code): a value past a fixed limit for `hold`
    consecutive samples. Returns (col, start, end) runs."""
    limits = limits or THRESHOLDS
    op, limit = limits[spec_name]
    values = np.asarray(values, dtype=float)
    past = values >= limit if op == ">=" else values <= limit
    held = pd.DataFrame(past.astype(float)).rolling(hold, min_periods=hold).min().to_numpy() > 0
    return [(col, s, e) for col in range(held.shape[1]) for s, e in _runs(held[:, col])]


# Fixed limits of the kind hard-coded in serving platforms and GPU monitoring defaults.
THRESHOLDS = {
    "gpu_temp": (">=", 85.0),  # H100 slowdown is 89 C: alert a little before
    "gpu_power": (">=", 690.0),  # at the 700 W cap
    "gpu_sm_clock": ("<=", 1200.0),
    "gpu_util": (">=", 99.0),
    "requests_waiting": (">=", 50.0),  # "pending requests >= 50 for 3 minutes"
    "requests_running": (">=", 256.0),
    "kv_cache_usage": (">=", 0.95),
    "ttft_p95": (">=", 2.0),
    "tpot_p95": (">=", 0.2),
}
