from django.urls import path
from rest_framework.routers import DefaultRouter

from . import ingest, schema, serving, views  # noqa: F401  (schema registers OpenAPI extensions)

router = DefaultRouter()
router.register("sites", views.SiteViewSet)
router.register("halls", views.HallViewSet)
router.register("racks", views.RackViewSet)
router.register("nodes", views.NodeViewSet)
router.register("gpus", views.GpuViewSet)
router.register("gpu-models", views.GpuModelViewSet)
router.register("cooling-units", views.CoolingUnitViewSet)
router.register("pdus", views.PduViewSet)
router.register("sources", views.SourceViewSet, basename="api-source")  # "source-list" is the page
router.register("deployments", serving.DeploymentViewSet, basename="api-deployment")
router.register("anomalies", serving.AnomalyViewSet, basename="api-anomaly")

urlpatterns = router.urls

# Push API (telemetry.api.ingest)
urlpatterns += [
    path("ingest/", ingest.JsonIngestView.as_view(), name="ingest-json"),
    path("ingest/prometheus/", ingest.PrometheusIngestView.as_view(), name="ingest-prometheus"),
    path("ingest/csv/", ingest.CsvIngestView.as_view(), name="ingest-csv"),
]
