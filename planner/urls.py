from django.urls import path

from . import views
from .serving import views as serving_views

app_name = "planner"

urlpatterns = [
    path("scenarios/", views.scenario_list, name="scenario-list"),
    path("scenarios/new/", views.scenario_create, name="scenario-create"),
    path("scenarios/preview/", views.scenario_preview, name="scenario-preview-new"),
    path("scenarios/<int:pk>/preview/", views.scenario_preview, name="scenario-preview"),
    path("scenarios/compare/", views.scenario_compare, name="scenario-compare"),
    path("scenarios/<int:pk>/", views.scenario_detail, name="scenario-detail"),
    path("scenarios/<int:pk>/edit/", views.scenario_edit, name="scenario-edit"),
    path("scenarios/<int:pk>/copy/", views.scenario_copy, name="scenario-copy"),
    path("scenarios/<int:pk>/delete/", views.scenario_delete, name="scenario-delete"),
]

# Serving (planner/serving/views.py): configuration recommendations and week scaling plans.
urlpatterns += [
    path("serving/", serving_views.serving_index, name="serving-index"),
    path("serving/recommendations/new/", serving_views.recommendation_new, name="serving-recommendation-new"),
    path("serving/recommendations/<int:pk>/", serving_views.recommendation_detail, name="serving-recommendation"),
    path("serving/plans/new/", serving_views.plan_new, name="serving-plan-new"),
    path("serving/plans/<int:pk>/", serving_views.plan_detail, name="serving-plan"),
    path(
        "serving/recommendations/<int:pk>/recompute/",
        serving_views.recompute,
        {"kind": "recommendation"},
        name="serving-recommendation-recompute",
    ),
    path("serving/plans/<int:pk>/recompute/", serving_views.recompute, {"kind": "plan"}, name="serving-plan-recompute"),
    path(
        "serving/plans/<int:pk>/burst-to-scenario/",
        serving_views.plan_burst_to_scenario,
        name="serving-plan-burst-to-scenario",
    ),
]
