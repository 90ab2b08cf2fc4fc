from rest_framework import serializers

from telemetry.api.serializers import OrgScopedSerializer
from telemetry.tenancy import user_organization

from .models import ExportLink, ReportDelivery, ReportSubscription, Section


class ReportSubscriptionSerializer(OrgScopedSerializer):
    sections = serializers.MultipleChoiceField(choices=Section.choices)
    recipients = serializers.ListField(child=serializers.EmailField(), allow_empty=False)

    class Meta:
        model = ReportSubscription
        exclude = ["organization"]
        read_only_fields = ["next_run_at", "created_at"]

    def validate_sections(self, value):
        return sorted(value, key=Section.values.index)  # stored in the report's reading order

    def create(self, validated_data):
        validated_data["organization"] = user_organization(self.context["request"].user)
        return super().create(validated_data)


class ReportDeliverySerializer(serializers.ModelSerializer):
    subscription_name = serializers.CharField(source="subscription.name", read_only=True)

    class Meta:
        model = ReportDelivery
        fields = [
            "id",
            "subscription",
            "subscription_name",
            "scheduled_for",
            "status",
            "attempts",
            "last_error",
            "sent_at",
            "message_id",
        ]


class ExportLinkSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExportLink
        fields = ["id", "name", "created_at", "revoked_at", "last_used_at"]
        read_only_fields = ["created_at", "revoked_at", "last_used_at"]


class ExportLinkCreatedSerializer(ExportLinkSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown once; only its hash is stored.")

    class Meta(ExportLinkSerializer.Meta):
        fields = [*ExportLinkSerializer.Meta.fields, "secret"]
