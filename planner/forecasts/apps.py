from django.apps import AppConfig


class ForecastsConfig(AppConfig):
    name = "planner.forecasts"
    label = "forecasts"
    verbose_name = "Forecasts"

    def ready(self):
        from telemetry import extensions

        from .views import alert_rows, overview_panel

        extensions.overview_panels.append(overview_panel)
        extensions.alert_rows.append(alert_rows)
