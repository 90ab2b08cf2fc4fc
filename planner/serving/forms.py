"""Forms of the serving pages: a recommendation's inputs and a scaling plan's, scoped to the user's organization."""

from django import forms

from telemetry.models import Deployment, GpuModel

from ..models import ScalingPlan, ServingRecommendation, Workload
from ..models.serving import PRECISION_NAMES


class ServingRecommendationForm(forms.ModelForm):
    precisions = forms.MultipleChoiceField(
        choices=[(p, p) for p in PRECISION_NAMES],
        initial=["BF16", "FP8"],
        widget=forms.CheckboxSelectMultiple,
        help_text="Weight precisions to try (FP8 needs FP8 tensor cores; INT4 = AWQ weights).",
    )

    class Meta:
        model = ServingRecommendation
        fields = [
            "name",
            "llm_model",
            "gpu_model",
            "gpu_count",
            "precisions",
            "requests_per_s",
            "mean_input_tokens",
            "mean_output_tokens",
            "p95_input_tokens",
            "p95_output_tokens",
            "p95_ttft_ms",
            "p95_tpot_ms",
            "owned_usd_per_gpu_hour",
            "rented_usd_per_gpu_hour",
            "deployment",
        ]

    def __init__(self, organization, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organization = organization
        self.fields["gpu_model"].queryset = GpuModel.objects.effective_for(organization)
        self.fields["gpu_model"].empty_label = "Every GPU model (what to buy or rent)"
        self.fields["gpu_model"].label = "GPU model"
        self.fields["deployment"].queryset = Deployment.objects.for_org(organization)


class ScalingPlanForm(forms.ModelForm):
    class Meta:
        model = ScalingPlan
        fields = [
            "name",
            "recommendation",
            "deployment",
            "workload",
            "peak_to_mean",
            "peak_hour",
            "weekend_pct",
            "headroom_pct",
            "min_replicas",
            "startup_minutes",
            "owned_gpus",
            "gpu_idle_w",
            "gpu_busy_w",
            "pue",
            "electricity_usd_per_kwh",
        ]

    def __init__(self, organization, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organization = organization
        self.fields["recommendation"].queryset = ServingRecommendation.objects.for_org(organization)
        self.fields["deployment"].queryset = Deployment.objects.for_org(organization)
        self.fields["workload"].queryset = Workload.objects.for_org(organization).select_related("scenario")
