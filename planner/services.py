"""Planner services: saved scenarios -> domain inputs (typed or measured) -> plain results for the
pages, the API and reports. Nothing is persisted here but scenario copies; evaluating a scenario
takes milliseconds, so results are computed on read."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.db.models import Avg, Sum
from django.utils import timezone

from planner.domain import costs, montecarlo
from planner.domain.capacity import GrowthPlan, Redundancy, Runway, runway
from planner.domain.capacity import Hall as HallSpec
from planner.domain.demand import SizingPolicy, fitting_throughput
from planner.domain.demand import Workload as WorkloadSpec
from planner.domain.throughput import (
    LatencyTargetError,
    ModelDoesNotFitError,
    Precision,
    ThroughputError,
    math_tflops,
    smallest_tp,
)
from reference.catalog import GpuSpec, InvalidInputError, load_gpus, load_llms

from .models import CloudOffer, Scenario, Workload

MONTE_CARLO_DRAWS = 2000
MONTE_CARLO_SEED = 7  # fixed, so a page shows the same bands on every load
# A hall without a tracked floor (floor_positions = 0) never runs out of space in the plan.
UNTRACKED_RACK_POSITIONS = 10**6


class ScenarioInputError(ValueError):
    """Inputs that cannot be evaluated; `errors` is a list of (workload index or None, field, message)."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(message for _, _, message in errors))


@dataclass(frozen=True)
class Figure:
    """One calibratable input and where its value came from."""

    label: str
    value: float
    unit: str
    source: str  # "typed", "measured ..." or "TDP-based ..."

    @property
    def measured(self) -> bool:
        return self.source.startswith("measured")


@dataclass(frozen=True)
class MeasuredFigures:
    """What the chosen halls' hourly rollups say over the window; None where nothing was measured."""

    utilization: float | None  # fraction: 95th percentile of hourly mean GPU utilization
    power_kw_per_gpu: float | None  # IT power per reporting GPU
    pue: float | None
    it_load_kw_by_hall: dict[int, float]
    hours: int


def measured_hall_figures(halls, days: int, as_of: datetime) -> MeasuredFigures | None:
    """Averages of the halls' hourly rollups over [as_of - days, as_of); None without data."""
    from telemetry.models import HallRollup, Resolution, SeriesRollup

    since = as_of - timedelta(days=days)
    rows = list(
        HallRollup.objects.filter(
            resolution=Resolution.HOUR, hall__in=halls, ts__gte=since, ts__lt=as_of, gpu_count__gt=0
        ).values_list("hall_id", "ts", "gpu_count", "gpu_util_avg", "it_power_w")
    )
    if not rows:
        return None
    utils = [u for _, _, _, u, _ in rows if u is not None]
    powered = [(n, p) for _, _, n, _, p in rows if p is not None]
    it_load = {}
    for hall_id in {r[0] for r in rows}:
        loads = [p for h, _, _, _, p in rows if h == hall_id and p is not None]
        if loads:
            it_load[hall_id] = sum(loads) / len(loads) / 1000
    facility = SeriesRollup.objects.filter(
        resolution=Resolution.HOUR,
        series__metric="facility_power",
        series__entity_kind="site",
        series__organization__in={h.site.organization_id for h in halls},
        series__entity__in={h.site.name for h in halls},
        ts__gte=since,
        ts__lt=as_of,
    ).aggregate(avg=Avg("avg"))["avg"]
    site_it = (
        HallRollup.objects.filter(
            resolution=Resolution.HOUR, hall__site__in={h.site_id for h in halls}, ts__gte=since, ts__lt=as_of
        )
        .values("ts")
        .annotate(it=Sum("it_power_w"))
        .aggregate(avg=Avg("it"))["avg"]
        if facility
        else None
    )
    return MeasuredFigures(
        utilization=float(np.percentile(utils, 95)) / 100 if utils else None,
        power_kw_per_gpu=sum(p for _, p in powered) / sum(n for n, _ in powered) / 1000 if powered else None,
        pue=facility / site_it if facility and site_it and facility >= site_it else None,
        it_load_kw_by_hall=it_load,
        hours=len({ts for _, ts, _, _, _ in rows}),
    )


def gpu_spec(gpu_model) -> GpuSpec:
    """The GpuModel's editable figures on the reference device of the same name, which adds what the inventory
    catalog does not hold (kind, FP4/INT8 rates, interconnect, usable memory share); a model the reference
    catalog lacks is a GPU with PCIe between devices."""
    figures = {
        "memory_gb": gpu_model.memory_gb,
        "bandwidth_tb_s": gpu_model.memory_bandwidth_tbps,
        "bf16_dense_tflops": gpu_model.bf16_tflops,
        "fp8_dense_tflops": gpu_model.fp8_tflops,
        "tdp_w": gpu_model.tdp_w,
    }
    device = load_gpus().get(gpu_model.name)
    return replace(device, **figures) if device else GpuSpec(name=gpu_model.name, **figures)


