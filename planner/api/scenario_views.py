"""Scenario API: CRUD (planners and admins write, viewers read), copy, and results as JSON/CSV/XLSX."""

from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from telemetry.tenancy import CatalogMixin, OrgScopedMixin

from .. import services
from ..models import CloudOffer, Scenario
from . import scenario_serializers as serializers


class ScenarioViewSet(OrgScopedMixin, viewsets.ModelViewSet):
    """Planner scenarios of your organization with their workloads nested."""

    queryset = Scenario.objects.select_related("gpu_model").prefetch_related("workloads", "halls")
    serializer_class = serializers.ScenarioSerializer
    filterset_fields = ["gpu_model", "precision"]

    @action(detail=True, methods=["post"])
    def copy(self, request, pk=None):
        """Copy a scenario with its workloads and halls (optional "name"); answers the copy."""
        copy = services.copy_scenario(self.get_object(), name=request.data.get("name") or None)
        return Response(self.get_serializer(copy).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        """Headline results, with the monthly, per-option, inputs and runway tables that ?format=csv|xlsx export."""
        try:
            report = services.evaluate(self.get_object())
        except services.ScenarioInputError as exc:
            raise ValidationError({"scenario": str(exc)}) from exc
        summary = services.summary(report)
        options = [
            {"option": name, **values, "breakeven_month": summary["breakeven_month"].get(name)}
            for name, values in summary["options"].items()
        ]
        return Response(
            {
                "summary": summary,
                "tables": {
                    "Monthly": services.monthly_rows(report),
                    "Options": options,
                    "Inputs": summary["figures"],
                    "Runway": summary["runway"],
                },
            }
        )


class CloudOfferViewSet(CatalogMixin, viewsets.ModelViewSet):
    """Published cloud GPU prices with source and date on each row: the shared catalog (read-only, superusers
    edit it) and your organization's own rows, which override a shared row of the same provider, instance
    and term."""

    queryset = CloudOffer.objects.select_related("gpu_model")
    serializer_class = serializers.CloudOfferSerializer
    filterset_fields = ["gpu_model", "term", "provider"]
