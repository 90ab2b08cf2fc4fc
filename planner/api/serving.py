"""Serving API: saved configuration recommendations and week scaling plans of your organization. Creating or
updating one computes its result (a domain error answers 400 naming the input); `recompute/` runs it again on
today's estimator and measurements. A detail's `tables` export with ?format=csv|xlsx (telemetry.api.renderers):
a recommendation's ranked configurations, Pareto front, chosen memory breakdown and launch flags; a plan's
hours, provisioning totals and savings."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from telemetry.api.serializers import OrgScopedSerializer
from telemetry.models import GpuModel
from telemetry.tenancy import OrgScopedMixin, user_organization

from ..models import ScalingPlan, Scenario, ServingRecommendation
from ..serving import services as serving_services

CHOSEN_FIELDS = (
    "gpu",
    "precision",
    "tp",
    "replicas",
    "gpus",
    "max_num_seqs",
    "gpu_memory_utilization",
    "ttft_p95_ms",
    "tpot_p95_ms",
    "meets_slo",
    "usd_per_million_tokens_rented",
    "usd_per_million_tokens_owned",
)
MEMORY_FIELDS = ("weights_per_gpu_gb", "kv_cache_per_gpu_gb", "activations_per_gpu_gb", "overhead_per_gpu_gb")


class ComputedSerializer(OrgScopedSerializer):
    """Validates like the model, then computes the result before saving (nothing is saved on an error)."""

    def get_fields(self):
        fields = super().get_fields()
        organization = user_organization(self.context["request"].user)
        if "gpu_model" in fields:
            fields["gpu_model"].queryset = GpuModel.objects.for_org(organization)
        return fields

    def create(self, validated_data):
        organization = user_organization(self.context["request"].user)
        return self._clean_and_save(self.Meta.model(organization=organization, **validated_data))

    def _clean_and_save(self, instance):
        try:
            instance.full_clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return self.compute(instance)

    def compute(self, instance):
        try:
            return self.save_computed(instance)
        except serving_services.ServingInputError as exc:
            raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from exc


class ServingRecommendationSerializer(ComputedSerializer):
    chosen = serializers.SerializerMethodField()
    notes = serializers.SerializerMethodField()

    class Meta:
        model = ServingRecommendation
        exclude = ["organization", "result"]
        read_only_fields = ["created", "updated"]

    save_computed = staticmethod(serving_services.save_recommendation)

    def get_chosen(self, rec) -> dict:
        chosen = rec.chosen or {}
        return {key: chosen.get(key) for key in CHOSEN_FIELDS}

    def get_notes(self, rec) -> str:
        return " ".join(rec.result.get("notes", []))


class ScalingPlanSerializer(ComputedSerializer):
    summary = serializers.SerializerMethodField()

    class Meta:
        model = ScalingPlan
        exclude = ["organization", "result"]
        read_only_fields = ["created", "updated"]

    save_computed = staticmethod(serving_services.save_plan)

    def get_summary(self, plan) -> dict:
        summary = plan.result.get("summary") or {}
        saved = summary.get("savings_vs_static") or {}
        return {
            "source": summary.get("source"),
            "peak_replicas": summary.get("peak_replicas"),
            "planned_gpu_hours_per_week": (summary.get("planned") or {}).get("gpu_hours"),
            "static_gpu_hours_per_week": (summary.get("static") or {}).get("gpu_hours"),
            "gpu_hours_saved_pct": saved.get("gpu_hours_pct"),
            "rented_usd_saved_per_month": saved.get("rented_usd_per_month"),
            "kwh_saved_per_month": saved.get("kwh_per_month"),
            "burst_gpu_hours_per_week": summary.get("burst_gpu_hours_per_week"),
        }


class RecomputeMixin:
    @action(detail=True, methods=["post"])
    def recompute(self, request, pk=None):
        """Compute the result again from the saved inputs (today's estimator and measurements)."""
        serializer = self.get_serializer(self.get_object())
        serializer.compute(serializer.instance)
        return Response(self.get_serializer(serializer.instance).data)


class ServingRecommendationViewSet(RecomputeMixin, OrgScopedMixin, viewsets.ModelViewSet):
    """Configuration recommendations: ranked serving configurations for a model, traffic and SLO."""

    queryset = ServingRecommendation.objects.select_related("gpu_model", "deployment")
    serializer_class = ServingRecommendationSerializer
    filterset_fields = ["llm_model", "gpu_model"]

    def retrieve(self, request, *args, **kwargs):
        rec = self.get_object()
        return Response({**self.get_serializer(rec).data, **recommendation_tables(rec)})


class BurstShareSerializer(serializers.Serializer):
    scenario = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    mixed_burst_hours_pct = serializers.FloatField(read_only=True)


class ScalingPlanViewSet(RecomputeMixin, OrgScopedMixin, viewsets.ModelViewSet):
    """Week scaling plans: replicas per hour, against static peak provisioning and the measured history."""

    queryset = ScalingPlan.objects.select_related("recommendation", "deployment", "workload")
    serializer_class = ScalingPlanSerializer
    filterset_fields = ["recommendation", "deployment"]

    def retrieve(self, request, *args, **kwargs):
        plan = self.get_object()
        return Response({**self.get_serializer(plan).data, **plan_tables(plan)})

    @extend_schema(request=BurstShareSerializer, responses={200: BurstShareSerializer})
    @action(detail=True, methods=["post"], url_path="burst-to-scenario", serializer_class=BurstShareSerializer)
    def burst_to_scenario(self, request, pk=None):
        """Set a scenario's mixed-option burst-hours share to the share of hours this plan bursts."""
        if not request.user.has_perm("planner.change_scenario"):
            raise PermissionDenied("Only planners and admins can change scenarios.")
        plan = self.get_object()
        body = BurstShareSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        scenario = Scenario.objects.for_org(plan.organization).filter(pk=body.validated_data["scenario"]).first()
        if scenario is None:
            raise serializers.ValidationError({"scenario": ["No such scenario in your organization."]})
        try:
            pct = serving_services.apply_burst_share(plan, scenario)
        except serving_services.ServingInputError as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        return Response({"scenario": scenario.pk, "mixed_burst_hours_pct": pct})


# Export columns in order, headed with their units (jsonb keeps keys in its own order, so name them here).
CONFIG_COLUMNS = (
    ("rank", "Rank"),
    ("gpu", "GPU"),
    ("precision", "Weights"),
    ("kv_cache_dtype", "KV cache dtype"),
    ("tp", "TP"),
    ("pp", "PP"),
    ("replicas", "Replicas"),
    ("gpus", "GPUs"),
    ("max_num_seqs", "max_num_seqs"),
    ("max_num_batched_tokens", "max_num_batched_tokens"),
    ("max_model_len", "max_model_len"),
    ("gpu_memory_utilization", "GPU memory fraction"),
    ("weights_per_gpu_gb", "Weights per GPU (GB)"),
    ("kv_cache_per_gpu_gb", "KV cache per GPU (GB)"),
    ("activations_per_gpu_gb", "Activations per GPU (GB)"),
    ("overhead_per_gpu_gb", "Overhead per GPU (GB)"),
    ("free_per_gpu_gb", "Free per GPU (GB)"),
    ("kv_cache_tokens", "KV cache per replica (tokens)"),
    ("slots", "Concurrent sequences per replica"),
    ("replica_capacity_requests_per_s", "Capacity per replica within the SLO (requests/s)"),
    ("concurrency_per_replica", "Mean running per replica at the traffic"),
    ("output_tokens_per_s", "Output tokens served (tokens/s)"),
    ("ttft_p95_ms", "p95 TTFT (ms)"),
    ("tpot_p95_ms", "p95 TPOT (ms)"),
    ("latency_p95_ms", "p95 request latency (ms)"),
    ("meets_slo", "Meets SLO"),
    ("usd_per_million_tokens_rented", "Rented (USD/1M output tokens)"),
    ("usd_per_million_tokens_owned", "Owned (USD/1M output tokens)"),
    ("pareto", "On the Pareto front"),
    ("calibrated", "Calibrated on measurements"),
    ("reason", "Why"),
)
HOUR_COLUMNS = (
    ("hour_of_week", "Hour of week"),
    ("day", "Day"),
    ("hour", "Hour"),
    ("demand_requests_per_s", "Demand (requests/s)"),
    ("replicas", "Replicas"),
    ("capacity_requests_per_s", "Planned capacity (requests/s)"),
    ("static_capacity_requests_per_s", "Static peak capacity (requests/s)"),
)
TOTAL_COLUMNS = (
    ("gpu_hours", "GPU-hours per week"),
    ("kwh", "Facility energy per week (kWh)"),
    ("energy_usd", "Energy per week (USD)"),
    ("rented_usd", "All rented per week (USD)"),
    ("owned_usd", "All owned per week (USD)"),
)


def _columns(rows, columns, first=()):
    return [{**dict(first), **{label: row.get(key) for key, label in columns}} for row in rows]


def _savings(rows):
    out = []
    for row in rows:
        cells = {"Against": row["against"]}
        for key, value in row.items():
            if key != "against":
                what, _, period = key.rpartition("_")
                cells[f"{what.replace('_', ' ')} saved ({'%' if period == 'pct' else 'per ' + period})"] = value
        out.append(cells)
    return out


def recommendation_tables(rec) -> dict:
    result = rec.result
    rows = result.get("configurations", [])
    chosen = rows[0] if rows else {}
    return {
        "launch": result.get("launch", {}),
        "tables": {
            "Configurations": _columns(rows, CONFIG_COLUMNS),
            "Pareto": _columns([r for r in rows if r.get("pareto")], CONFIG_COLUMNS),
            "Memory": [
                {"Part": f.removesuffix("_per_gpu_gb").replace("_", " "), "Per GPU (GB)": chosen.get(f)}
                for f in (*MEMORY_FIELDS, "free_per_gpu_gb")
            ],
            "Launch flags": [{"Engine": e, "Command": c} for e, c in result.get("launch", {}).items()],
        },
    }


def plan_tables(plan) -> dict:
    summary = plan.result.get("summary") or {}
    provisioning = serving_services.comparison_rows(summary)
    return {
        "tables": {
            "Hours": _columns(plan.result.get("hours", []), HOUR_COLUMNS),
            "Provisioning": [
                {"Provisioning": r["provisioning"], **_columns([r], TOTAL_COLUMNS)[0]} for r in provisioning
            ],
            "Savings": _savings(serving_services.savings_rows(summary)),
        }
    }