def workload_spec(w: Workload) -> WorkloadSpec:
    return WorkloadSpec(
        name=w.name,
        model=w.llm_model,
        requests_per_day=w.requests_per_day,
        mean_input_tokens=w.mean_input_tokens,
        mean_output_tokens=w.mean_output_tokens,
        peak_to_mean=w.peak_to_mean,
        monthly_growth=w.monthly_growth_pct / 100,
        max_ms_per_output_token=w.max_ms_per_output_token,
    )


def throughputs(scenario: Scenario, workloads) -> dict:
    """Throughput per workload name on the scenario's GPU, each on the smallest TP that fits and
    meets its latency target. Raises ScenarioInputError naming the workload field at fault."""
    gpu, precision, llms = gpu_spec(scenario.gpu_model), Precision[scenario.precision], load_llms()
    try:
        math_tflops(gpu, precision)
    except ThroughputError as exc:  # no FP8 or INT8 rate on this device
        raise ScenarioInputError([(None, "precision", f"{exc}.")]) from None
    found, errors = {}, []
    for i, w in enumerate(workloads):
        spec = workload_spec(w)
        try:
            smallest_tp(llms[w.llm_model], gpu, precision, w.mean_input_tokens, w.mean_output_tokens)
        except ModelDoesNotFitError as exc:
            errors.append((i, "llm_model", f"Does not fit on {gpu.name} even at TP=8: {exc}."))
            continue
        try:
            found[w.name] = fitting_throughput(spec, llms[w.llm_model], gpu, precision, w.measured_tokens_per_s_per_gpu)
        except LatencyTargetError as exc:
            errors.append((i, "max_ms_per_output_token", f"Not reachable even at TP=8: {exc}."))
    if errors:
        raise ScenarioInputError(errors)
    return found


def domain_scenario(scenario: Scenario, workloads, measured: MeasuredFigures | None = None):
    """(costs.Scenario, calibration figures) for a saved or unsaved scenario and its workloads."""
    if not workloads:
        raise ScenarioInputError([(None, None, "Add at least one workload.")])
    if not any(w.requests_per_day > 0 for w in workloads):
        message = "Every workload has 0 requests/day, so the plan needs zero GPUs; enter the demand."
        raise ScenarioInputError([(i, "requests_per_day", message) for i in range(len(workloads))])
    window = f"measured over {scenario.calibration_days} days"
    use = measured if scenario.calibrate_from_telemetry else None

    def pick(label, typed, measured_value, unit, typed_source="typed"):
        if use is not None and measured_value is not None:
            return Figure(label, measured_value, unit, f"{window} ({use.hours} hours of data)")
        return Figure(label, typed, unit, typed_source)

    tdp_kw = costs.power_kw_per_gpu_from_tdp(scenario.gpu_model.tdp_w)
    figures = {
        "utilization": pick(
            "Utilization ceiling", scenario.utilization_ceiling_pct / 100, use and use.utilization, "fraction"
        ),
        "power": pick(
            "IT power per GPU",
            scenario.power_kw_per_gpu or tdp_kw,
            use and use.power_kw_per_gpu,
            "kW",
            "typed" if scenario.power_kw_per_gpu else f"TDP-based ({scenario.gpu_model.tdp_w:.0f} W x 1.82)",
        ),
        "pue": pick("PUE", scenario.pue, use and use.pue, "ratio"),
    }
    if scenario.calibrate_from_telemetry and use is None:
        figures = {k: replace(f, source=f"{f.source}; no measurements in the window") for k, f in figures.items()}
    try:
        s = costs.Scenario(
            workloads=tuple(workload_spec(w) for w in workloads),
            throughputs=throughputs(scenario, workloads),
            policy=SizingPolicy(
                utilization_ceiling=min(max(figures["utilization"].value, 0.01), 1.0),
                redundancy_replicas=scenario.redundancy_replicas,
                annual_failure_rate=scenario.annual_failure_rate_pct / 100,
                failure_cover_days=scenario.failure_cover_days,
            ),
            rent=costs.RentalPrices(
                on_demand_usd_per_gpu_hour=scenario.on_demand_usd_per_gpu_hour,
                committed_1y_usd_per_gpu_hour=scenario.committed_1y_usd_per_gpu_hour,
                committed_3y_usd_per_gpu_hour=scenario.committed_3y_usd_per_gpu_hour,
                spot_usd_per_gpu_hour=scenario.spot_usd_per_gpu_hour,
                spot_interruption_overhead=scenario.spot_interruption_overhead_pct / 100,
                mixed_baseline_share=scenario.mixed_baseline_pct / 100,
                burst_hours_share=scenario.mixed_burst_hours_pct / 100,
            ),
            own=costs.OwnershipCosts(
                server_capex_usd_per_gpu=scenario.server_capex_usd_per_gpu,
                power_kw_per_gpu=figures["power"].value,
                electricity_usd_per_kwh=scenario.electricity_usd_per_kwh,
                facility_usd_per_kw_month=scenario.facility_usd_per_kw_month,
                pue=max(figures["pue"].value, 1.0),
                network_storage_share=scenario.network_storage_pct / 100,
                depreciation_years=scenario.depreciation_years,
                cost_of_capital_annual=scenario.cost_of_capital_pct / 100,
                maintenance_share_per_year=scenario.maintenance_pct_per_year / 100,
                staff_usd_per_month=scenario.staff_usd_per_month,
                replacement_cost_share=scenario.replacement_cost_pct / 100,
            ),
            start=scenario.start_month,
            horizon_months=scenario.horizon_months,
            discount_rate_annual=scenario.discount_rate_pct / 100,
        )
    except ScenarioInputError:
        raise
    except InvalidInputError as exc:  # model validators normally catch these first
        raise ScenarioInputError([(None, None, str(exc))]) from exc
    return s, tuple(figures.values())


