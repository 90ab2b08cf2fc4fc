"""GPU failure risk from stored telemetry: events and hourly rollups become signals, scores are stored
with their drivers, degrading GPUs rank first, and the run backtests the model 30 days earlier."""

from datetime import UTC, datetime, timedelta

import pytest

from planner.forecasts import risk
from planner.forecasts.models import GpuRiskScore
from telemetry.models import Event, Gpu

from .helpers import write_gpu_hours

AS_OF = datetime(2026, 3, 2, 0, tzinfo=UTC)


def _event(org, gpu, kind, ts, code=None):
    Event.objects.create(
        organization=org, gpu=gpu, kind=kind, code=code, ts=ts, key=Event.make_key(kind, ts, gpu.uuid, "", code)
    )


@pytest.fixture
def fleet(world):
    a = world.a
    gpus = [a.gpu] + [
        Gpu.objects.create(node=a.node, index=i, uuid=f"GPU-00000000-0000-0000-0000-{i:012d}", model=a.gpu.model)
        for i in range(1, 6)
    ]
    for gpu in gpus:
        write_gpu_hours(gpu, AS_OF, gpu_temp_max=65.0, gpu_temp_avg=60.0, gpu_ecc_sbe_min=0.0, gpu_ecc_sbe_max=0.0)
    degrading = gpus[3]
    # Rising corrected errors, a pending remap, two DBEs (XID 48) and a failed remap (XID 64).
    write_gpu_hours(
        degrading, AS_OF, hours=24 * 5, gpu_ecc_sbe_min=40.0, gpu_ecc_sbe_max=60.0, gpu_remap_pending_max=1.0
    )
    for days in (3, 9):
        _event(a.org, degrading, "xid", AS_OF - timedelta(days=days), code=48)
    _event(a.org, degrading, "xid", AS_OF - timedelta(days=2), code=64)
    _event(a.org, degrading, "remap_failure", AS_OF - timedelta(days=2))
    throttled = gpus[5]
    write_gpu_hours(
        throttled, AS_OF, hours=24 * 10, gpu_throttle_reasons_max=float(0x40), gpu_temp_max=88.0, gpu_temp_avg=86.0
    )
    # Outside the window: must not count.
    _event(a.org, gpus[1], "xid", AS_OF - timedelta(days=45), code=79)
    return gpus


def test_degrading_gpu_ranks_first_with_its_drivers(world, fleet):
    run = risk.run_risk_scoring(world.a.org.pk, as_of=AS_OF)

    assert run.status == "ok", run.error
    assert run.inputs_start == AS_OF - timedelta(days=30) and run.inputs_end == AS_OF
    scores = list(GpuRiskScore.objects.filter(run=run).order_by("-probability_30d"))
    assert len(scores) == 6
    top = scores[0]
    assert top.gpu == fleet[3]
    assert top.probability_30d > 0.5
    drivers = [s["signal"] for s in top.signals]
    assert drivers[0] == "remap_failure"
    assert drivers[:4] == ["remap_failure", "ecc_dbe", "xid_64", "ecc_sbe"] and len(drivers) == 5
    assert top.features["xid_48_30d"] == 2 and top.features["remap_failure"] == 1
    assert top.features["ecc_sbe_7d"] == 60
    assert scores[1].gpu == fleet[5]
    assert scores[1].top_signal == "thermal_throttle"
    assert scores[1].features["thermal_throttle_frac"] == pytest.approx(1 / 3, abs=0.01)
    assert scores[1].features["temp_p95_c"] == pytest.approx(86.0)
    clean = [s for s in scores if s.gpu in (fleet[0], fleet[2], fleet[4])]
    assert all(s.signals == [] for s in clean)
    assert max(s.probability_30d for s in clean) < 0.02
    old_xid = next(s for s in scores if s.gpu == fleet[1])
    assert "xid_79_30d" not in old_xid.features


def test_backtest_scores_30_days_earlier_against_failures_after(world, fleet):
    # The degrading GPU already showed DBEs before the backtest origin, then fell off the bus.
    origin = AS_OF - timedelta(days=30)
    write_gpu_hours(fleet[3], origin, gpu_ecc_sbe_min=0.0, gpu_ecc_sbe_max=30.0)
    _event(world.a.org, fleet[3], "xid", origin - timedelta(days=5), code=48)
    _event(world.a.org, fleet[3], "gpu_lost", AS_OF - timedelta(days=1))

    run = risk.run_risk_scoring(world.a.org.pk, as_of=AS_OF)

    backtest = run.scores["backtest"]
    assert backtest["gpus"] == 6 and backtest["failures"] == 1
    assert backtest["beats_baseline"] is True
    assert backtest["brier"] < backtest["base_rate_brier"]


def test_failed_and_retired_gpus_are_not_scored(world, fleet):
    Gpu.objects.filter(pk=fleet[1].pk).update(status=Gpu.Status.FAILED)
    run = risk.run_risk_scoring(world.a.org.pk, as_of=AS_OF)
    assert not GpuRiskScore.objects.filter(run=run, gpu=fleet[1]).exists()


def test_organization_without_gpus_records_the_error(world):
    Gpu.objects.filter(pk=world.b.gpu.pk).update(status=Gpu.Status.RETIRED)
    run = risk.run_risk_scoring(world.b.org.pk, as_of=AS_OF)
    assert run.status == "failed"
    assert "no GPUs in service" in run.error
