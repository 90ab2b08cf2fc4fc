from django.urls import path

from . import imports, views
from .pages import gpus, halls, sources
from .serving import views as serving_views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("gpus/", gpus.gpu_explorer, name="gpu-list"),
    path("gpus/<int:pk>/", gpus.gpu_detail, name="gpu-detail"),
    path("halls/", halls.hall_list, name="hall-list"),
    path("halls/<int:pk>/", halls.hall_detail, name="hall-detail"),
    path("sources/", sources.source_list, name="source-list"),
    path("sources/add/", imports.add_push_source, name="source-add"),
    path("sources/<int:pk>/token/", imports.issue_token, name="source-token"),
    path("sources/import/", imports.upload, name="csv-import"),
    path("sources/import/<str:upload_id>/", imports.detail, name="csv-import-detail"),
    path("sources/import/<str:upload_id>/progress/", imports.progress, name="csv-import-progress"),
    path("serving/", serving_views.deployment_list, name="deployment-list"),
    path("serving/new/", serving_views.deployment_create, name="deployment-create"),
    path("serving/<int:pk>/", serving_views.deployment_detail, name="deployment-detail"),
    path("serving/<int:pk>/edit/", serving_views.deployment_edit, name="deployment-edit"),
    path("serving/<int:pk>/delete/", serving_views.deployment_delete, name="deployment-delete"),
    path("anomalies/", serving_views.anomaly_list, name="anomaly-list"),
    path("anomalies/<int:pk>/acknowledge/", serving_views.anomaly_acknowledge, name="anomaly-acknowledge"),
    path("anomalies/<int:pk>/mute/", serving_views.anomaly_mute, name="anomaly-mute"),
]
