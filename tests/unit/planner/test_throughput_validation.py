"""The efficiency factors are what the fit gives, and held-out error stays within the issue's bounds."""

import pytest

from planner.domain.throughput import EFFICIENCY
from planner.domain.throughput_validation import by_regime, fit, k_fold, median_abs, source_of
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
    # Every regime within 25% but AMD's: its ten rows (vLLM on ROCm, 2024 and 2025) stay over-predicted
    # by about a third even with MI300X's sustained matmul share (docs/planner.md says so).
    groups = {value: median_abs(g) for (_, value), g in by_regime(held).items()}
    assert groups.pop("AMD Instinct") <= 0.35
    assert max(groups.values()) <= 0.25, groups


def test_sources_are_named():
    assert {source_of(r) for r in ROWS} == {
        "TensorRT-LLM",
        "Oracle Cloud Infrastructure",
        "GPUStack",
        "AMD ROCm performance results page",
    }
