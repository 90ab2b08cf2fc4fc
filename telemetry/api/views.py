from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ..models import CoolingUnit, Gpu, GpuModel, Hall, Node, Pdu, Rack, Site, Source
from ..pages import gpus as gpu_pages
from ..pages import halls as hall_pages
from ..pages import sources as source_pages
from ..pages.heatmaps import HEAT_METRICS, heat_grid
from ..tenancy import CatalogMixin, OrgScopedMixin, require_organization
from ..timerange import PRESETS, parse_filters
from . import page_exports, serializers
from .filters import require_ids

# The dashboard filters (telemetry.timerange) that the page exports below take, as the pages do.
FILTER_PARAMETERS = [
    OpenApiParameter("range", OpenApiTypes.STR, enum=list(PRESETS), description="A preset ending now."),
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="Window start (with `to`) instead of `range`."),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="Window end (default now)."),
    OpenApiParameter("site", OpenApiTypes.INT, description="Only this site's halls."),
    OpenApiParameter("hall", OpenApiTypes.INT, description="Only this hall."),
]
TABLE_PARAMETER = OpenApiParameter("table", OpenApiTypes.STR, description="CSV/XLSX: only this table.")
# Page exports answer plain rows (lists) or {"tables": {name: rows}}; a bad filter answers 400.
ROWS = {"oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}]}
ROWS_RESPONSE = {200: ROWS, 400: OpenApiTypes.OBJECT}


def page_filters(request, default_range):
    """The page's filters from the URL; where the page shows a bad filter as a message, the API answers 400."""
    filters = parse_filters(request, default_range=default_range)
    if filters.errors:
        raise ValidationError({"filters": filters.errors})
    return filters


class OrgScopedViewSet(OrgScopedMixin, viewsets.ModelViewSet):
    pass


class SiteViewSet(OrgScopedViewSet):
    queryset = Site.objects.all()
    serializer_class = serializers.SiteSerializer
    filterset_fields = ["name"]


class HallViewSet(OrgScopedViewSet):
    queryset = Hall.objects.select_related("site")
    serializer_class = serializers.HallSerializer
    filterset_fields = ["site", "cooling_type", "redundancy"]

    @extend_schema(
        summary="Halls page: measured headroom per hall", parameters=FILTER_PARAMETERS, responses=ROWS_RESPONSE
    )
    @action(detail=False, filter_backends=[], name="Hall headroom", serializer_class=None)
    def headroom(self, request):
        organization = require_organization(request.user)
        halls = hall_pages.halls_in(organization, page_filters(request, "24h"))
        return Response([page_exports.headroom_row(row) for row in hall_pages.hall_headroom(organization, halls)])

    @extend_schema(
        summary="Hall page: its charts' data (tables Load, Inlet, Racks, PUE)",
        parameters=[*FILTER_PARAMETERS[:3], TABLE_PARAMETER],
        responses=ROWS_RESPONSE,
    )
    @action(detail=True, filter_backends=[], name="Hall charts", serializer_class=None)
    def charts(self, request, pk=None):
        hall = self.get_object()
        filters = page_filters(request, "24h")
        data = hall_pages.hall_chart_data(
            require_organization(request.user), hall, filters.start, filters.end, timezone.now(), filters.max_points
        )
        return Response({"hall": hall.pk, "tables": page_exports.hall_chart_tables(data)})


class RackViewSet(OrgScopedViewSet):
    queryset = Rack.objects.all()
    serializer_class = serializers.RackSerializer
    filterset_fields = ["hall"]


class NodeViewSet(OrgScopedViewSet):
    queryset = Node.objects.all()
    serializer_class = serializers.NodeSerializer
    filterset_fields = ["rack", "hostname"]


class GpuViewSet(OrgScopedViewSet):
    queryset = Gpu.objects.select_related("model")
    serializer_class = serializers.GpuSerializer
    filterset_fields = ["node", "model", "status", "uuid"]

    @extend_schema(
        summary="GPU explorer: every GPU with its current utilization, power and temperature",
        parameters=[
            *FILTER_PARAMETERS[3:],
            OpenApiParameter("model", OpenApiTypes.INT, description="GPU model id."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=Gpu.Status.values),
            OpenApiParameter("sort", OpenApiTypes.STR, enum=[f"{d}{k}" for k in gpu_pages.SORTS for d in ("", "-")]),
        ],
        responses=ROWS_RESPONSE,
    )
    @action(detail=False, filter_backends=[], name="GPU explorer", serializer_class=None)
    def explorer(self, request):
        require_ids(request.query_params, ("model",))
        rows, _sort, _reporting = gpu_pages.explorer_rows(
            require_organization(request.user),
            page_filters(request, "24h"),
            model=request.query_params.get("model", ""),
            status=request.query_params.get("status", ""),
            sort=request.query_params.get("sort", "name"),
            now=timezone.now(),
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response([page_exports.explorer_row(row) for row in page])

    @extend_schema(
        summary="GPUs page: its fleet heatmap (a row per GPU, or per rack beyond 64 GPUs) as rows",
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("model", OpenApiTypes.INT, description="GPU model id."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=Gpu.Status.values),
            OpenApiParameter("heat", OpenApiTypes.STR, enum=list(HEAT_METRICS)),
        ],
        responses=ROWS_RESPONSE,
    )
    @action(detail=False, filter_backends=[], name="GPU heatmap", serializer_class=None)
    def heatmap(self, request):
        require_ids(request.query_params, ("model",))
        filters = page_filters(request, "24h")
        rows, _sort, _reporting = gpu_pages.explorer_rows(
            require_organization(request.user),
            filters,
            model=request.query_params.get("model", ""),
            status=request.query_params.get("status", ""),
            now=timezone.now(),
        )
        grid = heat_grid([r["gpu"] for r in rows], request.query_params.get("heat", "util"), filters, timezone.now())
        return Response(page_exports.heat_rows(grid) if rows else [])

    @extend_schema(
        summary="GPU page: its charts' data (a table per chart, named by its title) and events",
        parameters=[*FILTER_PARAMETERS[:3], TABLE_PARAMETER],
        responses=ROWS_RESPONSE,
    )
    @action(detail=True, filter_backends=[], name="GPU charts", serializer_class=None)
    def charts(self, request, pk=None):
        gpu = self.get_object()
        organization = require_organization(request.user)
        filters = page_filters(request, "24h")
        frames = gpu_pages.gpu_metric_frames(gpu.pk, filters.start, filters.end, timezone.now(), filters.max_points)
        events = gpu_pages.gpu_events(organization, gpu, filters)
        return Response({"gpu": gpu.pk, "tables": page_exports.gpu_chart_tables(frames, events)})


class CoolingUnitViewSet(OrgScopedViewSet):
    queryset = CoolingUnit.objects.all()
    serializer_class = serializers.CoolingUnitSerializer
    filterset_fields = ["hall", "kind"]


class PduViewSet(OrgScopedViewSet):
    queryset = Pdu.objects.all()
    serializer_class = serializers.PduSerializer
    filterset_fields = ["rack"]


class GpuModelViewSet(CatalogMixin, viewsets.ModelViewSet):
    """GPU models: the shared catalog (read-only, superusers edit it) and your organization's own rows,
    which override a shared row of the same name."""

    queryset = GpuModel.objects.all()
    serializer_class = serializers.GpuModelSerializer
    filterset_fields = ["name"]


class SourceViewSet(OrgScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Collector sources and their health, as the sources page lists them (no endpoints or credentials)."""

    queryset = Source.objects.order_by("name")
    serializer_class = serializers.SourceSerializer
    filterset_fields = ["kind", "enabled"]

    @extend_schema(summary="Sources page: each source's most recent collector runs", responses=ROWS_RESPONSE)
    @action(detail=False, filter_backends=[], name="Recent collector runs", serializer_class=None)
    def runs(self, request):
        sources = list(self.get_queryset())
        runs = source_pages.recent_runs(require_organization(request.user), sources)
        rows = [page_exports.run_row(source, run) for source in sources for run in runs.get(source.pk, [])]
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(page)
