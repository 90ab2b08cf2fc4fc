from django.urls import path

from . import views

app_name = "forecasts"

urlpatterns = [
    path("", views.forecast_index, name="index"),
    path("halls/<int:pk>/", views.hall_forecast, name="hall"),
    path("alerts/", views.alert_list, name="alerts"),
    path("risk/", views.risk_table, name="risk"),
    path("risk/gpus/<int:pk>/", views.risk_detail, name="risk-detail"),
    path("fleet/", views.fleet_risk, name="fleet"),
]
