"""Who may see what: login on every page, roles as Django groups, every query scoped to the
user's organization (another organization's objects answer 404, as if they did not exist)."""

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import DjangoModelPermissions

ROLES = ("viewer", "planner", "admin")


def user_organization(user):
    """The organization a user acts for, or None (anonymous, or a user without membership)."""
    if not user.is_authenticated:
        return None
    membership = getattr(user, "membership", None)
    return membership.organization if membership else None


def require_organization(user):
    """The user's organization; a user without one is refused with a message saying what to do."""
    organization = user_organization(user)
    if organization is None:
        raise PermissionDenied("Your account belongs to no organization; ask an admin to add you.")
    return organization


def user_role(user):
    names = set(user.groups.values_list("name", flat=True)) if user.is_authenticated else set()
    return next((role for role in reversed(ROLES) if role in names), None)


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's login-required default, except for DRF views: they authenticate themselves
    (token or session) and answer 401/403 instead of redirecting a script to a login page."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "cls", None) is not None and hasattr(view_func.cls, "authentication_classes"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


def organization_context(request):
    return {
        "organization": user_organization(request.user),
        "role": user_role(request.user) if hasattr(request, "user") else None,
    }


class OrgScopedMixin:
    """For class-based views and DRF viewsets: limit the queryset to the user's organization."""

    def get_queryset(self):
        return super().get_queryset().for_org(require_organization(self.request.user))


class RolePermissions(DjangoModelPermissions):
    """Model permissions from the user's role group; reading needs the `view` permission too."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
    }


SHARED_CATALOG_MESSAGE = (
    "{obj} is in the shared catalog, which only Headroom's operators (superusers) change; "
    "add your own entry with the same identity to override it for your organization."
)


def may_edit_shared_catalog(user):
    return user.is_superuser


class CatalogPermissions(RolePermissions):
    """Role permissions, and shared catalog rows (GpuModel, CloudOffer without organization) read-only to
    tenants: one organization must not change what every other organization plans with."""

    def has_object_permission(self, request, view, obj):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        if obj.organization_id is None and not may_edit_shared_catalog(request.user):
            self.message = SHARED_CATALOG_MESSAGE.format(obj=f"“{obj}”")
            return False
        return True


class CatalogMixin:
    """For DRF viewsets over a CatalogQuerySet model: the caller's effective catalog (its own rows and the
    shared rows it did not override); what it creates is its organization's own row (a superuser without
    organization creates shared rows)."""

    permission_classes = [CatalogPermissions]

    def get_queryset(self):
        user = self.request.user
        organization = user_organization(user)
        if organization is None and not may_edit_shared_catalog(user):
            require_organization(user)
        return super().get_queryset().effective_for(organization)

    def perform_create(self, serializer):
        user = self.request.user
        organization = user_organization(user)
        if organization is None and not may_edit_shared_catalog(user):
            require_organization(user)
        serializer.save(organization=organization)
