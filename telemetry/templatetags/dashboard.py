"""The dashboard's filter bar (time range, site, hall), shown by base.html on pages that pass `filters`."""

from django import template

from telemetry.models import Hall, Site
from telemetry.tenancy import user_organization
from telemetry.timerange import PRESETS, carried_query

register = template.Library()


@register.inclusion_tag("includes/filters.html", takes_context=True)
def dashboard_filters(context):
    request = context["request"]
    organization = user_organization(request.user)
    filters = context["filters"]
    return {
        "filters": filters,
        "presets": list(PRESETS),
        "sites": list(Site.objects.for_org(organization).order_by("name")) if organization else [],
        "halls": list(Hall.objects.for_org(organization).select_related("site").order_by("site__name", "name"))
        if organization
        else [],
        "start_local": filters.start.astimezone(filters.tz).strftime("%Y-%m-%dT%H:%M"),
        "end_local": filters.end.astimezone(filters.tz).strftime("%Y-%m-%dT%H:%M"),
        "path": request.path,
    }


@register.simple_tag(takes_context=True)
def carried(context):
    """'?range=…&site=…' of the current request's dashboard parameters (or ''), for links to other pages."""
    query = carried_query(context["request"].GET)
    return f"?{query}" if query else ""
