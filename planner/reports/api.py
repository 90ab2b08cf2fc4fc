"""Planner API: report subscriptions, their delivery log, per-user export links, report section data.

Every list here (like every API list) also answers ?format=csv|xlsx — see telemetry.api.renderers.
"""

import django_filters
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from telemetry.api.filters import UtcDateTimeFilter
from telemetry.tenancy import OrgScopedMixin, user_organization

from . import mail, sections
from . import serializers as api_serializers
from .models import ExportLink, ReportDelivery, ReportSubscription, Section
from .tasks import send_report

DELIVERY_QUEUED = inline_serializer("DeliveryQueued", {"delivery": serializers.IntegerField()})


@extend_schema_view(
    list=extend_schema(summary="List report subscriptions"),
    retrieve=extend_schema(summary="One report subscription"),
    create=extend_schema(summary="Create a report subscription (planner or admin)"),
    update=extend_schema(summary="Replace a report subscription"),
    partial_update=extend_schema(summary="Change a report subscription"),
    destroy=extend_schema(summary="Delete a report subscription and its delivery log"),
)
class ReportSubscriptionViewSet(OrgScopedMixin, viewsets.ModelViewSet):
    """Scheduled email reports; `next_run_at` (UTC) is recomputed whenever one is saved."""

    queryset = ReportSubscription.objects.all()
    serializer_class = api_serializers.ReportSubscriptionSerializer
    filterset_fields = ["cadence", "enabled"]

    @extend_schema(
        summary="Send a report now",
        request=None,
        responses={202: DELIVERY_QUEUED, 403: OpenApiResponse(description="Viewers cannot send reports.")},
    )
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        delivery = mail.queue_now(self.get_object())
        send_report.delay_on_commit(delivery.id)
        return Response({"delivery": delivery.id}, status=status.HTTP_202_ACCEPTED)


class ReportDeliveryFilter(django_filters.FilterSet):
    scheduled_for__gte = UtcDateTimeFilter(field_name="scheduled_for", lookup_expr="gte")
    scheduled_for__lte = UtcDateTimeFilter(field_name="scheduled_for", lookup_expr="lte")

    class Meta:
        model = ReportDelivery
        fields = ["subscription", "status"]


@extend_schema_view(
    list=extend_schema(summary="Report delivery log (newest first)"),
    retrieve=extend_schema(summary="One report delivery"),
)
class ReportDeliveryViewSet(OrgScopedMixin, viewsets.ReadOnlyModelViewSet):
    queryset = ReportDelivery.objects.select_related("subscription")
    serializer_class = api_serializers.ReportDeliverySerializer
    filterset_class = ReportDeliveryFilter


@extend_schema_view(
    list=extend_schema(summary="Your export links (secrets are never shown again)"),
    retrieve=extend_schema(summary="One of your export links"),
    create=extend_schema(
        summary="Create an export link",
        description="Returns the secret once. Append `?export_token=<secret>` to any GET API URL "
        "(e.g. `/api/halls/?format=xlsx&export_token=...`) to read it as you, without headers.",
        responses={201: api_serializers.ExportLinkCreatedSerializer},
    ),
    destroy=extend_schema(summary="Revoke an export link (it stays listed with revoked_at)"),
)
class ExportLinkViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Each user manages only their own links, whatever their role: a link can only read what they can."""

    serializer_class = api_serializers.ExportLinkSerializer
    permission_classes = [IsAuthenticated]
    queryset = ExportLink.objects.none()  # replaced per request; declared for the schema

    def get_queryset(self):
        return ExportLink.objects.filter(user=self.request.user)

    def create(self, request, *args, **kwargs):
        if request.auth is not None and isinstance(request.auth, ExportLink):
            return Response({"detail": "Export links cannot create export links."}, status=403)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        link, secret = ExportLink.issue(user=request.user, name=serializer.validated_data["name"])
        link.secret = secret
        return Response(api_serializers.ExportLinkCreatedSerializer(link).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        if instance.revoked_at is None:
            instance.revoked_at = timezone.now()
            instance.save(update_fields=["revoked_at"])


class ReportSectionView(APIView):
    """The tables of one report section, as of now, for your organization: the same rows that the email's
    XLSX attachment carries (one sheet per table with ?format=xlsx; ?format=csv&table=<name>)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Report section data",
        parameters=[
            OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH, enum=Section.values),
            OpenApiParameter("table", OpenApiTypes.STR, description="CSV only: which table (default: first)"),
        ],
        responses={
            200: inline_serializer(
                "ReportSection",
                {"key": serializers.CharField(), "title": serializers.CharField(), "tables": serializers.DictField()},
            ),
            404: OpenApiResponse(description="Unknown section key."),
        },
    )
    def get(self, request, key):
        if key not in Section.values:
            raise Http404(f"No report section {key!r}; choose one of {', '.join(Section.values)}.")
        organization = user_organization(request.user)
        if organization is None:
            return Response({"detail": "Your account belongs to no organization."}, status=403)
        result = sections.build_section(key, organization, timezone.now())
        return Response({"key": key, "title": result.title, "tables": result.tables})
