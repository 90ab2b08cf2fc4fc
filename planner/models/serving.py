"""Saved serving recommendations and week scaling plans: the inputs a planner typed, and the result computed
when it was saved (planner.serving.services; recomputed on "Recompute" or an API update), so a saved plan
reads the same tomorrow even when the estimator or the measurements move."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from planner.domain.throughput import Precision
from telemetry.models import Deployment, GpuModel, Organization, OrgQuerySet

from .scenarios import Workload, above_zero, llm_choices, not_negative, percent

PRECISION_NAMES = [p.name for p in Precision]


def precision_list(value):
    if not isinstance(value, list) or not value or any(v not in PRECISION_NAMES for v in value):
        raise ValidationError(f"Give a non-empty list of {', '.join(PRECISION_NAMES)}.", code="precisions")


def optional(field, verbose, help_text, validators=(above_zero,)):
    return field(verbose, null=True, blank=True, validators=list(validators), help_text=help_text)


class ServingRecommendation(models.Model):
    """How to serve one model for a traffic and SLO: the ranked configurations, computed on save."""

    ORG_LOOKUP = "organization"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="serving_recommendations")
    name = models.CharField(max_length=120)
    llm_model = models.CharField("LLM", max_length=60, choices=llm_choices, help_text="Model served.")
    gpu_model = models.ForeignKey(
        GpuModel,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="GPU model you have; blank = compare every GPU model (what to buy or rent).",
    )
    gpu_count = optional(
        models.PositiveSmallIntegerField,
        "GPUs available",
        "GPUs you can use; blank = as many as the traffic needs.",
        [MinValueValidator(1, "At least 1 GPU.")],
    )
    precisions = models.JSONField(
        default=list, validators=[precision_list], help_text=f"Weight precisions to try: {', '.join(PRECISION_NAMES)}."
    )
    requests_per_s = models.FloatField(
        "peak requests/s", validators=[above_zero], help_text="Mean request rate of the busiest hour."
    )
    mean_input_tokens = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    mean_output_tokens = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    p95_input_tokens = optional(models.PositiveIntegerField, "p95 input tokens", "Blank = the mean.")
    p95_output_tokens = optional(models.PositiveIntegerField, "p95 output tokens", "Blank = the mean.")
    p95_ttft_ms = optional(models.FloatField, "p95 TTFT target (ms)", "Time to first token; blank = no target.")
    p95_tpot_ms = optional(models.FloatField, "p95 TPOT target (ms)", "Time per output token; blank = no target.")
    owned_usd_per_gpu_hour = optional(
        models.FloatField, "owned cost (USD/GPU-hour)", "Full cost of an owned GPU-hour; blank = not shown."
    )
    rented_usd_per_gpu_hour = optional(
        models.FloatField, "rented price (USD/GPU-hour)", "Blank = the median published price of the GPU model."
    )
    deployment = models.ForeignKey(
        Deployment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Calibrate decode times on this deployment's measured serving metrics (same model and GPU).",
    )
    result = models.JSONField(default=dict, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["-updated"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="serving_recommendation_name_per_org",
                violation_error_message="A recommendation with this name already exists in the organization.",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def chosen(self):
        rows = self.result.get("configurations") or []
        return rows[0] if rows else None


class ScalingPlan(models.Model):
    """Replicas hour by hour for a week, for a saved recommendation's chosen configuration. Demand comes from
    the deployment's measured requests when it has them, else the workload's diurnal model, else the
    recommendation's peak over `peak_to_mean`."""

    ORG_LOOKUP = "organization"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="scaling_plans")
    name = models.CharField(max_length=120)
    recommendation = models.ForeignKey(
        ServingRecommendation,
        on_delete=models.CASCADE,
        related_name="scaling_plans",
        help_text="Its chosen configuration sets the replica size, capacity within the SLO and prices.",
    )
    deployment = models.ForeignKey(
        Deployment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Measured request history (last 14 days) as the demand, and its replicas as the history.",
    )
    workload = models.ForeignKey(
        Workload,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="A scenario workload whose requests/day and peak-to-mean give the diurnal model.",
    )
    peak_to_mean = models.FloatField(
        "peak-to-mean",
        default=2.0,
        validators=[MinValueValidator(1, "Peak-to-mean must be at least 1.")],
        help_text="Without deployment or workload: busiest hour over the daily mean (ratio).",
    )
    peak_hour = models.PositiveSmallIntegerField(
        default=14, validators=[MaxValueValidator(23)], help_text="Hour of day (0-23) of the daily peak."
    )
    weekend_pct = models.FloatField(
        "weekend traffic (% of weekdays)", default=70, validators=[percent], help_text="Saturday and Sunday."
    )
    headroom_pct = models.FloatField(
        "headroom (%)", default=20, validators=[not_negative], help_text="Capacity planned above demand (%)."
    )
    min_replicas = models.PositiveSmallIntegerField(default=1, help_text="Never fewer replicas than this.")
    startup_minutes = models.FloatField(
        "replica start-up (minutes)",
        default=10,
        validators=[not_negative, MaxValueValidator(59)],
        help_text="A new replica runs (and is paid) this long before its hour.",
    )
    owned_gpus = optional(
        models.PositiveIntegerField,
        "owned GPUs",
        "GPUs you own for this service; what the plan needs beyond them bursts to the cloud. Blank = no limit.",
        [MinValueValidator(1)],
    )
    gpu_idle_w = optional(models.FloatField, "GPU idle power (W)", "Blank = 15% of TDP.", [not_negative])
    gpu_busy_w = optional(models.FloatField, "GPU busy power (W)", "At the replica's capacity; blank = 85% of TDP.")
    pue = models.FloatField("PUE", default=1.4, validators=[MinValueValidator(1, "PUE cannot be below 1.")])
    electricity_usd_per_kwh = models.FloatField("electricity price (USD/kWh)", default=0.08, validators=[not_negative])
    result = models.JSONField(default=dict, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["-updated"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="scaling_plan_name_per_org",
                violation_error_message="A scaling plan with this name already exists in the organization.",
            )
        ]

    def __str__(self):
        return self.name
