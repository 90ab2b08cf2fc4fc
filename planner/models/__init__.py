"""Planner models, split by topic (NetBox style): one module per area, re-exported here.

Add an area with one import line below (e.g. `from .scenarios import Scenario, ...`) and its migration.
"""

from .forecasts import Alert, ForecastRun, GpuRiskScore, HallForecast
from .reports import ExportLink, ReportDelivery, ReportDeliveryAttempt, ReportSubscription, Section
from .scenarios import CloudOffer, Scenario, Workload
from .serving import ScalingPlan, ServingRecommendation

__all__ = [
    "Alert",
    "ForecastRun",
    "GpuRiskScore",
    "HallForecast",
    "CloudOffer",
    "ExportLink",
    "ReportDelivery",
    "ReportDeliveryAttempt",
    "ReportSubscription",
    "Scenario",
    "ScalingPlan",
    "ServingRecommendation",
    "Section",
    "Workload",
]
