"""LLM serving: deployments, their replicas (each one scraped /metrics endpoint), serving samples and rollups,
and the anomaly events the detector raises (telemetry.anomalies, telemetry.serving.anomalies).

A replica's endpoint, interval, timeout and health live in its `Source` (kind "serving"), so collection
runs, retries and failures show on the Sources page like every other collector's. Serving samples are
written only by telemetry.serving.store; docs/serving.md ("Telemetry") says what each column means.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .inventory import Gpu, GpuModel
from .samples import RealField, Resolution, Source
from .tenancy import Organization, OrgQuerySet


def validate_llm_model(value):
    """The LLM must be in the planner's catalog (reference/data/llm-models.csv), so its size and KV-cache
    layout are known to the throughput model and the recommendation."""
    from reference.catalog import load_llms

    if value not in load_llms():
        known = ", ".join(sorted(load_llms()))
        raise ValidationError(f"{value!r} is not in the LLM catalog (reference/data/llm-models.csv): {known}")


class Engine(models.TextChoices):
    VLLM = "vllm", "vLLM"
    SGLANG = "sglang", "SGLang"
    TRTLLM = "trtllm", "TensorRT-LLM (Triton)"


class Deployment(models.Model):
    """One served LLM: which model, on which engine and GPU model, how it is split (TP x PP per replica).

    Its replicas (`replicas`) carry the endpoints and the GPUs each runs on; `gpus` is their union."""

    ORG_LOOKUP = "organization"

    class Precision(models.TextChoices):
        BF16 = "BF16", "BF16"
        FP16 = "FP16", "FP16"
        FP8 = "FP8", "FP8"
        INT8 = "INT8", "INT8"
        INT4 = "INT4", "INT4"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="deployments")
    name = models.CharField(max_length=120)
    llm_model = models.CharField(
        "LLM model", max_length=80, validators=[validate_llm_model], help_text="Name in reference/data/llm-models.csv."
    )
    engine = models.CharField(max_length=8, choices=Engine.choices)
    gpu_model = models.ForeignKey(GpuModel, on_delete=models.PROTECT, related_name="deployments")
    precision = models.CharField(max_length=4, choices=Precision.choices, default=Precision.BF16)
    tensor_parallel_size = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(64)]
    )
    pipeline_parallel_size = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(64)]
    )
    created = models.DateTimeField(auto_now_add=True)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="deployment_name_per_org",
                violation_error_message="A deployment with this name already exists in the organization.",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def gpus_per_replica(self):
        return self.tensor_parallel_size * self.pipeline_parallel_size

    @property
    def gpus(self):
        return Gpu.objects.filter(serving_replicas__deployment=self).distinct()

    @property
    def replica_count(self):
        return self.replicas.count()


class Replica(models.Model):
    """One engine instance of a deployment: the GPUs it runs on and its /metrics endpoint (its Source).

    `scrape_state` keeps the previous scrape's cumulative counters and histogram buckets: samples store
    what happened between two scrapes (token and request deltas, interval percentiles), which needs them."""

    ORG_LOOKUP = "deployment__organization"
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="replicas")
    name = models.CharField(max_length=60)
    source = models.OneToOneField(Source, on_delete=models.CASCADE, related_name="serving_replica")
    gpus = models.ManyToManyField(Gpu, blank=True, related_name="serving_replicas")
    scrape_state = models.JSONField(default=dict, blank=True, editable=False)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["deployment__name", "name"]
        constraints = [models.UniqueConstraint(fields=["deployment", "name"], name="replica_name_per_deployment")]

    def __str__(self):
        return f"{self.deployment.name}/{self.name}"

    @property
    def metrics_url(self):
        return self.source.endpoint


# Serving sample columns: gauges at the scrape instant, counter deltas since the previous scrape (reset
# handled), and latency percentiles of the requests that finished in between (from histogram bucket deltas).
SERVING_GAUGES = ("requests_running", "requests_waiting", "kv_cache_usage")
SERVING_COUNTERS = ("prompt_tokens", "generation_tokens", "requests_finished", "requests_failed")
SERVING_LATENCIES = ("ttft", "tpot", "e2e")
PERCENTILES = (50, 95, 99)
SERVING_PERCENTILE_FIELDS = tuple(f"{m}_p{p}" for m in SERVING_LATENCIES for p in PERCENTILES)
SERVING_FIELDS = SERVING_GAUGES + SERVING_COUNTERS + SERVING_PERCENTILE_FIELDS
SERVING_UNITS = {
    "requests_running": "requests",
    "requests_waiting": "requests",
    "kv_cache_usage": "fraction",
    "prompt_tokens": "tokens",
    "generation_tokens": "tokens",
    "requests_finished": "requests",
    "requests_failed": "requests",
    **{f: "s" for f in SERVING_PERCENTILE_FIELDS},
}


class ServingSample(models.Model):
    """One scrape of one replica. `interval_s` is the time since the previous scrape (NULL for the first,
    which has no deltas); rates are deltas / interval_s."""

    ORG_LOOKUP = "replica__deployment__organization"
    pk = models.CompositePrimaryKey("replica_id", "ts")
    replica = models.ForeignKey(
        Replica, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    ts = models.DateTimeField()
    interval_s = RealField(null=True, blank=True)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["replica_id", "ts"]
        indexes = [models.Index(fields=["ts"], name="servingsample_ts")]

    def __str__(self):
        return f"replica {self.replica_id} @ {self.ts:%Y-%m-%d %H:%M:%S}"


for _name in SERVING_GAUGES + SERVING_PERCENTILE_FIELDS:
    ServingSample.add_to_class(_name, RealField(null=True, blank=True))
for _name in SERVING_COUNTERS:
    ServingSample.add_to_class(_name, models.FloatField(null=True, blank=True))


class ServingRollup(models.Model):
    """Per-replica aggregates of one bucket: counter deltas summed, gauges averaged (and their max),
    percentiles averaged weighted by finished requests (an approximation, noted in docs/serving.md)
    and their max; `seconds` is the scrape time covered, `n` the number of samples."""

    ORG_LOOKUP = "replica__deployment__organization"
    pk = models.CompositePrimaryKey("resolution", "replica_id", "ts")
    resolution = models.SmallIntegerField(choices=Resolution.choices)
    replica = models.ForeignKey(
        Replica, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    ts = models.DateTimeField(help_text="Start of the bucket.")
    n = models.IntegerField(default=0)
    seconds = models.FloatField(default=0)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["resolution", "replica_id", "ts"]

    def __str__(self):
        return f"replica {self.replica_id} {self.get_resolution_display()} @ {self.ts:%Y-%m-%d %H:%M}"


for _name in SERVING_GAUGES + SERVING_PERCENTILE_FIELDS:
    ServingRollup.add_to_class(f"{_name}_avg", RealField(null=True, blank=True))
    ServingRollup.add_to_class(f"{_name}_max", RealField(null=True, blank=True))
for _name in SERVING_COUNTERS:
    ServingRollup.add_to_class(_name, models.FloatField(null=True, blank=True))


class Anomaly(models.Model):
    """A stretch of time in which a GPU's or a replica's metric left its learned expected range.

    `key` (subject, metric, kind, start) makes a re-run of the detector update the event, not add one."""

    ORG_LOOKUP = "organization"

    class Severity(models.TextChoices):
        INFO = "info", "info"
        WARNING = "warning", "warning"
        CRITICAL = "critical", "critical"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="anomalies")
    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, null=True, blank=True, related_name="anomalies")
    replica = models.ForeignKey(Replica, on_delete=models.CASCADE, null=True, blank=True, related_name="anomalies")
    deployment = models.ForeignKey(
        Deployment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="anomalies",
        help_text="Set for a replica's anomaly and for one of the whole deployment (no replica then).",
    )
    metric = models.CharField(max_length=40)
    kind = models.CharField(max_length=24, help_text="What the detector saw: spike, stuck, drift, peer, ...")
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True, help_text="Empty while the anomaly goes on.")
    observed = models.FloatField(null=True, blank=True)
    expected_low = models.FloatField(null=True, blank=True)
    expected_high = models.FloatField(null=True, blank=True)
    explanation = models.TextField(blank=True)
    key = models.CharField(max_length=40, editable=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["-start"]
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="anomaly_key_per_org")]
        indexes = [models.Index(fields=["organization", "-start"], name="anomaly_org_start")]

    def __str__(self):
        return f"{self.kind} {self.metric} @ {self.start:%Y-%m-%d %H:%M}"

    @property
    def subject(self):
        if self.replica_id or self.gpu_id:
            return str(self.replica or self.gpu)
        return f"{self.deployment} (all replicas)" if self.deployment_id else ""


class AnomalyMute(models.Model):
    """No new anomalies of this subject and metric (any metric when blank) until `until`."""

    ORG_LOOKUP = "organization"
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="anomaly_mutes")
    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    replica = models.ForeignKey(Replica, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    metric = models.CharField(max_length=40, blank=True)
    until = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["-until"]

    def __str__(self):
        return f"mute {self.replica or self.gpu} {self.metric or '*'} until {self.until:%Y-%m-%d %H:%M}"
