from django.urls import path

from . import pages, views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("gpus/", pages.gpu_explorer, name="gpu-list"),
    path("gpus/<int:pk>/", pages.gpu_detail, name="gpu-detail"),
    path("halls/", pages.hall_list, name="hall-list"),
    path("halls/<int:pk>/", pages.hall_detail, name="hall-detail"),
    path("sources/", pages.source_list, name="source-list"),
]
