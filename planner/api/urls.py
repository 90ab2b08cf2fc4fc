"""/api/planner/…: add a viewset with one `router.register` line."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from . import forecasts, scenario_views, serving, views

router = DefaultRouter()
router.register("report-subscriptions", views.ReportSubscriptionViewSet)
router.register("report-deliveries", views.ReportDeliveryViewSet)
router.register("export-links", views.ExportLinkViewSet, basename="exportlink")
router.register("scenarios", scenario_views.ScenarioViewSet)
router.register("cloud-offers", scenario_views.CloudOfferViewSet)
router.register("forecast-runs", forecasts.ForecastRunViewSet)
router.register("forecasts", forecasts.HallForecastViewSet)
router.register("alerts", forecasts.AlertViewSet)
router.register("risk-scores", forecasts.GpuRiskScoreViewSet)
router.register("serving-recommendations", serving.ServingRecommendationViewSet)
router.register("scaling-plans", serving.ScalingPlanViewSet)

urlpatterns = [
    path("report-sections/<str:key>/", views.ReportSectionView.as_view(), name="report-section"),
    *router.urls,
]
