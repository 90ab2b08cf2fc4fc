import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from physics.failure_rates import PRIOR_ANNUAL_RATE
from planner.domain.failure_risk import (
    RiskScores,
    calibrate_risk,
    expected_failures,
    poisson_quantile,
    prior_probability,
    score_gpus,
    spares_needed,
)
from tests.unit.forecasts.synthetic import gpu_fleet

AS_OF = pd.Timestamp("2026-03-01", tz="UTC")
DATA = Path(__file__).resolve().parents[3] / "reference" / "data" / "gpu-failures.csv"


def uniform_scores(p: float, n: int, model: str = "H100") -> RiskScores:
    scores = pd.DataFrame({"probability_30d": np.full(n, p), "model": model})
    return RiskScores(AS_OF, scores, pd.DataFrame(index=scores.index))


def test_prior_matches_the_published_interruptions():
    table = pd.read_csv(DATA)
    gpu = table.loc[table["gpu_related"] == "yes", "interruptions"].sum()
    assert gpu == 268 and table["interruptions"].sum() == 419
    assert PRIOR_ANNUAL_RATE == pytest.approx(gpu / 16_384 / 54 * 365)
    assert PRIOR_ANNUAL_RATE == pytest.approx(0.11, abs=0.005)
    assert prior_probability() == pytest.approx(1 - math.exp(-PRIOR_ANNUAL_RATE * 30 / 365))


def test_dbe_and_remap_failure_score_above_a_clean_gpu():
    features = pd.DataFrame(
        {"age_days": [400, 400], "ecc_dbe_30d": [2, 0], "remap_failure": [1, 0]},
        index=pd.Index(["sick", "clean"], name="gpu"),
    )
    risk = score_gpus(features, AS_OF)
    p = risk.scores["probability_30d"]
    assert p["clean"] == pytest.approx(prior_probability())
    assert p["sick"] > 10 * p["clean"]
    assert [d.signal for d in risk.drivers("sick")] == ["remap_failure", "ecc_dbe"]
    assert risk.drivers("clean") == []
    assert risk.scores.loc["sick", "top_signal"] == "remap_failure"
    np.testing.assert_allclose(risk.contributions.sum(axis=1), risk.scores["log_odds"])


def test_xid_48_and_dbe_counter_are_not_counted_twice():
    features = pd.DataFrame({"ecc_dbe_30d": [1, 1, 0], "xid_48_30d": [1, 0, 1]})
    log_odds = score_gpus(features, AS_OF).scores["log_odds"]
    assert log_odds[0] == pytest.approx(log_odds[1]) == pytest.approx(log_odds[2])


def test_scores_100k_gpus_quickly():
    fleet = gpu_fleet(100_000)
    start = time.perf_counter()
    risk = score_gpus(fleet, AS_OF)
    assert time.perf_counter() - start < 10
    assert risk.scores["probability_30d"].between(0, 1).all()
    assert set(risk.scores.columns) >= {"probability_30d", "log_odds", "top_signal", "model", "hall"}


def test_expected_failures_by_hand():
    # 100 GPUs at p = 0.02: mean 2, variance 100 * 0.02 * 0.98 = 1.96, sd 1.4,
    # 95% interval 2 ± 1.96 * 1.4 = [0, 4.744] (lower end clipped at 0).
    out = expected_failures(uniform_scores(0.02, 100)).loc["H100"]
    assert out["expected"] == pytest.approx(2.0)
    assert out["lo"] == 0 and out["hi"] == pytest.approx(2 + 1.959964 * 1.4, rel=1e-5)
    # 90 days at a constant hazard: 1 - 0.98^3 per GPU.
    assert expected_failures(uniform_scores(0.02, 100), days=90).loc["H100", "expected"] == (
        pytest.approx(100 * (1 - 0.98**3))
    )


def test_spares_against_a_poisson_by_hand():
    # Expected failures 2.0 in the window. Poisson(2): P(N<=4) = e^-2 (1 + 2 + 2 + 4/3 + 2/3)
    # = 7 e^-2 = 0.947 (P(N>4) = 5.3%, not enough); P(N<=5) = 0.947 + e^-2 * 4/15 = 0.983, so 5.
    spares = spares_needed(uniform_scores(0.02, 100)).loc["H100"]
    assert spares["expected_failures"] == pytest.approx(2.0)
    assert spares["spares"] == 5
    assert poisson_quantile(2.0, 0.95) == 5 and poisson_quantile(2.0, 0.9) == 4
    # With a 10% stockout risk P(N > 4) = 5.3% < 10%, so 4 suffice.
    assert spares_needed(uniform_scores(0.02, 100), max_stockout=0.10).loc["H100", "spares"] == 4
    assert poisson_quantile(0.0, 0.95) == 0


def test_calibration_recovers_a_steeper_slope():
    rng = np.random.default_rng(1)
    fleet = gpu_fleet(40_000, seed=1)
    raw = score_gpus(fleet, AS_OF).scores["log_odds"]
    truth = 1 / (1 + np.exp(-(0.5 + 1.5 * raw)))
    failed = rng.random(len(fleet)) < truth
    calibration = calibrate_risk(fleet, failed)
    assert calibration.slope == pytest.approx(1.5, abs=0.3)
    calibrated = score_gpus(fleet, AS_OF, calibration=calibration).scores["probability_30d"]
    assert calibrated.mean() == pytest.approx(failed.mean(), rel=0.1)
    with pytest.raises(ValueError, match="at least 10"):
        calibrate_risk(fleet.iloc[:100], np.zeros(100))
