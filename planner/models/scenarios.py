"""Saved planner scenarios (inputs only; results are computed on read by planner.services) and the
editable catalog of cloud GPU offers. Percentages are stored as percent, money in USD."""

from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from planner.domain.throughput import Precision
from reference.catalog import load_llms
from telemetry.models import CatalogQuerySet, GpuModel, Hall, Organization, OrgQuerySet
from telemetry.models.tenancy import catalog_owner


def above_zero(value):
    if value is not None and value <= 0:
        raise ValidationError("Must be greater than 0.", code="not_positive")


def not_negative(value):
    if value is not None and value < 0:
        raise ValidationError("Must not be negative.", code="negative")


def percent(value):
    if value is not None and not 0 <= value <= 100:
        raise ValidationError("Must be a percentage between 0 and 100.", code="not_percent")


def first_of_month(value):
    if value.day != 1:
        raise ValidationError("Plans run in whole months: pick the first day of a month.", code="not_first")


def llm_choices():
    return [(name, name) for name in load_llms()]


PRECISION_CHOICES = [(p.name, p.label) for p in Precision]


def usd(verbose, help_text, default, validators=(not_negative,)):
    return models.FloatField(verbose, default=default, validators=list(validators), help_text=help_text)


class Scenario(models.Model):
    """One what-if: workloads served on one GPU model, rent vs own, placed into chosen halls."""

    ORG_LOOKUP = "organization"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="scenarios")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, help_text="What this scenario assumes, for whoever reads it next.")
    start_month = models.DateField(
        default=date(2026, 1, 1), validators=[first_of_month], help_text="First month of the plan (day 1)."
    )
    horizon_months = models.PositiveSmallIntegerField(
        "horizon (months)",
        default=36,
        validators=[MinValueValidator(1, "The horizon must be at least 1 month."), MaxValueValidator(120)],
        help_text="How many months to plan, 1-120.",
    )
    gpu_model = models.ForeignKey(
        GpuModel,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="GPU model the workloads are served on (rented or bought).",
    )
    precision = models.CharField(
        max_length=8,
        choices=PRECISION_CHOICES,
        default=Precision.FP8.name,
        help_text="Weight precision; FP8 needs FP8 tensor cores (Hopper or newer).",
    )

    # Sizing policy
    utilization_ceiling_pct = models.FloatField(
        "utilization ceiling (%)",
        default=80,
        validators=[above_zero, MaxValueValidator(100, "Must be at most 100%.")],
        help_text="Plan serving GPUs to run at most this busy at peak (%).",
    )
    redundancy_replicas = models.PositiveSmallIntegerField(
        "redundant replicas (N+k)", default=1, help_text="Extra replicas per workload, the k of N+k."
    )
    annual_failure_rate_pct = models.FloatField(
        "GPU failure rate (%/year)",
        default=11,
        validators=[percent],
        help_text="Failures per 100 GPU-years; 11 is the Llama 3 paper's GPU-attributed rate.",
    )
    failure_cover_days = models.FloatField(
        "replacement time (days)",
        default=30,
        validators=[not_negative],
        help_text="Days to replace a failed GPU; the spare pool covers failures over this time.",
    )

    # Renting (USD per GPU-hour)
    on_demand_usd_per_gpu_hour = usd(
        "on-demand price (USD/GPU-hour)", "Cloud on-demand price per GPU-hour.", 3.0, [above_zero]
    )
    committed_1y_usd_per_gpu_hour = usd(
        "1-year committed price (USD/GPU-hour)", "Price per GPU-hour with a 1-year commitment.", 2.4, [above_zero]
    )
    committed_3y_usd_per_gpu_hour = usd(
        "3-year committed price (USD/GPU-hour)", "Price per GPU-hour with a 3-year commitment.", 1.9, [above_zero]
    )
    spot_usd_per_gpu_hour = usd(
        "spot price (USD/GPU-hour)", "Spot / preemptible price per GPU-hour.", 2.2, [above_zero]
    )
    spot_interruption_overhead_pct = models.FloatField(
        "spot interruption allowance (%)",
        default=15,
        validators=[not_negative],
        help_text="Extra GPU-hours bought on spot for re-runs and standby (%).",
    )
    mixed_baseline_pct = models.FloatField(
        "mixed: committed baseline (%)",
        default=60,
        validators=[percent],
        help_text="Share of the fleet on 1-year commitments in the mixed option (%).",
    )
    mixed_burst_hours_pct = models.FloatField(
        "mixed: burst hours (%)",
        default=30,
        validators=[percent],
        help_text="Share of hours the rest of the fleet runs on demand in the mixed option (%).",
    )

    # Owning
    server_capex_usd_per_gpu = usd(
        "server price per GPU (USD)", "GPU server purchase price divided by its GPUs.", 35_000, [above_zero]
    )
    network_storage_pct = models.FloatField(
        "network and storage (% of server price)",
        default=15,
        validators=[not_negative],
        help_text="Network and storage capex as a share of server capex (%).",
    )
    depreciation_years = models.FloatField(
        "depreciation (years)",
        default=5,
        validators=[above_zero, MaxValueValidator(15)],
        help_text="Straight-line depreciation period in years; must be more than 0.",
    )
    cost_of_capital_pct = models.FloatField(
        "cost of capital (%/year)", default=8, validators=[percent], help_text="Annual rate charged on book value."
    )
    maintenance_pct_per_year = models.FloatField(
        "maintenance (% of capex per year)", default=5, validators=[percent], help_text="Support contracts and parts."
    )
    replacement_cost_pct = models.FloatField(
        "replacement cost (% of per-GPU capex)",
        default=50,
        validators=[percent],
        help_text="What replacing one failed GPU costs, as a share of the capex per GPU (%).",
    )
    staff_usd_per_month = usd("staff (USD/month)", "Operations staff attributable to the owned fleet.", 0)
    power_kw_per_gpu = models.FloatField(
        "IT power per GPU (kW)",
        null=True,
        blank=True,
        validators=[above_zero],
        help_text="Average IT draw per GPU incl. its server share (kW); blank = TDP x 1.82.",
    )
    pue = models.FloatField(
        "PUE",
        default=1.4,
        validators=[MinValueValidator(1, "PUE cannot be below 1.")],
        help_text="Facility power / IT power (ratio, >= 1).",
    )
    electricity_usd_per_kwh = usd("electricity price (USD/kWh)", "Price of facility electricity per kWh.", 0.08)
    facility_usd_per_kw_month = usd(
        "facility cost (USD/kW-month)", "Colocation rent or owned-facility cost per kW of IT load per month.", 150
    )
    discount_rate_pct = models.FloatField(
        "discount rate (%/year)", default=8, validators=[percent], help_text="Discounts cash flows for the NPV."
    )

    # Placement and calibration
    halls = models.ManyToManyField(
        Hall,
        blank=True,
        related_name="+",
        help_text="Halls the owned GPUs would go into (runway), and whose measurements calibrate the scenario.",
    )
    gpus_per_rack = models.PositiveSmallIntegerField(
        "GPUs per rack",
        default=32,
        validators=[MinValueValidator(1, "A rack must hold at least 1 GPU.")],
        help_text="Rack density of the new GPUs (for rack-space runway).",
    )
    calibrate_from_telemetry = models.BooleanField(
        "use measured figures",
        default=False,
        help_text="Take utilization ceiling, IT power per GPU and PUE from the chosen halls' measurements "
        "where they exist; typed values are used where they do not.",
    )
    calibration_days = models.PositiveSmallIntegerField(
        "measurement window (days)",
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Days of measured data, ending now, the calibration averages over.",
    )

    # Uncertainty (Monte Carlo and tornado): low/high around the typed value
    growth_spread_pp = models.FloatField(
        "growth uncertainty (± percentage points/month)",
        default=3,
        validators=[not_negative],
        help_text="Monthly growth may be this many percentage points lower or higher.",
    )
    price_spread_pct = models.FloatField(
        "price uncertainty (± %)",
        default=20,
        validators=[percent],
        help_text="Electricity, server and cloud prices may each be this much lower or higher.",
    )

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="scenario_name_per_org",
                violation_error_message="A scenario with this name already exists in the organization.",
            )
        ]

    def __str__(self):
        return self.name


