from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from ..models import CoolingUnit, Gpu, GpuModel, Hall, Node, Pdu, Rack, Site, Source
from ..pages.sources import source_health
from ..tenancy import user_organization


class OrgScopedSerializer(serializers.ModelSerializer):
    """Related fields only accept objects of the caller's organization: another organization's
    hall id reads as 'does not exist', exactly like an id that was never created."""

    def get_fields(self):
        fields = super().get_fields()
        organization = user_organization(self.context["request"].user)
        for field in fields.values():
            queryset = getattr(field, "queryset", None)
            if queryset is not None and hasattr(queryset.model, "ORG_LOOKUP"):
                field.queryset = queryset.for_org(organization)
        return fields

    def create(self, validated_data):
        return self._clean_and_save(self.Meta.model(**validated_data))

    def update(self, instance, validated_data):
        for name, value in validated_data.items():
            setattr(instance, name, value)
        return self._clean_and_save(instance)

    @staticmethod
    def _clean_and_save(instance):
        """Model-level rules (cross-field checks, unique constraints) answer 400 at the field."""
        try:
            instance.full_clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        instance.save()
        return instance


class SiteSerializer(OrgScopedSerializer):
    class Meta:
        model = Site
        exclude = ["organization"]

    def create(self, validated_data):
        validated_data["organization"] = user_organization(self.context["request"].user)
        return super().create(validated_data)


class HallSerializer(OrgScopedSerializer):
    class Meta:
        model = Hall
        fields = "__all__"


class RackSerializer(OrgScopedSerializer):
    class Meta:
        model = Rack
        fields = "__all__"


class NodeSerializer(OrgScopedSerializer):
    class Meta:
        model = Node
        fields = "__all__"


class GpuModelSerializer(OrgScopedSerializer):
    class Meta:
        model = GpuModel
        fields = "__all__"
        read_only_fields = ["organization"]


class GpuSerializer(OrgScopedSerializer):
    model_name = serializers.CharField(source="model.name", read_only=True)

    class Meta:
        model = Gpu
        fields = "__all__"


class CoolingUnitSerializer(OrgScopedSerializer):
    class Meta:
        model = CoolingUnit
        fields = "__all__"


class PduSerializer(OrgScopedSerializer):
    class Meta:
        model = Pdu
        fields = "__all__"


class SourceSerializer(serializers.ModelSerializer):
    """A collector source's health as the sources page shows it; never its endpoint or credentials."""

    health = serializers.SerializerMethodField()
    lag_s = serializers.SerializerMethodField(label="Lag (s)")

    class Meta:
        model = Source
        fields = [
            "id",
            "name",
            "kind",
            "enabled",
            "health",
            "last_success_at",
            "lag_s",
            "last_run_samples",
            "consecutive_failures",
            "last_error_at",
            "last_error",
        ]

    def get_health(self, source) -> str:
        return source_health(source)

    def get_lag_s(self, source) -> float | None:
        return source.lag.total_seconds() if source.lag else None
