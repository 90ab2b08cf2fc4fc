"""Serving API: deployments with their replicas, measured efficiency and chart series, and the anomalies page
(detector findings merged with cooling alerts). Every endpoint also answers ?format=csv|xlsx."""

from dataclasses import asdict

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..models import Anomaly, Deployment, Replica
from ..serving import views as serving_views
from ..serving.rollups import measured_efficiency
from ..tenancy import OrgScopedMixin, require_organization
from .views import FILTER_PARAMETERS, ROWS_RESPONSE, page_filters


class ReplicaSerializer(serializers.ModelSerializer):
    metrics_url = serializers.CharField(source="source.endpoint", read_only=True)
    source = serializers.IntegerField(source="source_id", read_only=True)
    last_success_at = serializers.DateTimeField(source="source.last_success_at", read_only=True)
    last_error = serializers.CharField(source="source.last_error", read_only=True)
    gpus = serializers.SlugRelatedField(many=True, read_only=True, slug_field="uuid")

    class Meta:
        model = Replica
        fields = ["id", "name", "metrics_url", "source", "gpus", "last_success_at", "last_error"]


class DeploymentSerializer(serializers.ModelSerializer):
    gpu_model = serializers.CharField(source="gpu_model.name", read_only=True)
    replicas = ReplicaSerializer(many=True, read_only=True)

    class Meta:
        model = Deployment
        fields = [
            "id",
            "name",
            "llm_model",
            "engine",
            "gpu_model",
            "precision",
            "tensor_parallel_size",
            "pipeline_parallel_size",
            "replicas",
            "created",
        ]


class AnomalySerializer(serializers.ModelSerializer):
    subject = serializers.CharField(read_only=True)

    class Meta:
        model = Anomaly
        fields = [
            "id",
            "subject",
            "gpu",
            "replica",
            "deployment",
            "metric",
            "kind",
            "severity",
            "start",
            "end",
            "observed",
            "expected_low",
            "expected_high",
            "explanation",
            "acknowledged_at",
        ]


def efficiency_row(deployment, efficiency):
    return {"deployment_id": deployment.pk, "deployment": deployment.name, **asdict(efficiency)}


class DeploymentViewSet(OrgScopedMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Deployment.objects.select_related("gpu_model").prefetch_related("replicas__source", "replicas__gpus")
    serializer_class = DeploymentSerializer
    filterset_fields = ["engine", "llm_model"]

    @extend_schema(
        summary="Serving page: measured efficiency per deployment",
        parameters=FILTER_PARAMETERS,
        responses=ROWS_RESPONSE,
    )
    @action(detail=False, filter_backends=[], name="Deployment efficiency", serializer_class=None)
    def efficiency(self, request):
        organization = require_organization(request.user)
        filters = page_filters(request, "24h")
        rows = serving_views.deployment_rows(organization, filters, timezone.now())
        return Response([efficiency_row(r["deployment"], r["efficiency"]) for r in rows])

    @extend_schema(
        summary="Deployment page: measured efficiency and chart series",
        parameters=FILTER_PARAMETERS,
        responses=ROWS_RESPONSE,
    )
    @action(detail=True, filter_backends=[], name="Deployment series", serializer_class=None)
    def series(self, request, pk=None):
        deployment = self.get_object()
        filters = page_filters(request, "6h")
        now = timezone.now()
        _, frame = serving_views.deployment_charts(deployment, filters, now)
        frame = frame.astype(object).where(frame.notna(), None)
        rows = [{**r, "ts": r["ts"].to_pydatetime()} for r in frame.to_dict("records")]
        efficiency = measured_efficiency(deployment, filters.start, filters.end, now=now)
        return Response({"tables": {"Series": rows, "Efficiency": [efficiency_row(deployment, efficiency)]}})


class AnomalyViewSet(OrgScopedMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Anomaly.objects.select_related("gpu__node", "replica__deployment", "deployment")
    serializer_class = AnomalySerializer
    filterset_fields = ["kind", "severity", "metric", "deployment", "gpu", "replica"]

    @extend_schema(
        summary="Anomalies page: detector anomalies and cooling alerts",
        parameters=FILTER_PARAMETERS,
        responses=ROWS_RESPONSE,
    )
    @action(detail=False, filter_backends=[], name="Anomalies and alerts", serializer_class=None)
    def merged(self, request):
        organization = require_organization(request.user)
        filters = page_filters(request, "24h")
        rows = serving_views.anomaly_rows(organization, filters, request.query_params.get("show", "all"))
        keys = (
            "source",
            "severity",
            "start",
            "end",
            "subject",
            "what",
            "observed",
            "expected",
            "explanation",
            "acknowledged",
        )
        return Response([{k: r[k] for k in keys} for r in rows])
