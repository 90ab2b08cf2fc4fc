"""/api/planner/…: add a viewset with one `router.register` line."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from planner.forecasts import api as forecasts
from planner.reports import api as reports

from . import scenario_views, serving

router = DefaultRouter()
router.register("report-subscriptions", reports.ReportSubscriptionViewSet)
router.register("report-deliveries", reports.ReportDeliveryViewSet)
router.register("export-links", reports.ExportLinkViewSet, basename="exportlink")
router.register("scenarios", scenario_views.ScenarioViewSet)
router.register("cloud-offers", scenario_views.CloudOfferViewSet)
router.register("forecast-runs", forecasts.ForecastRunViewSet)
router.register("forecasts", forecasts.HallForecastViewSet)
router.register("alerts", forecasts.AlertViewSet)
router.register("risk-scores", forecasts.GpuRiskScoreViewSet)
router.register("serving-recommendations", serving.ServingRecommendationViewSet)
router.register("scaling-plans", serving.ScalingPlanViewSet)

urlpatterns = [
    path("report-sections/<str:key>/", reports.ReportSectionView.as_view(), name="report-section"),
    *router.urls,
]
