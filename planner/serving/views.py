"""Serving pages: configuration recommendations (ranked table, memory, Pareto front, launch flags) and week
scaling plans (replicas per hour, savings). Saving computes the result (planner.serving.services)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from telemetry.tenancy import require_organization

from ..domain.scaling import HOURS_PER_WEEK
from ..models import ScalingPlan, Scenario, ServingRecommendation
from . import charts, services
from .forms import ScalingPlanForm, ServingRecommendationForm

SHOWN_ROWS = 20


def _require(request, model):
    if not request.user.has_perm(f"planner.add_{model}"):
        raise PermissionDenied("Only planners and admins can save recommendations and plans.")


def _get(request, model, pk):
    return get_object_or_404(model.objects.for_org(require_organization(request.user)), pk=pk)


def serving_index(request):
    organization = require_organization(request.user)
    context = {
        "recommendations": ServingRecommendation.objects.for_org(organization).select_related("gpu_model"),
        "plans": ScalingPlan.objects.for_org(organization).select_related("recommendation"),
        "can_edit": request.user.has_perm("planner.add_servingrecommendation"),
    }
    return render(request, "planner/serving/index.html", context)


def _new(request, model, form_class, save, detail, what, initial=None):
    """The form; on POST validate, compute and save (a domain error shows on the form and saves nothing)."""
    _require(request, model)
    form = form_class(require_organization(request.user), request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save(form.save(commit=False))
        except services.ServingInputError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Saved “{saved.name}”.")
            return redirect(detail, saved.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "planner/serving/form.html", {"form": form, "what": what}, status=status)


def recommendation_new(request):
    return _new(
        request,
        "servingrecommendation",
        ServingRecommendationForm,
        services.save_recommendation,
        "planner:serving-recommendation",
        "recommendation",
    )


def recommendation_detail(request, pk):
    rec = _get(request, ServingRecommendation, pk)
    rows = rec.result.get("configurations", [])
    context = {
        "rec": rec,
        "chosen": rows[0] if rows else None,
        "rows": rows[:SHOWN_ROWS],
        "pareto_rows": [r for r in rows if r["pareto"]],
        "launch": rec.result.get("launch", {}),
        "can_edit": request.user.has_perm("planner.change_servingrecommendation"),
    }
    if rows:
        context |= {"memory_figure": charts.memory_bars(rows), "pareto_figure": charts.pareto(rows)}
    return render(request, "planner/serving/recommendation.html", context)


def plan_new(request):
    initial = {"recommendation": request.GET.get("recommendation")} if request.method == "GET" else None
    return _new(
        request,
        "scalingplan",
        ScalingPlanForm,
        services.save_plan,
        "planner:serving-plan",
        "scaling plan",
        initial,
    )


def plan_detail(request, pk):
    plan = _get(request, ScalingPlan, pk)
    hours = plan.result.get("hours", [])
    summary = plan.result.get("summary") or {}
    context = {
        "plan": plan,
        "summary": summary,
        "provisioning": services.comparison_rows(summary),
        "savings": services.savings_rows(summary),
        "can_edit": request.user.has_perm("planner.change_scalingplan"),
        "scenarios": Scenario.objects.for_org(plan.organization)
        if request.user.has_perm("planner.change_scenario")
        else [],
    }
    if len(hours) == HOURS_PER_WEEK:
        context["hours_figure"] = charts.hourly_replicas(hours)
    return render(request, "planner/serving/plan.html", context)


@require_POST
def recompute(request, kind, pk):
    """Compute a saved recommendation or plan again from its inputs; an error keeps the old result."""
    model, save, detail = {
        "recommendation": (
            ServingRecommendation,
            services.save_recommendation,
            "planner:serving-recommendation",
        ),
        "plan": (ScalingPlan, services.save_plan, "planner:serving-plan"),
    }[kind]
    if not request.user.has_perm(f"planner.change_{model._meta.model_name}"):
        raise PermissionDenied("Only planners and admins can recompute.")
    obj = _get(request, model, pk)
    try:
        save(obj)
        messages.success(request, "Recomputed from the saved inputs.")
    except services.ServingInputError as exc:
        messages.error(request, f"Not recomputed (the previous result is kept): {exc}")
    return redirect(detail, pk)


@require_POST
def plan_burst_to_scenario(request, pk):
    """Use the plan's burst-hours share as a scenario's mixed-option burst share."""
    if not request.user.has_perm("planner.change_scenario"):
        raise PermissionDenied("Only planners and admins can change scenarios.")
    plan = _get(request, ScalingPlan, pk)
    scenario = Scenario.objects.for_org(plan.organization).filter(pk=request.POST.get("scenario") or 0).first()
    if scenario is None:
        messages.error(request, "Choose one of your scenarios.")
        return redirect("planner:serving-plan", pk)
    try:
        pct = services.apply_burst_share(plan, scenario)
    except services.ServingInputError as exc:
        messages.error(request, str(exc))
        return redirect("planner:serving-plan", pk)
    messages.success(request, f"“{scenario.name}” now bursts {pct:g} % of the hours (from “{plan.name}”).")
    return redirect("planner:scenario-detail", scenario.pk)