def check_inputs(scenario: Scenario, workloads) -> None:
    """Raise ScenarioInputError when the scenario cannot be evaluated (used by the editor form)."""
    s, _ = domain_scenario(scenario, workloads)
    try:
        costs.evaluate_scenario(s)
    except InvalidInputError as exc:
        raise ScenarioInputError([(None, None, str(exc))]) from exc


def uncertainty(scenario: Scenario, s: costs.Scenario) -> montecarlo.Uncertainty:
    """Ranges around the typed values from the scenario's spreads (PERT, likely = typed)."""
    growth = s.workloads[0].monthly_growth if s.workloads else 0.0
    spread_g = scenario.growth_spread_pp / 100
    p = scenario.price_spread_pct / 100
    util = s.policy.utilization_ceiling
    afr = s.policy.annual_failure_rate

    def around(x, rel):
        return montecarlo.Range(x * (1 - rel), x, x * (1 + rel))

    return montecarlo.Uncertainty(
        growth=montecarlo.Range(max(growth - spread_g, -0.99), growth, growth + spread_g),
        utilization_ceiling=montecarlo.Range(max(util - 0.1, 0.05), util, min(util + 0.1, 1.0)),
        electricity_usd_per_kwh=around(s.own.electricity_usd_per_kwh, p),
        server_capex_usd_per_gpu=around(s.own.server_capex_usd_per_gpu, p),
        cloud_price_factor=around(1.0, p),
        annual_failure_rate=around(afr, 0.5),
        token_price_factor=around(1.0, p),
    )


def token_prices_for(s: costs.Scenario):
    """The cheapest per-token API offer of each workload's model, or None when a model has none."""
    prices = costs.cheapest_token_prices()
    return prices if all(w.model in prices for w in s.workloads) else None


def hall_spec(hall, it_load_kw: float, racks_used: int) -> HallSpec:
    """The domain's view of a hall: IT power capacity as one N unit; cooling from its units
    (with the hall's redundancy) or, without units on record, its cooling capacity as one N unit."""
    units = list(hall.cooling_units.all())
    redundancy = Redundancy(hall.redundancy)
    if len(units) >= 2 or (units and redundancy is not Redundancy.N_PLUS_1):
        cooling = (len(units), sum(u.capacity_kw for u in units) / len(units), redundancy)
    else:
        cooling = (1, hall.cooling_capacity_kw, Redundancy.N)
    return HallSpec(
        name=str(hall),
        it_load_kw=it_load_kw,
        cooling_load_kw=it_load_kw,
        power_units=1,
        power_unit_kw=hall.it_power_capacity_kw,
        power_redundancy=Redundancy.N,
        cooling_units=cooling[0],
        cooling_unit_kw=cooling[1],
        cooling_redundancy=cooling[2],
        rack_positions=hall.floor_positions or UNTRACKED_RACK_POSITIONS,
        rack_positions_used=racks_used,
    )


