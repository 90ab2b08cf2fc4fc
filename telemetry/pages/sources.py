"""Collector sources: their health, recent runs, failing rollups and quarantined values."""

from django.shortcuts import render
from django.utils import timezone

from ..models import CollectionGap, CollectorRun, QuarantinedValue, RollupWatermark, Source
from ..tenancy import require_organization
from ..timerange import parse_filters


def source_list(request):
    organization = require_organization(request.user)
    # Sources serve the whole organization: the filters only pick the zone times are shown in.
    filters = parse_filters(request)
    sources = list(Source.objects.for_org(organization).order_by("name"))
    runs = recent_runs(organization, sources)
    gaps = recent_gaps(organization)
    rows = [
        {"source": s, "health": source_health(s), "runs": runs.get(s.id, []), "gaps": gaps.get(s.id, [])}
        for s in sources
    ]
    context = {"filters": filters, "rows": rows, "now": timezone.now(), **rollup_health(organization)}
    return render(request, "telemetry/source_list.html", context)


def rollup_health(organization, shown=50):
    """The organization's failing rollup levels (why, since when) and its newest quarantined values."""
    quarantined = list(QuarantinedValue.objects.for_org(organization)[: shown + 1])
    return {
        "rollup_failures": RollupWatermark.objects.filter(organization=organization).exclude(error=""),
        "quarantined": quarantined[:shown],
        "quarantined_count": f"{shown}+" if len(quarantined) > shown else len(quarantined),
    }


def source_health(source):
    if source.healthy:
        return "ok"
    return "failing" if source.last_success_at else "never succeeded"


def recent_gaps(organization, per_source=5):
    """{source id: its newest gaps (back-filling, back-filled or lost)}."""
    return newest_per_source(CollectionGap.objects.for_org(organization).order_by("-start")[:200], per_source)


def recent_runs(organization, sources, per_source=10):
    """{source id: its newest `per_source` collector runs}, in one query."""
    recent = CollectorRun.objects.filter(source__organization=organization).order_by("-started")[
        : 2 * per_source * max(len(sources), 1)
    ]
    return newest_per_source(recent, per_source)


def newest_per_source(rows, per_source):
    """{source id: the first `per_source` of rows (newest first) with that source_id}."""
    grouped = {}
    for row in rows:
        grouped.setdefault(row.source_id, [])
        if len(grouped[row.source_id]) < per_source:
            grouped[row.source_id].append(row)
    return grouped
