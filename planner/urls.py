from django.urls import path

from . import views

app_name = "planner"

urlpatterns = [
    path("scenarios/", views.scenario_list, name="scenario-list"),
    path("scenarios/new/", views.scenario_create, name="scenario-create"),
    path("scenarios/compare/", views.scenario_compare, name="scenario-compare"),
    path("scenarios/<int:pk>/", views.scenario_detail, name="scenario-detail"),
    path("scenarios/<int:pk>/edit/", views.scenario_edit, name="scenario-edit"),
    path("scenarios/<int:pk>/copy/", views.scenario_copy, name="scenario-copy"),
    path("scenarios/<int:pk>/delete/", views.scenario_delete, name="scenario-delete"),
]
