from django.urls import path

from . import imports, pages, views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("gpus/", pages.gpu_explorer, name="gpu-list"),
    path("gpus/<int:pk>/", pages.gpu_detail, name="gpu-detail"),
    path("halls/", pages.hall_list, name="hall-list"),
    path("halls/<int:pk>/", pages.hall_detail, name="hall-detail"),
    path("sources/", pages.source_list, name="source-list"),
    path("sources/add/", imports.add_push_source, name="source-add"),
    path("sources/<int:pk>/token/", imports.issue_token, name="source-token"),
    path("sources/import/", imports.upload, name="csv-import"),
    path("sources/import/<str:upload_id>/", imports.detail, name="csv-import-detail"),
    path("sources/import/<str:upload_id>/progress/", imports.progress, name="csv-import-progress"),
]
