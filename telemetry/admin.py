from django import forms
from django.contrib import admin
from django.utils import timezone

from .models import (
    ApiToken,
    CoolingUnit,
    Deployment,
    Gpu,
    GpuModel,
    Hall,
    Membership,
    Node,
    Organization,
    Pdu,
    Rack,
    Replica,
    Site,
)
from .serving.store import delete_deployment, replica_problems, save_deployment
from .tenancy import may_edit_shared_catalog, user_organization


class OrgScopedAdmin(admin.ModelAdmin):
    """Staff who are not superusers see and pick only their own organization's objects."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.for_org(user_organization(request.user))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        model = db_field.related_model
        if not request.user.is_superuser and hasattr(model, "ORG_LOOKUP"):
            field.queryset = field.queryset.for_org(user_organization(request.user))
        return field


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued by `manage.py issue_api_token` (the secret is printed once); here they are listed by
    prefix, and revoked."""

    list_display = ["prefix", "user", "name", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at"]
    fields = ["user", "name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("user")
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization"]
    list_filter = ["organization"]


@admin.register(Site)
class SiteAdmin(OrgScopedAdmin):
    list_display = ["name", "organization", "location", "timezone", "electricity_price_usd_per_kwh"]


@admin.register(Hall)
class HallAdmin(OrgScopedAdmin):
    list_display = ["name", "site", "it_power_capacity_kw", "cooling_capacity_kw", "redundancy", "cooling_type"]
    list_filter = ["site", "cooling_type", "redundancy"]


@admin.register(Rack)
class RackAdmin(OrgScopedAdmin):
    list_display = ["name", "hall", "position", "power_budget_kw"]
    list_filter = ["hall"]
    search_fields = ["name"]


@admin.register(Node)
class NodeAdmin(OrgScopedAdmin):
    list_display = ["hostname", "rack", "vendor_model", "purchase_date"]
    search_fields = ["hostname"]
    list_select_related = ["rack"]


@admin.register(Gpu)
class GpuAdmin(OrgScopedAdmin):
    list_display = ["uuid", "node", "index", "model", "status"]
    list_filter = ["status", "model"]
    search_fields = ["uuid", "serial", "node__hostname"]
    list_select_related = ["node", "model"]
    raw_id_fields = ["node"]


class CatalogAdmin(admin.ModelAdmin):
    """Shared catalog rows (no organization) are read-only except to superusers; other staff see them and
    their own organization's rows, and what they add belongs to their organization."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.for_org(user_organization(request.user))

    def get_exclude(self, request, obj=None):
        return None if request.user.is_superuser else ["organization"]

    def _may_write(self, request, obj):
        return obj is None or obj.organization_id is not None or may_edit_shared_catalog(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_write(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_write(request, obj)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and (
            request.user.is_superuser or user_organization(request.user) is not None
        )

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.organization = user_organization(request.user)
        super().save_model(request, obj, form, change)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if not request.user.is_superuser and hasattr(db_field.related_model, "ORG_LOOKUP"):
            field.queryset = field.queryset.for_org(user_organization(request.user))
        return field


@admin.register(GpuModel)
class GpuModelAdmin(CatalogAdmin):
    list_display = ["name", "organization", "memory_gb", "memory_bandwidth_tbps", "bf16_tflops", "tdp_w"]
    list_filter = ["organization"]


@admin.register(CoolingUnit)
class CoolingUnitAdmin(OrgScopedAdmin):
    list_display = ["name", "hall", "kind", "capacity_kw"]


@admin.register(Pdu)
class PduAdmin(OrgScopedAdmin):
    list_display = ["name", "rack", "outlets", "rated_kw"]


class ReplicaInline(admin.TabularInline):
    """Replicas are listed here; they are added and changed on the deployment's page or through the API,
    which keep each one's Source (endpoint, interval) with it."""

    model = Replica
    fields = ["name", "source"]
    readonly_fields = ["name", "source"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class DeploymentAdminForm(forms.ModelForm):
    def _post_clean(self):
        super()._post_clean()  # the instance has the typed values now
        if self.instance.pk and not self.errors:
            for message in replica_problems(self.instance):
                self.add_error(None, message)


@admin.register(Deployment)
class DeploymentAdmin(OrgScopedAdmin):
    form = DeploymentAdminForm
    list_display = ["name", "organization", "llm_model", "engine", "gpu_model", "tensor_parallel_size", "replica_count"]
    list_filter = ["engine", "organization"]
    search_fields = ["name", "llm_model"]
    inlines = [ReplicaInline]

    def save_model(self, request, obj, form, change):
        save_deployment(obj)  # renames the replicas' sources and checks them against a new TP x PP

    def delete_model(self, request, obj):
        delete_deployment(obj)

    def delete_queryset(self, request, queryset):
        for deployment in queryset:
            delete_deployment(deployment)
