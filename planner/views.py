"""Planner pages. Login is required everywhere (middleware); objects are scoped to the user's organization."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from telemetry.tenancy import require_organization
from telemetry.timerange import PARAMETERS, is_id, parse_filters

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


def _filters(request):
    """The dashboard filters, and the query string that keeps them in links between the planner pages
    (empty when the URL set none, so plain links stay plain)."""
    filters = parse_filters(request)
    return filters, filters.query_string() if request.GET.keys() & set(PARAMETERS) else ""


def _url(name, link_query, *args):
    return reverse(name, args=args) + (f"?{link_query}" if link_query else "")


def _report(scenario):
    """(report, error message): a saved scenario that no longer evaluates is shown with the reason."""
    try:
        return services.evaluate(scenario), None
    except services.ScenarioInputError as exc:
        return None, str(exc)


def scenario_list(request):
    """Every scenario; its chosen halls listed as far as the filters' site or hall takes them in."""
    filters, link_query = _filters(request)
    scenarios = list(
        Scenario.objects.for_org(require_organization(request.user))
        .select_related("gpu_model")
        .annotate(workload_count=Count("workloads"))
    )
    halls = {}
    for link in filters.narrow(Scenario.halls.through.objects.filter(scenario__in=scenarios), "hall").select_related(
        "hall__site"
    ):
        halls.setdefault(link.scenario_id, []).append(link.hall)
    for scenario in scenarios:
        scenario.shown_halls = sorted(halls.get(scenario.pk, []), key=str)
    return render(
        request,
        "planner/scenario_list.html",
        {
            "filters": filters,
            "link_query": link_query,
            "scenarios": scenarios,
            "can_edit": request.user.has_perm("planner.change_scenario"),
        },
    )


def scenario_detail(request, pk):
    """Every chart of one scenario; the runway chart shows the chosen halls in the filters' site or hall."""
    scenario = _scenario(request, pk)
    filters, link_query = _filters(request)
    report, error = _report(scenario)
    context = {
        "filters": filters,
        "link_query": link_query,
        "scenario": scenario,
        "error": error,
        "can_edit": request.user.has_perm("planner.change_scenario"),
    }
    if report:
        shown = set(filters.narrow(scenario.halls.all()).values_list("pk", flat=True))
        runways = [r for r in report.runways if r.hall.pk in shown]
        context |= {
            "report": report,
            "runways": runways,
            "summary": services.summary(report),
            "cost_figure": charts.cost_curves(report),
            "gpu_figure": charts.gpus_vs_capacity(report),
            "runway_figure": charts.runway(report, runways) if runways else None,
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
    _, link_query = _filters(request)
    initial_scenario = scenario or Scenario(organization=organization)
    editor = ScenarioEditor(organization, request.POST if request.method == "POST" else None, initial_scenario)
    if request.method == "POST" and editor.is_valid():
        saved = editor.save()
        messages.success(request, f"Saved “{saved.name}”; the results below reflect your changes.")
        return redirect(_url("planner:scenario-edit", link_query, saved.pk))
    report = error = None
    if scenario is not None and request.method == "GET":
        report, error = _report(scenario)
    context = {"editor": editor, "scenario": scenario, "report": report, "error": error, "link_query": link_query}
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
    return redirect(_url("planner:scenario-edit", _filters(request)[1], copy.pk))


@require_POST
def scenario_delete(request, pk):
    _require(request, "delete")
    scenario = _scenario(request, pk)
    scenario.delete()
    messages.success(request, f"Deleted “{scenario.name}”.")
    return redirect(_url("planner:scenario-list", _filters(request)[1]))


def scenario_compare(request):
    """Two or more scenarios side by side: ?ids=1&ids=2..."""
    _, link_query = _filters(request)
    ids = [i for i in request.GET.getlist("ids") if is_id(i)][:MAX_COMPARED]
    scenarios = list(
        Scenario.objects.for_org(require_organization(request.user)).select_related("gpu_model").filter(pk__in=ids)
    )
    if len(scenarios) < 2:
        messages.error(request, "Pick at least two scenarios to compare.")
        return redirect(_url("planner:scenario-list", link_query))
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
            "link_query": link_query,
            "reports": reports,
            "summaries": [services.summary(r) for r in reports],
            "errors": errors,
            "total_figure": charts.comparison(reports),
            "gpu_figure": charts.comparison_gpus(reports),
        },
    )
