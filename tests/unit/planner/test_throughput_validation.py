"""The efficiency factors are what the fit gives, and held-out error stays within the issue's bounds."""

import pytest

from planner.domain.throughput import EFFICIENCY
from planner.domain.throughput_validation import by_regime, fit, k_fold, median_abs, regimes, source_of
from reference.catalog import load_calibration_sources

ROWS = list(load_calibration_sources())


def test_committed_factors_are_the_fit():
    fitted = fit(ROWS)
    for field in ("bandwidth", "compute", "moe", "online"):
        assert getattr(fitted, field) == pytest.approx(getattr(EFFICIENCY, field), abs=0.02)


def test_five_fold_error_overall_and_by_regime():
    held = k_fold(ROWS)
    assert len(held) == len(ROWS)
    assert median_abs(held) <= 0.15
    groups = by_regime(held)
    assert {"TP >= 4", "MoE", "dense", "FP4"} <= {value for _, value in groups}
    # Regimes with several rows from NVIDIA GPUs stay within 25%; the two AMD rows (vLLM on
    # ROCm, 2024) are over-predicted and reported in docs/planner.md, not hidden.
    nvidia = by_regime([h for h in held if regimes(h.row)["GPU family"] == "NVIDIA Hopper"])
    assert all(median_abs(g) <= 0.25 for g in nvidia.values())


def test_sources_are_named():
    assert {source_of(r) for r in ROWS} == {"TensorRT-LLM", "Oracle Cloud Infrastructure", "GPUStack"}
