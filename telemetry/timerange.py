"""The dashboard's shared filters, read from the URL so every view is a shareable link.

    ?range=24h            a preset ending now (see PRESETS), or
    ?from=2026-01-01T00:00&to=2026-01-02T00:00   an explicit window (ISO dates or date-times; naive means
                                                  the site's timezone when one site is picked, else UTC)
    &site=<id>&hall=<id>  narrow to one site / hall of the user's organization
    &width=<px>           the charts' plot width in pixels (static/js/charts.js puts it in the filter form):
                          the resolution read for a chart follows it (`filters.max_points`, two per pixel)

Every page's links in the navigation carry these parameters (`carried_query`), so the range picked on one
page stays picked on the next; every page defaults to the same 24 h.

Use in a view:

    filters = parse_filters(request)            # DashboardFilters; bad input -> filters.errors, defaults kept
    rows = query(..., start=filters.start, end=filters.end, site=filters.site, hall=filters.hall)
    return render(request, "...", {"filters": filters, ...})

and `{% include "includes/filters.html" %}` in the template shows the picker (base.html does it for pages
that set `filters` in their context).
"""

import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .models import Hall, Site
from .tenancy import user_organization

PRESETS = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
}
DEFAULT_RANGE = "24h"
PARAMETERS = ("range", "from", "to", "site", "hall", "width")
DEFAULT_CHART_WIDTH_PX = 1200  # a full-width chart at 1440 px
CHART_WIDTH_PX = (200, 4000)  # accepted ?width= bounds


@dataclass
class DashboardFilters:
    start: datetime
    end: datetime
    range: str | None  # the preset's key, None for an explicit from/to window
    site: Site | None = None
    hall: Hall | None = None
    tz: zoneinfo.ZoneInfo = UTC  # the site's timezone when a site (or hall) is picked, for display
    errors: list = field(default_factory=list)  # messages for the page; the rest of the filters still apply
    width: int | None = None  # the charts' plot width (px) the browser reported, None before it did

    @property
    def duration(self):
        return self.end - self.start

    @property
    def max_points(self):
        """Points per trace a chart can show: two per pixel (MinMax keeps a low and a high per pixel), so a
        full-width 24 h chart reads 1-minute rollups and a phone's 5-minute ones."""
        return 2 * (self.width or DEFAULT_CHART_WIDTH_PX)

    def query_string(self, **changes):
        """The current filters as a query string, with `changes` applied (None removes a parameter)."""
        params = {
            "range": self.range,
            "from": None if self.range else self.start.isoformat(timespec="minutes"),
            "to": None if self.range else self.end.isoformat(timespec="minutes"),
            "site": self.site.pk if self.site else None,
            "hall": self.hall.pk if self.hall else None,
            "width": self.width,
        }
        params.update(changes)
        return urlencode({k: v for k, v in params.items() if v not in (None, "")})

    def narrow(self, queryset, via=""):
        """`queryset` limited to the picked hall, else the picked site. `via` is the lookup from its model to
        Hall: "" for halls, "hall" for racks or alerts, "node__rack__hall" for GPUs."""
        prefix = f"{via}__" if via else ""
        if self.hall:
            return queryset.filter(**{f"{prefix}pk": self.hall.pk})
        if self.site:
            return queryset.filter(**{f"{prefix}site": self.site})
        return queryset


def parse_filters(request, *, default_range=DEFAULT_RANGE, now=None, zone_site=None):
    """Parse ?range/from/to/site/hall for the user's organization; unknown ids and bad dates are reported
    in `errors` (and ignored), never raised, so a stale bookmark still opens the page. A page about one
    hall or GPU passes its site as `zone_site`: times are then read and shown in that site's timezone."""
    now = now or timezone.now()
    organization = user_organization(request.user)
    query = request.GET
    errors = []

    site = _pick(Site.objects.for_org(organization), query.get("site"), "site", errors) if organization else None
    hall_qs = Hall.objects.for_org(organization).select_related("site") if organization else None
    hall = _pick(hall_qs, query.get("hall"), "hall", errors) if organization else None
    if hall is not None and site is not None and hall.site_id != site.pk:
        errors.append(f"Hall {hall} is not in site {site}; showing the whole site.")
        hall = None
    zone_site = zone_site or site or (hall.site if hall else None)
    tz = zoneinfo.ZoneInfo(zone_site.timezone) if zone_site else UTC
    width = _parse_width(query.get("width"), errors)

    range_key = query.get("range") or None
    start_text, end_text = query.get("from"), query.get("to")
    if start_text or end_text:
        start = _parse_moment(start_text, tz, "from", errors)
        end = _parse_moment(end_text, tz, "to", errors) if end_text else now
        if start is not None and end is not None and start < end:
            return DashboardFilters(start, end, None, site, hall, tz, errors, width)
        if start is not None and end is not None:
            errors.append("'from' must be before 'to'; showing the default range.")
        range_key = None
    if range_key is not None and range_key not in PRESETS:
        errors.append(f"Unknown range {range_key!r}; choose one of {', '.join(PRESETS)}.")
        range_key = None
    range_key = range_key or default_range
    return DashboardFilters(now - PRESETS[range_key], now, range_key, site, hall, tz, errors, width)


def carried_query(query):
    """The dashboard parameters of a request's query (a QueryDict) as a query string, for the links to other
    pages: the range, location and chart width stay as they are while moving between pages."""
    return urlencode([(k, query[k]) for k in PARAMETERS if query.get(k)])


MAX_ID = 2**63 - 1  # the largest BigAutoField id; SQLite cannot even compare a larger integer (OverflowError)


def is_id(text):
    """Whether `text` is a decimal number int() reads (str.isdigit() also takes digits it refuses: '²') within
    the ids' range."""
    return text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID)) and int(text) <= MAX_ID


def _parse_width(text, errors):
    if not text:
        return None
    low, high = CHART_WIDTH_PX
    if not is_id(text) or not low <= int(text) <= high:
        errors.append(f"width={text!r} is not a chart width in pixels ({low}-{high}); using {DEFAULT_CHART_WIDTH_PX}.")
        return None
    return int(text)


def _pick(queryset, value, name, errors):
    if not value:
        return None
    if not is_id(value):
        errors.append(f"{name}={value!r} is not an id.")
        return None
    found = queryset.filter(pk=int(value)).first()
    if found is None:
        errors.append(f"No {name} with id {value} in your organization.")
    return found


def _parse_moment(text, tz, name, errors):
    if not text:
        errors.append(f"'{name}' is missing.")
        return None
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)) is not None:
            moment = datetime(day.year, day.month, day.day)
    except ValueError:  # well-formed but impossible, e.g. month 13
        moment = None
    if moment is None:
        errors.append(f"'{name}'={text!r} is not a date or date-time (e.g. 2026-01-31T08:00).")
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=tz)
    try:  # in UTC and in the zone shown: PostgreSQL refuses offsets past ±15:59 that Python takes (+23:45)
        moment.astimezone(UTC)
        return moment.astimezone(tz)
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00 is before year 1 in UTC
        errors.append(f"'{name}'={text!r} is outside the years 1-9999 in UTC.")
        return None