@dataclass(frozen=True)
class HallRunway:
    hall: object  # telemetry Hall
    load_source: str
    runway: Runway
    headroom_kw_now: float  # the smaller of power and cooling headroom before the plan
    space_tracked: bool


def hall_runways(scenario: Scenario, gpus_by_month, kw_per_gpu: float, measured: MeasuredFigures | None):
    """Runway of each chosen hall taking the whole plan; load is measured or nameplate (GPU TDP x 1.82)."""
    from django.db.models import Count

    from telemetry.models import Gpu, Rack

    halls = list(scenario.halls.select_related("site").prefetch_related("cooling_units"))
    if not halls:
        return []
    nameplate_w = dict(
        Gpu.objects.filter(node__rack__hall__in=halls)
        .exclude(status=Gpu.Status.RETIRED)
        .values_list("node__rack__hall")
        .annotate(tdp=Sum("model__tdp_w"))
        .values_list("node__rack__hall", "tdp")
    )
    racks = dict(
        Rack.objects.filter(hall__in=halls).values_list("hall").annotate(n=Count("id")).values_list("hall", "n")
    )
    added = np.diff(np.asarray(gpus_by_month), prepend=0).clip(min=0)
    plan = GrowthPlan(tuple(int(x) for x in added), kw_per_gpu, scenario.gpus_per_rack)
    measured_load = measured.it_load_kw_by_hall if measured and scenario.calibrate_from_telemetry else {}
    out = []
    for hall in halls:
        if hall.id in measured_load:
            load, source = measured_load[hall.id], f"measured over {scenario.calibration_days} days"
        else:
            tdp_w = nameplate_w.get(hall.id) or 0
            load = costs.power_kw_per_gpu_from_tdp(tdp_w) if tdp_w else 0.0
            source = "nameplate (installed GPU TDP x 1.82)"
        spec = hall_spec(hall, load, racks.get(hall.id, 0))
        headroom = min(spec.power_capacity_kw - spec.it_load_kw, spec.cooling_capacity_kw - spec.cooling_load_kw)
        out.append(HallRunway(hall, source, runway(spec, plan), headroom, bool(hall.floor_positions)))
    return out


@dataclass(frozen=True)
class ScenarioReport:
    scenario: Scenario
    workloads: tuple
    inputs: costs.Scenario
    result: costs.ScenarioResult
    figures: tuple[Figure, ...]
    simulation: montecarlo.MonteCarloResult
    bands: dict
    runways: list
    capacity_gpus: int | None  # GPUs the chosen halls' power headroom holds today


def evaluate(scenario: Scenario, *, as_of: datetime | None = None, draws: int = MONTE_CARLO_DRAWS) -> ScenarioReport:
    """Everything a scenario page shows. Raises ScenarioInputError if the saved inputs no longer evaluate."""
    workloads = list(scenario.workloads.all())
    measured = None
    if scenario.calibrate_from_telemetry:
        halls = list(scenario.halls.select_related("site"))
        if halls:
            measured = measured_hall_figures(halls, scenario.calibration_days, as_of or timezone.now())
    s, figures = domain_scenario(scenario, workloads, measured)
    try:
        result = costs.evaluate_scenario(s)
    except InvalidInputError as exc:
        raise ScenarioInputError([(None, None, str(exc))]) from exc
    u = uncertainty(scenario, s)
    rng = np.random.default_rng(MONTE_CARLO_SEED)
    token_prices = token_prices_for(s)
    simulation = montecarlo.simulate(s, u, draws, rng, token_prices=token_prices)
    bands = montecarlo.cumulative_cash_bands(s, u, draws, rng, options=("own", "on_demand", "committed_3y"))
    runways = hall_runways(scenario, result.demand.gpus, s.own.power_kw_per_gpu, measured)
    capacity = int(sum(max(r.headroom_kw_now, 0) for r in runways) / s.own.power_kw_per_gpu) if runways else None
    return ScenarioReport(scenario, tuple(workloads), s, result, figures, simulation, bands, runways, capacity)


def monthly_rows(report: ScenarioReport) -> list[dict]:
    """One row per month (for CSV/XLSX and the API): GPUs, tokens and each option's costs (USD)."""
    demand, options = report.result.demand, report.result.costs.options
    rows = []
    for m, month in enumerate(demand.months):
        row = {
            "month": month.isoformat(),
            "gpus": demand.gpus[m],
            "spare_gpus": demand.spare_gpus[m],
            "output_tokens": demand.output_tokens[m],
        }
        for name, option in options.items():
            row[f"{name}_monthly_usd"] = option.monthly_usd[m]
            row[f"{name}_cumulative_cash_usd"] = option.cumulative_cash_usd[m]
        rows.append(row)
    return rows


