"""Group the columns of (time x entity) arrays: GPUs into nodes and halls, nodes into racks and halls."""

from __future__ import annotations

import numpy as np


def sum_columns(values, groups, n):
    """Sum the columns of a (T, K) array into n groups (groups: length-K array of group indices)."""
    out = np.zeros((values.shape[0], n))
    np.add.at(out.T, groups, values.T)
    return out


def max_columns(values, groups, n):
    out = np.full((values.shape[0], n), -np.inf)
    np.maximum.at(out.T, groups, values.T)
    return np.where(np.isfinite(out), out, np.nan)


def mean_columns(values, groups, n):
    present = ~np.isnan(values)
    total = sum_columns(np.where(present, values, 0.0), groups, n)
    count = sum_columns(present.astype(float), groups, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
