"""Scenario API: a scenario with its workloads nested, checked by the domain like the editor form."""

from django.db import transaction
from rest_framework import serializers

from telemetry.api.serializers import OrgScopedSerializer
from telemetry.tenancy import user_organization

from .. import services
from ..models import CloudOffer, Scenario, Workload


class WorkloadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Workload
        exclude = ["scenario"]


class ScenarioSerializer(OrgScopedSerializer):
    workloads = WorkloadSerializer(many=True)

    class Meta:
        model = Scenario
        exclude = ["organization"]
        read_only_fields = ["created", "updated"]

    def get_fields(self):
        fields = super().get_fields()
        # Another organization's hall id reads as "does not exist", like one never created.
        halls = fields["halls"].child_relation
        halls.queryset = halls.queryset.for_org(user_organization(self.context["request"].user))
        return fields

    def validate_workloads(self, workloads):
        if not workloads:
            raise serializers.ValidationError("Add at least one workload.")
        names = [w["name"] for w in workloads]
        if len(set(names)) != len(names):
            raise serializers.ValidationError("Workload names must differ within a scenario.")
        return workloads

    def validate(self, attrs):
        """Evaluate the inputs as they would be saved; domain errors answer 400 at the field."""
        scenario = Scenario(organization=user_organization(self.context["request"].user))
        if self.instance is not None:
            for field in Scenario._meta.concrete_fields:
                setattr(scenario, field.attname, getattr(self.instance, field.attname))
        for name, value in attrs.items():
            if name not in ("workloads", "halls"):
                setattr(scenario, name, value)
        if "workloads" in attrs:
            workloads = [Workload(**w) for w in attrs["workloads"]]
        else:
            workloads = list(self.instance.workloads.all())
        try:
            services.check_inputs(scenario, workloads)
        except services.ScenarioInputError as exc:
            errors = {}
            for index, field, message in exc.errors:
                if index is None:
                    errors.setdefault(field or "non_field_errors", []).append(message)
                else:
                    per_workload = errors.setdefault("workloads", [{} for _ in workloads])
                    per_workload[index].setdefault(field, []).append(message)
            raise serializers.ValidationError(errors) from exc
        return attrs

    @transaction.atomic
    def create(self, validated_data):
        workloads = validated_data.pop("workloads")
        halls = validated_data.pop("halls", [])
        organization = user_organization(self.context["request"].user)
        scenario = self._clean_and_save(Scenario(organization=organization, **validated_data))
        scenario.halls.set(halls)
        Workload.objects.bulk_create(Workload(scenario=scenario, **w) for w in workloads)
        return scenario

    @transaction.atomic
    def update(self, instance, validated_data):
        workloads = validated_data.pop("workloads", None)
        halls = validated_data.pop("halls", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        self._clean_and_save(instance)
        if halls is not None:
            instance.halls.set(halls)
        if workloads is not None:  # the list replaces the scenario's workloads
            instance.workloads.all().delete()
            Workload.objects.bulk_create(Workload(scenario=instance, **w) for w in workloads)
        return instance


class CloudOfferSerializer(OrgScopedSerializer):
    gpu_model_name = serializers.CharField(source="gpu_model.name", read_only=True)

    class Meta:
        model = CloudOffer
        fields = "__all__"
        read_only_fields = ["organization"]
