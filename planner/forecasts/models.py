"""Stored forecasts: each run (cooling per hall, or fleet failure risk), the hall forecasts it produced,
the alerts they raised (one row per persisting condition) and per-GPU risk scores.

The page shows a hall's newest HallForecast; a failed run writes none, so the last good one stays shown
while the run records its error.
"""

from django.db import models
from django.db.models import Q

from telemetry.models import Gpu, Hall, Organization, OrgQuerySet


class ForecastRun(models.Model):
    """One forecasting run: when, on which inputs (their time range), with which model, how it scored."""

    ORG_LOOKUP = "organization"

    class Kind(models.TextChoices):
        COOLING = "cooling", "cooling forecast"
        RISK = "risk", "failure risk"

    class Mode(models.TextChoices):
        REFIT = "refit", "nightly refit with backtest"
        UPDATE = "update", "hourly update"

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        OK = "ok", "ok"
        FAILED = "failed", "failed"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="forecast_runs")
    hall = models.ForeignKey(Hall, on_delete=models.CASCADE, null=True, blank=True, related_name="forecast_runs")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.UPDATE)
    as_of = models.DateTimeField(help_text="The instant the forecast is made from (UTC).")
    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    inputs_start = models.DateTimeField(null=True, blank=True, help_text="First hour of history used.")
    inputs_end = models.DateTimeField(null=True, blank=True, help_text="Last hour of history used.")
    model_version = models.CharField(max_length=60)
    scores = models.JSONField(default=dict, blank=True, help_text="Backtest scores (per target, or Brier).")
    notes = models.JSONField(default=list, blank=True, help_text="Caveats about the inputs, shown on the page.")
    error = models.TextField(blank=True)
    objects = OrgQuerySet.as_manager()

    class Meta:
        db_table = "planner_forecastrun"  # created by the planner app before this one
        ordering = ["-started"]
        indexes = [models.Index(fields=["organization", "kind", "-started"], name="forecast_run_org_kind")]

    def __str__(self):
        where = f" {self.hall.name}" if self.hall_id else ""
        return f"{self.kind}{where} @ {self.as_of:%Y-%m-%d %H:%M} ({self.status})"


class HallForecast(models.Model):
    """A hall's hourly forecast from one run, as columns: `frame` = {"hour": [ISO...], "<column>": [...]}
    with the columns of planner.domain.cooling_forecast (targets with _lo80/_hi80/_lo95/_hi95, outdoor_c)."""

    ORG_LOOKUP = "hall__site__organization"
    run = models.OneToOneField(ForecastRun, on_delete=models.CASCADE, related_name="hall_forecast")
    hall = models.ForeignKey(Hall, on_delete=models.CASCADE, related_name="forecasts")
    as_of = models.DateTimeField()
    horizon_hours = models.PositiveSmallIntegerField()
    frame = models.JSONField()
    backtest = models.JSONField(default=dict, blank=True, help_text="Scores of the latest refit, per target.")
    cooling_per_it = models.FloatField(help_text="Fitted kW of cooling load per kW of IT load.")
    inlet_c_per_utilisation = models.FloatField()
    outdoor_measured = models.BooleanField(default=True)
    objects = OrgQuerySet.as_manager()

    class Meta:
        db_table = "planner_hallforecast"  # created by the planner app before this one
        ordering = ["-as_of"]
        indexes = [models.Index(fields=["hall", "-as_of"], name="hall_forecast_latest")]

    def __str__(self):
        return f"{self.hall.name} forecast @ {self.as_of:%Y-%m-%d %H:%M}"


class AlertQuerySet(OrgQuerySet):
    def active(self):
        return self.filter(resolved_at__isnull=True)


class Alert(models.Model):
    """A forecast crossing a limit. A condition that persists across runs stays one row (same
    dedup_key while unresolved): each run updates its figures and last_seen; a run without it resolves it."""

    ORG_LOOKUP = "organization"

    class Severity(models.TextChoices):
        WARNING = "warning", "warning"
        CRITICAL = "critical", "critical"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="alerts")
    hall = models.ForeignKey(Hall, on_delete=models.CASCADE, related_name="alerts")
    racks = models.JSONField(default=list, blank=True, help_text="Names of the racks concerned.")
    kind = models.CharField(max_length=24)
    threshold = models.FloatField()
    unit = models.CharField(max_length=8)
    start = models.DateTimeField(help_text="First forecast hour over the threshold.")
    end = models.DateTimeField(help_text="Last forecast hour over the threshold.")
    peak = models.FloatField(help_text="Highest upper bound of the interval.")
    peak_at = models.DateTimeField()
    margin = models.FloatField(help_text="Threshold minus peak; negative is how far over.")
    severity = models.CharField(max_length=8, choices=Severity.choices)
    dedup_key = models.CharField(max_length=120)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_run = models.ForeignKey(ForecastRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    objects = AlertQuerySet.as_manager()

    class Meta:
        db_table = "planner_alert"  # created by the planner app before this one
        ordering = ["resolved_at", "-severity", "start"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "dedup_key"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_alert_per_condition",
            )
        ]

    def __str__(self):
        return f"{self.hall.name} {self.kind} {self.severity}"

    @property
    def active(self):
        return self.resolved_at is None


class GpuRiskScoreQuerySet(OrgQuerySet):
    def expired(self, cutoff):
        """Scores made before `cutoff`, except those of each organization's newest risk run: a fleet whose
        scoring stopped still shows its last scores."""
        newest = (
            ForecastRun.objects.filter(kind=ForecastRun.Kind.RISK, organization=models.OuterRef("organization"))
            .order_by("-as_of", "-started")
            .values("pk")[:1]
        )
        return self.filter(as_of__lt=cutoff).exclude(run=models.Subquery(newest))


class GpuRiskScore(models.Model):
    """One GPU's 30-day failure probability from one risk run, with the signals that drive it."""

    ORG_LOOKUP = "organization"
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="risk_scores")
    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, related_name="risk_scores")
    as_of = models.DateTimeField()
    probability_30d = models.FloatField()
    log_odds = models.FloatField()
    top_signal = models.CharField(max_length=24, blank=True)
    signals = models.JSONField(default=list, help_text="[{signal, log_odds, why}], largest first.")
    features = models.JSONField(default=dict, help_text="The signal values scored (counts over 30 days).")
    objects = GpuRiskScoreQuerySet.as_manager()

    class Meta:
        db_table = "planner_gpuriskscore"  # created by the planner app before this one
        ordering = ["-probability_30d"]
        constraints = [models.UniqueConstraint(fields=["run", "gpu"], name="risk_score_per_run_gpu")]
        indexes = [models.Index(fields=["gpu", "-as_of"], name="risk_score_gpu_time")]

    def __str__(self):
        return f"gpu {self.gpu_id}: {self.probability_30d:.1%}"