class Workload(models.Model):
    """One LLM service the scenario must carry."""

    ORG_LOOKUP = "scenario__organization"

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="workloads")
    name = models.CharField(max_length=80, help_text="e.g. chat, RAG, batch summaries.")
    llm_model = models.CharField("LLM", max_length=60, choices=llm_choices, help_text="Model served.")
    requests_per_day = models.FloatField(
        "requests per day", validators=[not_negative], help_text="Mean requests per day in the first month."
    )
    mean_input_tokens = models.PositiveIntegerField(
        "mean input tokens", validators=[MinValueValidator(1)], help_text="Prompt tokens per request."
    )
    mean_output_tokens = models.PositiveIntegerField(
        "mean output tokens", validators=[MinValueValidator(1)], help_text="Generated tokens per request."
    )
    peak_to_mean = models.FloatField(
        "peak-to-mean",
        default=2.0,
        validators=[MinValueValidator(1, "Peak-to-mean must be at least 1.")],
        help_text="Busiest hour's request rate over the daily mean (ratio).",
    )
    monthly_growth_pct = models.FloatField(
        "growth (%/month)",
        default=0,
        validators=[MinValueValidator(-99, "Growth must be above -100%/month.")],
        help_text="Compounding monthly change in requests (%).",
    )
    max_ms_per_output_token = models.FloatField(
        "latency target (ms/token)",
        null=True,
        blank=True,
        validators=[above_zero],
        help_text="Slowest acceptable time per output token (ms); blank = throughput only.",
    )
    measured_tokens_per_s_per_gpu = models.FloatField(
        "measured throughput (output tokens/s per GPU)",
        null=True,
        blank=True,
        validators=[above_zero],
        help_text="Your own benchmark on this GPU model; replaces the estimate.",
    )
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["scenario", "name"],
                name="workload_name_per_scenario",
                violation_error_message="Workload names must differ within a scenario.",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.llm_model})"

    @property
    def tokens_per_day(self):
        return self.requests_per_day * (self.mean_input_tokens + self.mean_output_tokens)


