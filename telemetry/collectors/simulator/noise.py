"""Deterministic noise: a hash of (seed, stream, keys), no random state, so the same instant gives the
same value in any process and in any run length."""

from __future__ import annotations

import numpy as np

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
