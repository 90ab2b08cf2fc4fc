from django.apps import AppConfig


class ForecastsConfig(AppConfig):
    name = "planner.forecasts"
    label = "forecasts"
    verbose_name = "Forecasts"

    def ready(self):
        from telemetry import extensions

        from .views import alert_rows, overview_panel

        # ready() may run more than once in a process (Django does not promise otherwise): register once.
        for hooks, hook in ((extensions.overview_panels, overview_panel), (extensions.alert_rows, alert_rows)):
            if hook not in hooks:
                hooks.append(hook)