def per_token_api(report: ScenarioReport) -> dict:
    """The rent-by-the-token option: every workload bought from the cheapest per-token API that
    serves its model, or why there is none."""
    prices = costs.cheapest_token_prices()
    try:
        o = costs.rent_by_the_token(
            report.inputs.workloads, report.result.demand, prices, report.inputs.discount_rate_annual
        )
    except InvalidInputError as exc:
        return {"unavailable": str(exc)}
    offers = sorted({prices[w.model] for w in report.inputs.workloads}, key=lambda p: p.model)
    drawn = report.simulation.total_usd[costs.TOKEN_API]  # tokens follow the growth draws, prices the spread
    return {
        "total_usd": o.total_usd,
        "total_usd_p10": drawn.p10,
        "total_usd_p50": drawn.p50,
        "total_usd_p90": drawn.p90,
        "npv_usd": o.npv_usd,
        "usd_per_million_tokens": o.usd_per_million_tokens,
        "offers": [
            f"{p.model}: {p.provider} {p.offer}, {p.usd_per_million_input:g}/{p.usd_per_million_output:g} USD "
            f"per 1M input/output tokens ({p.as_of}, {p.source})"
            for p in offers
        ],
    }


def summary(report: ScenarioReport) -> dict:
    """Headline results as plain data (JSON-ready)."""
    c, sim = report.result.costs, report.simulation
    return {
        "scenario": report.scenario.name,
        "gpu_model": report.scenario.gpu_model.name,
        "peak_gpus": max(report.result.demand.gpus),
        "breakeven_month": c.breakeven_month,
        "options": {
            name: {
                "total_usd": o.total_usd,
                "npv_usd": o.npv_usd,
                "usd_per_million_tokens": o.usd_per_million_tokens,
                "usd_per_gpu_hour": o.usd_per_gpu_hour,
                "total_usd_p10": sim.total_usd[name].p10,
                "total_usd_p50": sim.total_usd[name].p50,
                "total_usd_p90": sim.total_usd[name].p90,
            }
            for name, o in c.options.items()
        },
        "per_token_api": per_token_api(report),
        "breakeven_probability": sim.breakeven_probability,
        "throughput": {
            w.workload: {
                "tp": w.throughput.tp,
                "output_tokens_per_s_per_gpu": w.throughput.output_tokens_per_s_per_gpu,
                "limited_by": w.throughput.limited_by,
                "measured": w.throughput.measured,
            }
            for w in report.result.demand.workloads
        },
        "figures": [{"label": f.label, "value": f.value, "unit": f.unit, "source": f.source} for f in report.figures],
        "runway": [
            {
                "hall": str(r.hall),
                "load_source": r.load_source,
                "power_month": r.runway.power_month,
                "cooling_month": r.runway.cooling_month,
                "space_month": r.runway.space_month if r.space_tracked else None,
            }
            for r in report.runways
        ],
    }


@transaction.atomic
def copy_scenario(scenario: Scenario, *, name: str | None = None) -> Scenario:
    """A copy with its workloads and halls, named "<name> (copy)", "<name> (copy 2)", ..."""
    taken = set(Scenario.objects.for_org(scenario.organization).values_list("name", flat=True))
    if name is None:
        name = next(
            candidate
            for n in range(1, len(taken) + 2)
            if (candidate := f"{scenario.name} (copy{'' if n == 1 else f' {n}'})"[:120]) not in taken
        )
    halls = list(scenario.halls.all())
    workloads = list(scenario.workloads.all())
    copy = Scenario.objects.get(pk=scenario.pk)
    copy.pk = None
    copy.name = name
    copy.full_clean()
    copy.save()
    copy.halls.set(halls)
    for w in workloads:
        w.pk = None
        w.scenario = copy
    Workload.objects.bulk_create(workloads)
    return copy


def suggested_rent_prices(organization, gpu_model) -> dict[str, float]:
    """Median price per term for a GPU model (USD/GPU-hour) in the organization's catalog, for pre-filling
    the editor."""
    by_term: dict[str, list[float]] = {}
    for offer in CloudOffer.objects.effective_for(organization).filter(gpu_model=gpu_model):
        by_term.setdefault(offer.term, []).append(offer.usd_per_gpu_hour_mid)
    fields = {
        "on-demand": "on_demand_usd_per_gpu_hour",
        "1-year": "committed_1y_usd_per_gpu_hour",
        "3-year": "committed_3y_usd_per_gpu_hour",
        "spot": "spot_usd_per_gpu_hour",
    }
    return {field: float(np.median(by_term[term])) for term, field in fields.items() if term in by_term}
