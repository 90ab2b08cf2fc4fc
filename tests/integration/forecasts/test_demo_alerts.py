"""The demo organization shows a cooling alert, raised by the real path: simulated history (hall A1's row-end rack
A1-R16 recirculates hot-aisle air) -> rollups -> the cooling forecast -> alerts -> the report's outlook section."""

from datetime import UTC, datetime, timedelta

from planner.forecasts import report_sections as forecast_reports
from planner.forecasts.models import Alert, ForecastRun, GpuRiskScore
from planner.forecasts.tasks import run_all_forecasts
from telemetry import demo, demo_history

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday morning: the alert lies in the afternoon ahead


def test_demo_forecast_raises_an_inlet_alert_in_hall_a1(db):
    org = demo.seed_inventory()
    demo_history.seed_history(org, now=NOW)
    runs = run_all_forecasts(org.pk, as_of=NOW)
    assert all(run.status == ForecastRun.Status.OK for run in runs), [run.error for run in runs]

    alerts = list(Alert.objects.for_org(org).active().select_related("hall"))
    # A1's recirculating rack, and possibly L2: its load steps with jobs, and the calibrated 95% band of
    # its cooling load reaches the N+1 capacity (a warning from the band's top, not from the forecast).
    assert "A1" in {a.hall.name for a in alerts} and {a.hall.name for a in alerts} <= {"A1", "L2"}, alerts
    assert all(a.kind == "cooling_redundancy" for a in alerts if a.hall.name == "L2"), alerts
    inlet = next(a for a in alerts if a.kind == "inlet_recommended")
    assert inlet.threshold == 27.0 and inlet.peak > inlet.threshold and inlet.unit == "C"
    assert NOW < inlet.start < NOW + timedelta(days=1)
    assert "A1-R16" in inlet.racks

    section = forecast_reports.cooling_outlook(org, NOW)
    assert {row["hall"] for row in section.tables["Cooling alerts"]} == {a.hall.name for a in alerts}

    # The risk table leads with a degrading GPU (a fault's precursors), not with age or the prior.
    top = GpuRiskScore.objects.filter(run=runs[-1]).first()
    assert top.probability_30d > 0.05 and top.top_signal not in ("", "wear_out")
