"""Serving API: deployments with their replicas, measured efficiency and chart series, and the anomalies page
(detector findings merged with cooling alerts). Every endpoint also answers ?format=csv|xlsx."""

from dataclasses import asdict

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..models import Anomaly, Deployment, GpuModel, Replica
from ..serving import views as serving_views
from ..serving.rollups import measured_efficiency
from ..serving.store import (
    DEPLOYMENT_FIELDS,
    MAX_REPLICAS,
    ReplicaInputError,
    ReplicaSpec,
    delete_deployment,
    gpus_named,
    save_deployment,
)
from ..tenancy import OrgScopedMixin, require_organization, user_organization
from .views import FILTER_PARAMETERS, ROWS_RESPONSE, page_filters


class GpuRefsField(serializers.ListField):
    """A replica's GPUs: UUIDs (or hostname/gpuN when writing) of the caller's inventory."""

    child = serializers.CharField(max_length=80)

    def __init__(self, **kwargs):
        super().__init__(max_length=512, **kwargs)

    def to_representation(self, value):
        return [gpu.uuid for gpu in value.all()]


class ReplicaSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(required=False, help_text="Keeps that replica (else one of the same name).")
    name = serializers.CharField(max_length=60)
    metrics_url = serializers.CharField(source="source.endpoint", max_length=500)
    interval_s = serializers.IntegerField(source="source.interval_s", default=15)
    timeout_s = serializers.IntegerField(source="source.timeout_s", default=5)
    enabled = serializers.BooleanField(source="source.enabled", default=True)
    source = serializers.IntegerField(source="source_id", read_only=True)
    last_success_at = serializers.DateTimeField(source="source.last_success_at", read_only=True)
    last_error = serializers.CharField(source="source.last_error", read_only=True)
    gpus = GpuRefsField(required=False, default=list)

    class Meta:
        model = Replica
        fields = [
            "id",
            "name",
            "metrics_url",
            "interval_s",
            "timeout_s",
            "enabled",
            "source",
            "gpus",
            "last_success_at",
            "last_error",
        ]


class DeploymentSerializer(serializers.ModelSerializer):
    """Writable: the deployment's fields, and `replicas` (optional on update) as the full list it should
    have; replicas left out are removed with their source and serving history."""

    gpu_model = serializers.SlugRelatedField(slug_field="name", queryset=GpuModel.objects.all())
    replicas = ReplicaSerializer(many=True, required=False, max_length=MAX_REPLICAS)

    class Meta:
        model = Deployment
        fields = ["id", *DEPLOYMENT_FIELDS, "replicas", "created"]
        validators = []  # the name's uniqueness within the organization is checked by save_deployment

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["gpu_model"].queryset = GpuModel.objects.effective_for(user_organization(request.user))
        return fields

    def _specs(self, replicas):
        if replicas is None:
            return None
        organization = user_organization(self.context["request"].user)
        specs, errors = [], [{} for _ in replicas]
        for i, data in enumerate(replicas):
            source = data.get("source", {})
            try:
                gpus = gpus_named(organization, data.get("gpus", []))
            except ValueError as exc:
                errors[i]["gpus"] = [str(exc)]
                gpus = []
            specs.append(
                ReplicaSpec(
                    data["name"],
                    source.get("endpoint", ""),
                    gpus,
                    source.get("interval_s", 15),
                    source.get("timeout_s", 5),
                    source.get("enabled", True),
                    data.get("id"),
                )
            )
        if any(errors):
            raise serializers.ValidationError({"replicas": errors})
        return specs

    def _save(self, deployment, replicas):
        try:
            return save_deployment(deployment, self._specs(replicas))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        except ReplicaInputError as exc:
            count = len(replicas) if replicas is not None else deployment.replicas.count()
            errors = [{} for _ in range(count)]
            general = []
            for index, name, message in exc.errors:
                if index is None:
                    general.append(message)
                else:
                    errors[index].setdefault(name, []).append(message)
            raise serializers.ValidationError({"replicas": general or errors}) from exc

    def create(self, validated_data):
        replicas = validated_data.pop("replicas", [])
        organization = user_organization(self.context["request"].user)
        return self._save(Deployment(organization=organization, **validated_data), replicas)

    def update(self, instance, validated_data):
        replicas = validated_data.pop("replicas", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        return self._save(instance, replicas)


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


class DeploymentViewSet(OrgScopedMixin, viewsets.ModelViewSet):
    """Deployments with their replicas; admins create, change and delete them (telemetry.serving.store)."""

    queryset = Deployment.objects.select_related("gpu_model").prefetch_related("replicas__source", "replicas__gpus")
    serializer_class = DeploymentSerializer
    filterset_fields = ["engine", "llm_model"]

    def perform_destroy(self, instance):
        delete_deployment(instance)

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
