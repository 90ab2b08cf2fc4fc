"""planner.services on saved scenarios in PostgreSQL: evaluation, calibration from rollups, copies, demo seeding."""

from datetime import UTC, date, datetime, timedelta

import pytest

from planner import demo, services
from planner.models import CloudOffer, Scenario, Workload
from telemetry.models import GpuModel, HallRollup, Resolution

from .factories import make_scenario

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def test_cloud_offers_are_seeded_with_source_and_date(db):
    offers = CloudOffer.objects.select_related("gpu_model")
    assert offers.count() >= 10
    assert all(o.source and o.as_of for o in offers)
    spot = offers.get(provider="AWS/GCP", term="spot")
    assert (spot.usd_per_gpu_hour, spot.usd_per_gpu_hour_high) == (2.0, 2.5)


def test_evaluate_a_saved_scenario(world):
    scenario = make_scenario(world.a.org, halls=[world.a.hall])
    report = services.evaluate(scenario, as_of=AS_OF, draws=200)
    plan = report.result.demand
    assert len(plan.months) == 24 and plan.months[0] == date(2026, 1, 1)
    assert plan.gpus[-1] > plan.gpus[0] > 0  # 5%/month growth
    assert {f.source for f in report.figures} == {"typed", "TDP-based (700 W x 1.82)"}
    (hall_runway,) = report.runways
    assert hall_runway.load_source.startswith("nameplate")
    assert report.capacity_gpus > 0
    summary = services.summary(report)
    assert summary["options"]["own"]["total_usd"] > 0
    rows = services.monthly_rows(report)
    assert len(rows) == 24 and rows[-1]["own_cumulative_cash_usd"] == pytest.approx(
        report.result.costs.options["own"].cumulative_cash_usd[-1]
    )


def test_measured_figures_replace_typed_ones_and_say_so(world):
    scenario = make_scenario(world.a.org, halls=[world.a.hall], calibrate_from_telemetry=True, calibration_days=7)
    HallRollup.objects.bulk_create(
        HallRollup(
            resolution=Resolution.HOUR,
            hall=world.a.hall,
            ts=AS_OF - timedelta(hours=h + 1),
            gpu_count=8,
            gpu_util_avg=50 + h % 10,
            it_power_w=8 * 1100.0,
        )
        for h in range(48)
    )
    measured = services.measured_hall_figures([world.a.hall], 7, AS_OF)
    assert measured.power_kw_per_gpu == pytest.approx(1.1)
    assert measured.it_load_kw_by_hall == {world.a.hall.id: pytest.approx(8.8)}
    assert measured.pue is None  # no facility power measured
    report = services.evaluate(scenario, as_of=AS_OF, draws=100)
    figures = {f.label: f for f in report.figures}
    assert figures["IT power per GPU"].measured and figures["IT power per GPU"].value == pytest.approx(1.1)
    assert figures["Utilization ceiling"].value == pytest.approx(0.59, abs=0.01)
    assert not figures["PUE"].measured
    assert report.runways[0].load_source.startswith("measured")
    assert services.measured_hall_figures([world.a.hall], 7, AS_OF - timedelta(days=30)) is None


def test_a_model_too_big_even_at_tp8_is_reported_at_the_workload_field(world):
    scenario = make_scenario(world.a.org, precision="BF16")
    Workload.objects.filter(scenario=scenario).update(llm_model="Llama-3.1-405B", max_ms_per_output_token=None)
    with pytest.raises(services.ScenarioInputError) as exc:
        services.evaluate(scenario)
    ((index, field, message),) = exc.value.errors
    assert (index, field) == (0, "llm_model")
    assert "even at TP=8" in message and "Llama-3.1-405B" in message


def test_copy_keeps_workloads_and_halls_and_picks_a_free_name(world):
    scenario = make_scenario(world.a.org, halls=[world.a.hall])
    first = services.copy_scenario(scenario)
    second = services.copy_scenario(scenario)
    assert (first.name, second.name) == (f"{scenario.name} (copy)", f"{scenario.name} (copy 2)")
    assert list(second.halls.all()) == [world.a.hall]
    assert [w.name for w in second.workloads.all()] == [w.name for w in scenario.workloads.all()]
    assert scenario.workloads.count() == 1


def test_demo_scenarios_are_seeded_once_and_evaluate(world):
    first = demo.seed_scenarios(world.a.org)
    again = demo.seed_scenarios(world.a.org)
    assert [s.pk for s in first] == [s.pk for s in again]
    assert Scenario.objects.for_org(world.a.org).count() == 3
    assert Workload.objects.for_org(world.a.org).count() == 5
    for scenario in first:
        report = services.evaluate(scenario, as_of=AS_OF, draws=100)
        assert max(report.result.demand.gpus) > 0


def test_suggested_rent_prices_are_catalog_medians(db):
    prices = services.suggested_rent_prices(None, GpuModel.objects.get(name="H100 SXM 80GB"))
    assert prices["spot_usd_per_gpu_hour"] == pytest.approx(2.25)
    assert prices["on_demand_usd_per_gpu_hour"] > 0


def test_scenario_summary_report_section(world):
    from planner.reports.sections import build_section

    make_scenario(world.a.org, halls=[world.a.hall])
    make_scenario(world.b.org, name="Their plan")
    section = build_section("scenario_summary", world.a.org, AS_OF)
    (row,) = section.tables["Scenarios"]
    assert row["scenario"] == "Chat on H100" and row["own_total_usd"] > 0
    assert "Their plan" not in section.html and "totals" in section.figures


def test_capacity_runway_report_section(world):
    from planner.reports.sections import build_section

    scenario = make_scenario(world.a.org, halls=[world.a.hall])
    make_scenario(world.b.org, name="Their plan", halls=[world.b.hall])
    section = build_section("capacity_runway", world.a.org, AS_OF)
    (row,) = section.tables["Runway"]
    expected = services.summary(services.evaluate(scenario, as_of=AS_OF, draws=200))["runway"][0]
    assert row == {"scenario": scenario.name, **expected}
    assert "Their plan" not in section.html and world.a.hall.name in section.html
    assert len(section.figures) == 1
