"""Planner pages. Login is required everywhere (middleware); objects are scoped to the user's organization."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from telemetry.tenancy import require_organization

from . import charts, services
from .forms import ScenarioEditor
from .models import Scenario

MAX_COMPARED = 6


def _scenario(request, pk):
    return get_object_or_404(
        Scenario.objects.for_org(require_organization(request.user)).select_related("gpu_model"), pk=pk
    )


def _require(request, action):
    if not request.user.has_perm(f"planner.{action}_scenario"):
        raise PermissionDenied("Only planners and admins can change scenarios.")


def _report(scenario):
    """(report, error message): a saved scenario that no longer evaluates is shown with the reason."""
    try:
        return services.evaluate(scenario), None
    except services.ScenarioInputError as exc:
        return None, str(exc)


def scenario_list(request):
    scenarios = (
        Scenario.objects.for_org(require_organization(request.user))
        .select_related("gpu_model")
        .annotate(workload_count=Count("workloads"))
    )
    return render(
        request,
        "planner/scenario_list.html",
        {"scenarios": scenarios, "can_edit": request.user.has_perm("planner.change_scenario")},
    )


def scenario_detail(request, pk):
    scenario = _scenario(request, pk)
    report, error = _report(scenario)
    context = {"scenario": scenario, "error": error, "can_edit": request.user.has_perm("planner.change_scenario")}
    if report:
        context |= {
            "report": report,
            "summary": services.summary(report),
            "cost_figure": charts.cost_curves(report),
            "gpu_figure": charts.gpus_vs_capacity(report),
            "runway_figure": charts.runway(report) if report.runways else None,
            "tornado_figure": charts.tornado(report),
            "band_figure": charts.bands(report),
        }
    return render(request, "planner/scenario_detail.html", context)


def _editor_results(report):
    return {
        "summary": services.summary(report),
        "cost_figure": charts.cost_curves(report),
        "gpu_figure": charts.gpus_vs_capacity(report),
    }


def _edit(request, scenario=None):
    organization = require_organization(request.user)
    initial_scenario = scenario or Scenario(organization=organization)
    editor = ScenarioEditor(organization, request.POST if request.method == "POST" else None, initial_scenario)
    if request.method == "POST" and editor.is_valid():
        saved = editor.save()
        messages.success(request, f"Saved “{saved.name}”; the results below reflect your changes.")
        return redirect("planner:scenario-edit", pk=saved.pk)
    report = error = None
    if scenario is not None and request.method == "GET":
        report, error = _report(scenario)
    context = {"editor": editor, "scenario": scenario, "report": report, "error": error}
    if report:
        context |= _editor_results(report)
    return render(request, "planner/scenario_form.html", context, status=400 if request.method == "POST" else 200)


@require_POST
def scenario_preview(request, pk=None):
    """Results of the editor's current, unsaved input (the page asks as the user types): the inputs are
    saved and evaluated inside a transaction that is rolled back, so the preview is exactly what saving
    would show and nothing is stored."""
    _require(request, "change" if pk else "add")
    scenario = _scenario(request, pk) if pk else None
    organization = require_organization(request.user)
    editor = ScenarioEditor(organization, request.POST, scenario or Scenario(organization=organization))
    context = {"preview": True, "problems": []}
    if not editor.is_valid():
        context["problems"] = editor.problems()
    else:
        with transaction.atomic():
            report = services.evaluate(editor.save())
            context |= {"report": report, **_editor_results(report)}
            transaction.set_rollback(True)
    return render(request, "planner/_editor_results.html", context)


def scenario_create(request):
    _require(request, "add")
    return _edit(request)


def scenario_edit(request, pk):
    _require(request, "change")
    return _edit(request, _scenario(request, pk))


@require_POST
def scenario_copy(request, pk):
    _require(request, "add")
    copy = services.copy_scenario(_scenario(request, pk))
    messages.success(request, f"Copied to “{copy.name}”.")
    return redirect("planner:scenario-edit", pk=copy.pk)


@require_POST
def scenario_delete(request, pk):
    _require(request, "delete")
    scenario = _scenario(request, pk)
    scenario.delete()
    messages.success(request, f"Deleted “{scenario.name}”.")
    return redirect("planner:scenario-list")


def scenario_compare(request):
    """Two or more scenarios side by side: ?ids=1&ids=2..."""
    ids = [i for i in request.GET.getlist("ids") if i.isdigit()][:MAX_COMPARED]
    scenarios = list(
        Scenario.objects.for_org(require_organization(request.user)).select_related("gpu_model").filter(pk__in=ids)
    )
    if len(scenarios) < 2:
        messages.error(request, "Pick at least two scenarios to compare.")
        return redirect("planner:scenario-list")
    reports, errors = [], []
    for scenario in scenarios:
        report, error = _report(scenario)
        if report:
            reports.append(report)
        else:
            errors.append((scenario, error))
    return render(
        request,
        "planner/scenario_compare.html",
        {
            "reports": reports,
            "summaries": [services.summary(r) for r in reports],
            "errors": errors,
            "total_figure": charts.comparison(reports),
            "gpu_figure": charts.comparison_gpus(reports),
        },
    )
