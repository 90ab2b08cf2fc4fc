"""Report pages: subscriptions list, edit, browser preview, "send now", delivery log.

Login is required (middleware); every object is looked up within the user's organization (404 otherwise).
"""

import math
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from telemetry.charts import figure, name_time_zone
from telemetry.tenancy import require_organization
from telemetry.timerange import parse_filters

from . import mail, sections
from .forms import ReportSubscriptionForm
from .models import ReportDelivery, ReportSubscription
from .tasks import send_report


def _subscription(request, pk):
    return get_object_or_404(ReportSubscription.objects.for_org(require_organization(request.user)), pk=pk)


def _require_change(request):
    if not request.user.has_perm("reports.change_reportsubscription"):
        raise PermissionDenied("Only planners and admins can change or send reports.")


def subscription_list(request):
    subscriptions = (
        ReportSubscription.objects.for_org(require_organization(request.user))
        .annotate(delivery_count=Count("deliveries"), last_sent_at=Max("deliveries__sent_at"))
        .order_by("name")
    )
    return render(request, "reports/list.html", {"subscriptions": subscriptions})


def subscription_edit(request, pk=None):
    _require_change(request)
    organization = require_organization(request.user)
    instance = _subscription(request, pk) if pk else None
    form = ReportSubscriptionForm(request.POST or None, instance=instance, organization=organization)
    if request.method == "POST" and form.is_valid():
        subscription = form.save()
        messages.success(request, f"Saved report “{subscription.name}”.")
        return redirect("reports:list")
    return render(request, "reports/edit.html", {"form": form, "subscription": instance})


def subscription_preview(request, pk):
    subscription = _subscription(request, pk)
    report = sections.build_report(subscription.organization, subscription.sections, timezone.now())
    html = sections.render_html(report, subscription=subscription, fragment=True)
    return render(request, "reports/preview.html", {"subscription": subscription, "report_html": html})


@require_POST
def subscription_send(request, pk):
    _require_change(request)
    subscription = _subscription(request, pk)
    delivery = mail.queue_now(subscription)
    send_report.delay_on_commit(delivery.id)
    messages.success(request, f"Queued “{subscription.name}” for {', '.join(subscription.recipients)}.")
    return redirect("reports:deliveries")


def delivery_log(request):
    """The delivery log within the dashboard's time range, with a chart of deliveries per day by status (days in
    the filters' zone); the table shows each delivery's times in its report's own zone."""
    filters = parse_filters(request)
    deliveries = list(
        ReportDelivery.objects.for_org(require_organization(request.user))
        .filter(scheduled_for__gte=filters.start, scheduled_for__lte=filters.end)
        .select_related("subscription")
        .prefetch_related("attempt_log")
        .order_by("-scheduled_for")[:500]
    )
    return render(
        request,
        "reports/deliveries.html",
        {
            "filters": filters,
            "deliveries": deliveries,
            "figure": _deliveries_figure(deliveries, filters),
            "export_url": reverse("reportdelivery-list")
            + "?"
            + urlencode(
                {"scheduled_for__gte": filters.start.isoformat(), "scheduled_for__lte": filters.end.isoformat()}
            ),
        },
    )


def _deliveries_figure(deliveries, filters):
    days = [(filters.start + timedelta(days=i)).astimezone(filters.tz).date() for i in range(filters.duration.days + 1)]
    fig = figure(title="Report deliveries per day", yaxis_title="deliveries", barmode="stack", height=300)
    name_time_zone(fig, filters.tz)
    fig.update_xaxes(range=[filters.start.astimezone(filters.tz), filters.end.astimezone(filters.tz)])
    for status in ReportDelivery.Status:
        counts = dict.fromkeys(days, 0)
        for delivery in deliveries:
            day = delivery.scheduled_for.astimezone(filters.tz).date()
            if delivery.status == status and day in counts:
                counts[day] += 1
        fig.add_bar(name=status.label, x=list(counts), y=list(counts.values()))
    # Whole deliveries on the axis: no 0.2 steps when only a few were sent.
    fig.update_yaxes(rangemode="tozero", dtick=max(1, math.ceil(len(deliveries) / 5)))
    return fig