class CloudOffer(models.Model):
    """A published cloud GPU price. Like GpuModel: shared rows (no organization) edited by superusers only,
    plus an organization's own rows (a negotiated price, a provider missing here), seen only by it; one with
    a shared row's provider, instance and term overrides it for that organization."""

    ORG_LOOKUP = "organization"
    CATALOG_IDENTITY = ("provider", "instance", "term")

    class Term(models.TextChoices):
        ON_DEMAND = "on-demand", "on-demand"
        SPOT = "spot", "spot"
        CAPACITY_BLOCK = "capacity-block", "capacity block"
        ONE_YEAR = "1-year", "1-year committed"
        THREE_YEAR = "3-year", "3-year committed"

    organization = catalog_owner("cloud_offers")
    provider = models.CharField(max_length=60)
    instance = models.CharField(max_length=120, help_text="Instance type or offer name.")
    gpu_model = models.ForeignKey(GpuModel, on_delete=models.PROTECT, related_name="cloud_offers")
    gpus_per_instance = models.PositiveSmallIntegerField(
        "GPUs per instance", validators=[MinValueValidator(1, "An instance has at least 1 GPU.")]
    )
    term = models.CharField(max_length=16, choices=Term.choices)
    usd_per_gpu_hour = models.FloatField(
        "price (USD/GPU-hour)", validators=[above_zero], help_text="Lower end where a range was published."
    )
    usd_per_gpu_hour_high = models.FloatField(
        "price high (USD/GPU-hour)", null=True, blank=True, validators=[above_zero], help_text="Upper end of a range."
    )
    as_of = models.CharField(max_length=20, help_text="When the price was read, as printed (e.g. 2024-12).")
    source = models.TextField(help_text="Where the price comes from.")
    objects = CatalogQuerySet.as_manager()

    class Meta:
        ordering = ["gpu_model__name", "term", "usd_per_gpu_hour"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "instance", "term", "as_of"],
                condition=models.Q(organization__isnull=True),
                name="cloud_offer_identity",
                violation_error_message="The shared catalog already has this offer for this date.",
            ),
            models.UniqueConstraint(
                fields=["organization", "provider", "instance", "term", "as_of"],
                name="cloud_offer_identity_per_org",
                violation_error_message="Your organization already has this offer for this date.",
            ),
        ]

    def __str__(self):
        return f"{self.provider} {self.instance} ({self.term}, {self.as_of})"

    def clean(self):
        model_org = self.gpu_model.organization_id if self.gpu_model_id else None
        if model_org is not None and model_org != self.organization_id:
            raise ValidationError({"gpu_model": "This GPU model belongs to another organization's catalog."})

    @property
    def usd_per_gpu_hour_mid(self):
        return (self.usd_per_gpu_hour + (self.usd_per_gpu_hour_high or self.usd_per_gpu_hour)) / 2
