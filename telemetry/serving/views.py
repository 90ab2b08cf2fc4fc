"""Serving pages: deployments (measured tokens per GPU-hour and kWh, $ per 1M tokens), one deployment's
charts, and the anomalies page (detector findings beside the cooling forecasts' alerts; acknowledge, mute).
The same rows answer the API (telemetry.api.serving) so the pages' CSV/XLSX links export what they show."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from .. import extensions
from ..charts import figure, local_times, name_time_zone
from ..models import Anomaly, AnomalyMute, Deployment
from ..tenancy import require_organization, user_role
from ..timerange import parse_filters
from .forms import DeploymentEditor
from .rollups import deployment_frame, measured_efficiency
from .store import delete_deployment

CHARTS = (
    ("Requests", "requests/s", ("requests_per_s",)),
    ("Queue and batch", "requests", ("requests_waiting", "requests_running")),
    ("KV-cache use", "fraction", ("kv_cache_usage",)),
    ("Time to first token", "s", ("ttft_p50", "ttft_p95", "ttft_p99")),
    ("Time per output token", "s", ("tpot_p50", "tpot_p95", "tpot_p99")),
    ("Tokens", "tokens/s", ("generation_tokens_per_s", "prompt_tokens_per_s")),
)
MUTE_HOURS = (1, 8, 24, 168)


def deployments_of(organization):
    return (
        Deployment.objects.for_org(organization)
        .select_related("gpu_model")
        .prefetch_related("replicas__source", "replicas__gpus")
        .annotate(open_anomalies=Count("anomalies", filter=Q(anomalies__end=None), distinct=True))
    )


def deployment_rows(organization, filters, now):
    return [
        {"deployment": d, "efficiency": measured_efficiency(d, filters.start, filters.end, now=now)}
        for d in deployments_of(organization)
    ]


def deployment_list(request):
    organization = require_organization(request.user)
    filters = parse_filters(request, default_range="24h")
    rows = deployment_rows(organization, filters, timezone.now())
    return render(request, "telemetry/serving/deployment_list.html", {"filters": filters, "rows": rows})


def deployment_charts(deployment, filters, now):
    """(id, figure, title) per chart, and the frame they were drawn from."""
    frame = deployment_frame(deployment, filters.start, filters.end, now=now)
    figures = []
    for n, (title, unit, columns) in enumerate(CHARTS):
        fig = figure(title=f"{title} ({unit})", yaxis_title=unit, height=260, showlegend=len(columns) > 1)
        name_time_zone(fig, filters.tz)
        x = local_times(frame["ts"], filters.tz) if not frame.empty else []
        for column in columns:
            y = frame[column].astype(object).where(frame[column].notna(), None).tolist() if not frame.empty else []
            fig.add_scatter(x=x, y=y, name=column, mode="lines")
        fig.update_xaxes(range=local_times([filters.start, filters.end], filters.tz))
        figures.append((f"serving-chart-{n}", fig, title))
    return figures, frame


def deployment_detail(request, pk):
    organization = require_organization(request.user)
    deployment = get_object_or_404(deployments_of(organization), pk=pk)
    filters = parse_filters(request, default_range="6h")
    now = timezone.now()
    figures, _ = deployment_charts(deployment, filters, now)
    context = {
        "deployment": deployment,
        "filters": filters,
        "figures": figures,
        "efficiency": measured_efficiency(deployment, filters.start, filters.end, now=now),
        "anomalies": Anomaly.objects.filter(deployment=deployment).select_related("replica")[:50],
    }
    return render(request, "telemetry/serving/deployment_detail.html", context)


def anomaly_rows(organization, filters, show):
    """Detector anomalies in the range and the rows other apps add (telemetry.extensions.alert_rows, e.g.
    cooling-forecast alerts) as one list, newest first."""
    found = Anomaly.objects.for_org(organization).filter(
        Q(end=None) | Q(end__gte=filters.start), start__lte=filters.end
    )
    if show == "open":
        found = found.filter(end=None)
    rows = [
        {
            "source": "detector",
            "anomaly": a,
            "severity": a.severity,
            "start": a.start,
            "end": a.end,
            "subject": a.subject,
            "what": f"{a.metric}: {a.kind}",
            "observed": a.observed,
            "expected": f"{a.expected_low:.3g} – {a.expected_high:.3g}" if a.expected_low is not None else "",
            "explanation": a.explanation,
            "acknowledged": a.acknowledged_at,
        }
        for a in found.select_related("gpu__node", "replica__deployment", "deployment")[:500]
    ]
    for more in extensions.alert_rows:
        rows += more(organization, filters, show)
    return sorted(rows, key=lambda r: r["start"], reverse=True)


def anomaly_list(request):
    organization = require_organization(request.user)
    filters = parse_filters(request, default_range="24h")
    show = request.GET.get("show", "all")
    context = {
        "filters": filters,
        "rows": anomaly_rows(organization, filters, show),
        "show": show,
        "can_act": user_role(request.user) in ("planner", "admin"),
        "mute_hours": MUTE_HOURS,
    }
    return render(request, "telemetry/serving/anomalies.html", context)


def _actionable(request, pk):
    organization = require_organization(request.user)
    if user_role(request.user) not in ("planner", "admin"):
        raise PermissionDenied("Viewers cannot acknowledge or mute anomalies.")
    return get_object_or_404(Anomaly.objects.for_org(organization), pk=pk)


@require_POST
def anomaly_acknowledge(request, pk):
    anomaly = _actionable(request, pk)
    Anomaly.objects.filter(pk=anomaly.pk).update(acknowledged_at=timezone.now(), acknowledged_by=request.user)
    messages.success(request, f"Acknowledged: {anomaly.subject} {anomaly.metric}.")
    return redirect("anomaly-list")


@require_POST
def anomaly_mute(request, pk):
    anomaly = _actionable(request, pk)
    try:
        hours = int(request.POST.get("hours", "0"))
    except ValueError:
        hours = 0
    if hours not in MUTE_HOURS:
        messages.error(request, f"Mute for one of {', '.join(map(str, MUTE_HOURS))} hours.")
        return redirect("anomaly-list")
    # A deployment-wide anomaly mutes the metric on each of its replicas.
    replicas = [anomaly.replica] if anomaly.replica_id or anomaly.gpu_id else list(anomaly.deployment.replicas.all())
    until = timezone.now() + timedelta(hours=hours)
    AnomalyMute.objects.bulk_create(
        AnomalyMute(
            organization=anomaly.organization,
            gpu=anomaly.gpu,
            replica=replica,
            metric=anomaly.metric,
            until=until,
            created_by=request.user,
        )
        for replica in replicas
    )
    messages.success(request, f"Muted {anomaly.subject} {anomaly.metric} for {hours} h.")
    return redirect("anomaly-list")


def _editable(request, action):
    """The organization, for a user who may `action` (add, change, delete) deployments: admins."""
    organization = require_organization(request.user)
    if not request.user.has_perm(f"telemetry.{action}_deployment"):
        raise PermissionDenied("Only admins can add, change or delete deployments.")
    return organization


def _edit(request, organization, deployment=None):
    editor = DeploymentEditor(organization, request.POST if request.method == "POST" else None, deployment)
    if request.method == "POST":
        saved = editor.save()
        if saved is not None:
            messages.success(request, f"Saved deployment “{saved.name}” with {saved.replica_count} replicas.")
            return redirect("deployment-detail", saved.pk)
    context = {"editor": editor, "deployment": deployment}
    return render(
        request, "telemetry/serving/deployment_form.html", context, status=400 if request.method == "POST" else 200
    )


def deployment_create(request):
    return _edit(request, _editable(request, "add"))


def deployment_edit(request, pk):
    organization = _editable(request, "change")
    return _edit(request, organization, get_object_or_404(Deployment.objects.for_org(organization), pk=pk))


@require_POST
def deployment_delete(request, pk):
    organization = _editable(request, "delete")
    deployment = get_object_or_404(Deployment.objects.for_org(organization), pk=pk)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm: deleting removes the serving history too.")
        return redirect("deployment-edit", deployment.pk)
    delete_deployment(deployment)
    messages.success(request, f"Deleted deployment “{deployment.name}”, its replicas and their serving history.")
    return redirect("deployment-list")
