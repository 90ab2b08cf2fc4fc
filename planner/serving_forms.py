"""Forms of the serving pages: a recommendation's inputs and a scaling plan's, scoped to the user's organization."""

from django import forms

from telemetry.models import Deployment, GpuModel

from .models import PRECISION_NAMES, ScalingPlan, ServingRecommendation, Workload


class ServingRecommendationForm(forms.ModelForm):
    precisions = forms.MultipleChoiceField(
        choices=[(p, p) for p in PRECISION_NAMES],
        initial=["BF16", "FP8"],
        widget=forms.CheckboxSelectMultiple,
        help_text="Weight precisions to try (FP8 needs FP8 tensor cores; INT4 = AWQ weights).",
    )

    class Meta:
        model = ServingRecommendation
        exclude = ["organization", "result"]

    def __init__(self, organization, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organization = organization
        self.fields["gpu_model"].queryset = GpuModel.objects.effective_for(organization)
        self.fields["gpu_model"].empty_label = "Every GPU model (what to buy or rent)"
        self.fields["deployment"].queryset = Deployment.objects.for_org(organization)


class ScalingPlanForm(forms.ModelForm):
    class Meta:
        model = ScalingPlan
        exclude = ["organization", "result"]

    def __init__(self, organization, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organization = organization
        self.fields["recommendation"].queryset = ServingRecommendation.objects.for_org(organization)
        self.fields["deployment"].queryset = Deployment.objects.for_org(organization)
        self.fields["workload"].queryset = Workload.objects.for_org(organization).select_related("scenario")
