"""Read-side summaries of the inventory (selectors), one query per table."""

from django.db.models import Count, F, Sum

from .models import Gpu, Hall, Rack


def hall_summaries(organization, filters=None):
    """Per hall: counts of racks/nodes/GPUs, nameplate GPU power and the hall's capacities; only the halls of
    the dashboard filters' site or hall when `filters` (telemetry.timerange.DashboardFilters) are given."""
    halls = Hall.objects.for_org(organization).select_related("site").order_by("site__name", "name")
    halls = list(filters.narrow(halls) if filters else halls)
    racks = dict(
        Rack.objects.for_org(organization).values_list("hall").annotate(n=Count("id")).values_list("hall", "n")
    )
    gpu_rows = (
        Gpu.objects.for_org(organization)
        .exclude(status=Gpu.Status.RETIRED)
        .values(hall=F("node__rack__hall"))
        .annotate(gpus=Count("id"), nodes=Count("node", distinct=True), tdp_w=Sum("model__tdp_w"))
    )
    gpus = {row["hall"]: row for row in gpu_rows}
    summaries = []
    for hall in halls:
        row = gpus.get(hall.id, {})
        summaries.append(
            {
                "hall": hall,
                "racks": racks.get(hall.id, 0),
                "nodes": row.get("nodes", 0),
                "gpus": row.get("gpus", 0),
                "gpu_tdp_kw": (row.get("tdp_w") or 0) / 1000,
            }
        )
    return summaries


def gpu_model_mix(organization, filters=None):
    gpus = Gpu.objects.for_org(organization)
    gpus = filters.narrow(gpus, "node__rack__hall") if filters else gpus
    return list(gpus.values(name=F("model__name")).annotate(count=Count("id")).order_by("-count"))
