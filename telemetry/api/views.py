from rest_framework import viewsets

from ..models import CoolingUnit, Gpu, GpuModel, Hall, Node, Pdu, Rack, Site
from ..tenancy import OrgScopedMixin
from . import serializers


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


class CoolingUnitViewSet(OrgScopedViewSet):
    queryset = CoolingUnit.objects.all()
    serializer_class = serializers.CoolingUnitSerializer
    filterset_fields = ["hall", "kind"]


class PduViewSet(OrgScopedViewSet):
    queryset = Pdu.objects.all()
    serializer_class = serializers.PduSerializer
    filterset_fields = ["rack"]


class GpuModelViewSet(viewsets.ModelViewSet):
    """The shared catalog: everyone reads it, admins edit it."""

    queryset = GpuModel.objects.all()
    serializer_class = serializers.GpuModelSerializer
    filterset_fields = ["name"]
