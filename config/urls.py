from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView, TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from planner.reports import export_link_views
from telemetry import views as telemetry_views


class FaviconRedirect(RedirectView):
    """Browsers ask for /favicon.ico on pages that name no icon (the API's browsable pages, the admin).
    The URL is resolved per request: production's manifest storage knows it only after collectstatic."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs):
        return static("favicon.svg")


urlpatterns = [
    path("healthz", telemetry_views.healthz, name="healthz"),
    path("favicon.ico", login_not_required(FaviconRedirect.as_view())),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("telemetry.api.urls")),
    path("planner/reports/", include("planner.reports.urls")),
    path("planner/forecasts/", include("planner.forecasts.urls")),
    path("help/", TemplateView.as_view(template_name="help.html"), name="help"),
    path("api/planner/", include("planner.api.urls")),
    path("planner/", include("planner.urls")),
    path("account/export-links/", export_link_views.export_links, name="export-links"),
    path("account/export-links/<int:pk>/revoke/", export_link_views.revoke_export_link, name="export-link-revoke"),
    path("", include("telemetry.urls")),
]

# JSON under /api/ (a URL no route matches, a crash), Django's pages elsewhere.
handler404 = "telemetry.api.errors.not_found"
handler500 = "telemetry.api.errors.server_error"
