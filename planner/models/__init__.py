"""Planner models, split by topic (NetBox style): one module per area, re-exported here.

Add an area with one import line below (e.g. `from .scenarios import Scenario, ...`) and its migration.
"""

from .scenarios import CloudOffer, Scenario, Workload
from .serving import ScalingPlan, ServingRecommendation

__all__ = [
    "CloudOffer",
    "Scenario",
    "ScalingPlan",
    "ServingRecommendation",
    "Workload",
]
