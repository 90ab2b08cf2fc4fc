"""Role groups (viewer / planner / admin) and their permissions, kept in sync after each migrate."""

from django.contrib.auth.models import Group, Permission

ROLE_APPS = ("telemetry", "planner", "forecasts", "reports")
# Planners change what-if work; telemetry and inventory stay read-only to them.
PLANNER_WRITABLE_APPS = ("planner", "forecasts", "reports")


def sync_role_groups(**_kwargs):
    perms = Permission.objects.filter(content_type__app_label__in=ROLE_APPS).select_related("content_type")
    view = [p for p in perms if p.codename.startswith("view_")]
    planner = view + [
        p for p in perms if p.content_type.app_label in PLANNER_WRITABLE_APPS and not p.codename.startswith("view_")
    ]
    for name, granted in (("viewer", view), ("planner", planner), ("admin", list(perms))):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(granted)
