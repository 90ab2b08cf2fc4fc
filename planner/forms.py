"""The scenario editor: a scenario form plus its workloads, checked by the domain before saving so that a
model that does not fit, a latency target out of reach or a demand of zero is reported at its field."""

from django import forms
from django.db import transaction

from telemetry.models import GpuModel, Hall

from . import services
from .models import Scenario, Workload

# Every editable input in model order; the organization comes from the user, never the form.
SCENARIO_FIELDS = [
    f.name
    for f in (*Scenario._meta.fields, *Scenario._meta.many_to_many)
    if f.editable and not f.primary_key and f.name != "organization"
]


class ScenarioForm(forms.ModelForm):
    class Meta:
        model = Scenario
        fields = SCENARIO_FIELDS
        widgets = {
            "start_month": forms.DateInput(attrs={"type": "date"}),
            "description": forms.Textarea(attrs={"rows": 2}),
            "halls": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organization = organization
        self.fields["halls"].queryset = Hall.objects.for_org(organization).select_related("site")
        self.fields["gpu_model"].queryset = GpuModel.objects.for_org(organization)

    def _get_validation_exclusions(self):
        # The organization is not a form field but the name must be unique within it.
        exclude = super()._get_validation_exclusions()
        exclude.discard("organization")
        return exclude


WorkloadFormSet = forms.inlineformset_factory(
    Scenario,
    Workload,
    exclude=["scenario"],
    extra=1,
    min_num=1,
    validate_min=True,
    can_delete=True,
)


class ScenarioEditor:
    """Scenario form + workload formset, validated together and saved in one transaction."""

    def __init__(self, organization, data=None, instance=None):
        self.form = ScenarioForm(data, instance=instance, organization=organization)
        self.workloads = WorkloadFormSet(data, instance=self.form.instance, prefix="workloads")

    def _kept_workload_forms(self):
        return [
            f
            for f in self.workloads.forms
            if (f.instance.pk or f.has_changed())
            and not (self.workloads.can_delete and self.workloads._should_delete_form(f))
        ]

    def is_valid(self):
        valid = self.form.is_valid()
        valid = self.workloads.is_valid() and valid
        if not valid:
            return False
        kept = self._kept_workload_forms()
        try:
            services.check_inputs(self.form.instance, [f.instance for f in kept])
        except services.ScenarioInputError as exc:
            for index, field, message in exc.errors:
                if index is None:
                    self.form.add_error(field if field in self.form.fields else None, message)
                else:
                    kept[index].add_error(field, message)
            return False
        return True

    def problems(self):
        """Every error as "where: message", for the live preview (saving shows each at its field)."""

        def labelled(form, prefix=""):
            for field, messages in form.errors.items():
                where = form.fields[field].label if field in form.fields else "input"
                yield from (f"{prefix}{where}: {m}" for m in messages)

        found = list(labelled(self.form))
        for number, workload in enumerate(self.workloads.forms, 1):
            found += labelled(workload, f"Workload {number}, ")
        return found + list(self.workloads.non_form_errors())

    @transaction.atomic
    def save(self):
        scenario = self.form.save()
        self.workloads.instance = scenario
        self.workloads.save()
        return scenario
