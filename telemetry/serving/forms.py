"""The deployment editor of the serving pages: a deployment's fields plus its replicas (one /metrics endpoint
each), validated together by telemetry.serving.store so that every problem shows at its row and field."""

from django import forms
from django.core.exceptions import ValidationError

from reference.catalog import load_llms

from ..models import Deployment, GpuModel
from .store import DEPLOYMENT_FIELDS, INTERVAL_S, TIMEOUT_S, ReplicaInputError, ReplicaSpec, gpus_named, save_deployment


class DeploymentForm(forms.ModelForm):
    class Meta:
        model = Deployment
        fields = DEPLOYMENT_FIELDS

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organization = organization
        self.fields["gpu_model"].queryset = GpuModel.objects.effective_for(organization)
        self.fields["gpu_model"].label = "GPU model"
        self.fields["llm_model"].widget = forms.Select(choices=[(name, name) for name in sorted(load_llms())])

    def _get_validation_exclusions(self):
        # The organization is not a form field but the name must be unique within it.
        exclude = super()._get_validation_exclusions()
        exclude.discard("organization")
        return exclude


class ReplicaForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(max_length=60, help_text="e.g. r0")
    metrics_url = forms.CharField(label="/metrics URL", max_length=500, help_text="e.g. http://gpu-node-1:8000/metrics")
    gpus = forms.CharField(
        label="GPUs",
        required=False,
        help_text="UUIDs or hostname/gpuN, comma-separated; TP x PP of them (blank: not known).",
    )
    interval_s = forms.IntegerField(label="Interval (s)", initial=15, min_value=INTERVAL_S[0], max_value=INTERVAL_S[1])
    timeout_s = forms.IntegerField(label="Timeout (s)", initial=5, min_value=TIMEOUT_S[0], max_value=TIMEOUT_S[1])
    enabled = forms.BooleanField(label="Collect", required=False, initial=True)


ReplicaFormSet = forms.formset_factory(ReplicaForm, extra=1, can_delete=True, max_num=256, validate_max=True)


def replica_initial(deployment):
    return [
        {
            "id": r.pk,
            "name": r.name,
            "metrics_url": r.source.endpoint,
            "gpus": ", ".join(g.uuid for g in r.gpus.all()),
            "interval_s": r.source.interval_s,
            "timeout_s": r.source.timeout_s,
            "enabled": r.source.enabled,
        }
        for r in deployment.replicas.select_related("source").prefetch_related("gpus")
    ]


class DeploymentEditor:
    """Deployment form + replica formset; `save` stores both in one transaction or reports each problem."""

    def __init__(self, organization, data=None, instance=None):
        self.organization = organization
        self.form = DeploymentForm(data, instance=instance, organization=organization)
        initial = replica_initial(instance) if instance is not None and instance.pk else None
        self.replicas = ReplicaFormSet(data, initial=initial, prefix="replicas")

    def _kept(self):
        return [
            f
            for f in self.replicas.forms
            if f.has_changed() or (f.initial and f.initial.get("id"))
            if not self.replicas._should_delete_form(f)
        ]

    def save(self):
        """The saved deployment, or None with the errors on the forms."""
        valid = self.form.is_valid()
        if not (self.replicas.is_valid() and valid):
            return None
        kept, specs = self._kept(), []
        for form in kept:
            data = form.cleaned_data
            try:
                gpus = gpus_named(self.organization, data["gpus"].split(","))
            except ValueError as exc:
                form.add_error("gpus", str(exc))
                gpus = []
            specs.append(
                ReplicaSpec(
                    data["name"],
                    data["metrics_url"],
                    gpus,
                    data["interval_s"],
                    data["timeout_s"],
                    data["enabled"],
                    data["id"],
                )
            )
        if any(f.errors for f in kept):
            return None
        try:
            return save_deployment(self.form.instance, specs)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                for message in messages:
                    self.form.add_error(name if name in self.form.fields else None, message)
        except ReplicaInputError as exc:
            for index, name, message in exc.errors:
                if index is None:
                    self.form.add_error(None, message)
                else:
                    field = name if name in kept[index].fields and name != "id" else None
                    kept[index].add_error(field, message)
        return None
