from django.contrib import admin

from telemetry.admin import CatalogAdmin, OrgScopedAdmin

from .models import CloudOffer, Scenario, Workload


class WorkloadInline(admin.TabularInline):
    model = Workload
    extra = 0


@admin.register(Scenario)
class ScenarioAdmin(OrgScopedAdmin):
    list_display = ["name", "organization", "gpu_model", "precision", "horizon_months", "updated"]
    list_filter = ["gpu_model", "precision"]
    search_fields = ["name", "description"]
    inlines = [WorkloadInline]
    filter_horizontal = ["halls"]


@admin.register(CloudOffer)
class CloudOfferAdmin(CatalogAdmin):
    list_display = ["provider", "instance", "gpu_model", "term", "usd_per_gpu_hour", "organization", "as_of"]
    list_filter = ["term", "provider", "organization"]
    search_fields = ["provider", "instance", "source"]
