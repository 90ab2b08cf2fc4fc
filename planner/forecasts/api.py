"""Forecast API: runs, hall cooling forecasts (hourly rows with 80/95% intervals), alerts and GPU risk
scores, read-only and scoped to the caller's organization. Every list also answers ?format=csv|xlsx
(telemetry.api.renderers); a forecast's detail exports its hourly rows and its backtest as two tables."""

from django.db.models import F
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from telemetry.tenancy import OrgScopedMixin, user_organization
from telemetry.timerange import is_id

from . import cooling
from .models import Alert, ForecastRun, GpuRiskScore, HallForecast


class ForecastRunSerializer(serializers.ModelSerializer):
    hall_name = serializers.CharField(source="hall.name", default=None, read_only=True)

    class Meta:
        model = ForecastRun
        fields = [
            "id",
            "kind",
            "mode",
            "hall",
            "hall_name",
            "as_of",
            "started",
            "finished",
            "duration_s",
            "status",
            "inputs_start",
            "inputs_end",
            "model_version",
            "error",
            "notes",
            "scores",
        ]


class HallForecastSerializer(serializers.ModelSerializer):
    hall_name = serializers.CharField(source="hall.name", read_only=True)
    status = serializers.CharField(source="run.status", read_only=True)
    model_version = serializers.CharField(source="run.model_version", read_only=True)

    class Meta:
        model = HallForecast
        fields = [
            "id",
            "run",
            "hall",
            "hall_name",
            "as_of",
            "horizon_hours",
            "model_version",
            "status",
            "cooling_per_it",
            "inlet_c_per_utilisation",
            "outdoor_measured",
        ]


class AlertSerializer(serializers.ModelSerializer):
    hall_name = serializers.CharField(source="hall.name", read_only=True)
    racks = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "hall",
            "hall_name",
            "kind",
            "severity",
            "threshold",
            "unit",
            "start",
            "end",
            "peak",
            "peak_at",
            "margin",
            "racks",
            "first_seen",
            "last_seen",
            "resolved_at",
            "dedup_key",
        ]

    def get_racks(self, alert) -> str:
        # Flat for CSV/XLSX: one cell naming the racks.
        return ", ".join(alert.racks)


class GpuRiskScoreSerializer(serializers.ModelSerializer):
    gpu_uuid = serializers.CharField(read_only=True)
    hostname = serializers.CharField(read_only=True)
    gpu_index = serializers.IntegerField(read_only=True)
    model = serializers.CharField(read_only=True)
    hall_name = serializers.CharField(read_only=True)
    drivers = serializers.SerializerMethodField()

    class Meta:
        model = GpuRiskScore
        fields = [
            "id",
            "run",
            "gpu",
            "gpu_uuid",
            "hostname",
            "gpu_index",
            "model",
            "hall_name",
            "as_of",
            "probability_30d",
            "log_odds",
            "top_signal",
            "drivers",
        ]

    def get_drivers(self, score) -> str:
        return "; ".join(f"{s['signal']} +{s['log_odds']:.2f}" for s in score.signals)


class ForecastRunViewSet(OrgScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Forecast runs, newest first: inputs' time range, model version, backtest scores, duration, error."""

    queryset = ForecastRun.objects.select_related("hall")
    serializer_class = ForecastRunSerializer
    filterset_fields = ["kind", "mode", "status", "hall"]


class HallForecastViewSet(OrgScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Hall cooling forecasts. `latest/` lists the newest per hall; a detail's `tables` hold the hourly
    rows (IT load, cooling load, max inlet, each with 80/95% bounds) and the backtest per quantity."""

    queryset = HallForecast.objects.select_related("hall", "run").defer("frame")
    serializer_class = HallForecastSerializer
    filterset_fields = ["hall"]

    def retrieve(self, request, *args, **kwargs):
        forecast = self.get_object()
        data = HallForecastSerializer(forecast).data
        frame = forecast.frame
        hours = [
            {"hour": hour, **{column: values[i] for column, values in frame.items() if column != "hour"}}
            for i, hour in enumerate(frame["hour"])
        ]
        backtest = [
            {"target": target, **metrics} for target, metrics in (forecast.backtest or {}).get("targets", {}).items()
        ]
        return Response({**data, "tables": {"Forecast": hours, "Backtest": backtest}})

    def get_object(self):
        # The detail needs the frame the list defers.
        queryset = self.get_queryset().defer(None)
        try:
            return get_object_or_404(queryset, pk=self.kwargs["pk"])  # a pk that is no number: 404 too
        except Http404:
            raise NotFound("No such forecast in your organization.") from None

    @extend_schema(responses=HallForecastSerializer(many=True))
    @action(detail=False, pagination_class=None, filter_backends=[])  # every hall's newest, unpaged
    def latest(self, request):
        """The newest forecast of each hall."""
        organization = user_organization(request.user)
        if organization is None:
            raise PermissionDenied("Your account belongs to no organization; ask an admin to add you.")
        latest = cooling.latest_hall_forecasts(organization)
        return Response(HallForecastSerializer(list(latest.values()), many=True).data)


class AlertViewSet(OrgScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Cooling alerts; `?active=true` for the open ones. One row per persisting condition."""

    queryset = Alert.objects.select_related("hall")
    serializer_class = AlertSerializer
    filterset_fields = ["hall", "kind", "severity"]

    def get_queryset(self):
        alerts = super().get_queryset()
        active = self.request.query_params.get("active")
        if active is not None:
            if active.lower() not in ("true", "false", "1", "0"):
                raise ValidationError({"active": "use true or false"})
            alerts = alerts.filter(resolved_at__isnull=active.lower() in ("true", "1"))
        return alerts


class GpuRiskScoreViewSet(OrgScopedMixin, viewsets.ReadOnlyModelViewSet):
    """GPU failure risk, highest first, from the newest risk run (or `?run=<id>`); filter by `model`
    (name), `hall` (id), `min_probability` (0..1)."""

    queryset = GpuRiskScore.objects.all()
    serializer_class = GpuRiskScoreSerializer
    filterset_fields = ["gpu", "top_signal"]

    def get_queryset(self):
        scores = (
            super()
            .get_queryset()
            .annotate(
                gpu_uuid=F("gpu__uuid"),
                hostname=F("gpu__node__hostname"),
                gpu_index=F("gpu__index"),
                model=F("gpu__model__name"),
                hall_name=F("gpu__node__rack__hall__name"),
            )
            .defer("features")
        )
        params = self.request.query_params
        if self.action == "list" and "gpu" not in params:
            run = params.get("run")
            if run is None:
                latest = scores.order_by("-as_of", "-run_id").values_list("run_id", flat=True).first()
                scores = scores.filter(run_id=latest)
            elif is_id(run):
                scores = scores.filter(run_id=int(run))
            else:
                raise ValidationError({"run": "give a run id"})
        if params.get("model"):
            scores = scores.filter(gpu__model__name=params["model"])
        if params.get("hall"):
            if not is_id(params["hall"]):
                raise ValidationError({"hall": "give a hall id"})
            scores = scores.filter(gpu__node__rack__hall_id=int(params["hall"]))
        if params.get("min_probability"):
            try:
                scores = scores.filter(probability_30d__gte=float(params["min_probability"]))
            except ValueError:
                raise ValidationError({"min_probability": "give a probability between 0 and 1"}) from None
        return scores.order_by("-probability_30d", "gpu_id")
