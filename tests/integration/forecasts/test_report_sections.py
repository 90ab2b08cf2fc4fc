"""The forecast report sections build from stored forecasts (cooling outlook + alerts, risk top-N)."""

from planner.forecasts import cooling, risk
from planner.forecasts.models import ForecastRun
from planner.reports import sections as reports
from planner.reports.models import Section

from .helpers import last_hour, seed_hall, write_gpu_hours


def test_cooling_and_risk_sections(world):
    as_of = last_hour(seed_hall(world.a.hall, weeks=3, capacity_kw=250.0))
    cooling.run_cooling_forecast(world.a.hall.pk, as_of=as_of, mode=ForecastRun.Mode.UPDATE)
    write_gpu_hours(world.a.gpu, as_of, hours=24, gpu_temp_max=70.0)
    risk.run_risk_scoring(world.a.org.pk, as_of=as_of)

    outlook = reports.build_section(Section.COOLING_OUTLOOK, world.a.org, as_of)
    top = reports.build_section(Section.FAILURE_RISK, world.a.org, as_of)

    assert outlook.tables["Cooling outlook"][0]["hall"] == str(world.a.hall)
    assert "inlet_recommended" in {r["kind"] for r in outlook.tables["Cooling alerts"]}
    assert "active alert" in outlook.html
    assert top.tables["Failure risk"][0]["gpu_uuid"] == world.a.gpu.uuid
    empty = reports.build_section(Section.COOLING_OUTLOOK, world.b.org, as_of)
    assert empty.tables["Cooling outlook"] == [] and "No active cooling alerts" in empty.html
