"""What is measured: sources and their runs, wide GPU samples, narrow samples of named series, events, rollups.

Storage layout and its sizing are in docs/performance.md ("Telemetry storage"). On PostgreSQL the raw
tables (GpuSample, Sample) are range-partitioned by day (migration 0004, telemetry.partitions); on SQLite
they are ordinary tables with the same columns. Nothing but telemetry.ingest writes samples or events.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import models
from django.utils import timezone

from ..vocabulary import ENTITY_KINDS, EVENT_KINDS, GPU_METRICS, POINT_METRICS
from .inventory import Gpu, Hall
from .tenancy import Organization, OrgQuerySet

# Column type per GPU metric: float4 where a sensor's precision allows, integers for counters and bitmasks,
# float8 for the energy counter (joules since driver load exceed float4's 24-bit mantissa within hours).
GPU_COLUMN_TYPES = {
    "gpu_util": models.FloatField,  # real, see _Real below
    "gpu_mem_used": models.BigIntegerField,
    "gpu_power": models.FloatField,
    "gpu_energy": models.FloatField,
    "gpu_temp": models.FloatField,
    "gpu_mem_temp": models.FloatField,
    "gpu_sm_clock": models.IntegerField,
    "gpu_throttle_reasons": models.BigIntegerField,
    "gpu_ecc_sbe": models.BigIntegerField,
    "gpu_ecc_dbe": models.BigIntegerField,
    "gpu_remap_pending": models.SmallIntegerField,
    "gpu_remap_failure": models.SmallIntegerField,
    "gpu_retired_pages": models.IntegerField,
    "gpu_pcie_replay": models.BigIntegerField,
}
DOUBLE_PRECISION_METRICS = frozenset({"gpu_energy"})
INTEGER_METRICS = frozenset(name for name, field in GPU_COLUMN_TYPES.items() if field is not models.FloatField)
assert set(GPU_COLUMN_TYPES) == set(GPU_METRICS), "every GPU metric needs a column"


class RealField(models.FloatField):
    """4-byte float (PostgreSQL `real`): ~7 significant digits, plenty for sensors, half the bytes."""

    def db_type(self, connection):
        return "real" if connection.vendor == "postgresql" else super().db_type(connection)


def _gpu_metric_field(name):
    field_class = GPU_COLUMN_TYPES[name]
    if field_class is models.FloatField and name not in DOUBLE_PRECISION_METRICS:
        field_class = RealField
    metric = GPU_METRICS[name]
    return field_class(null=True, blank=True, help_text=f"{metric.help} ({metric.unit})")


def nvml_queue(hostname):
    """Celery queue of a GPU host's NVML collections (`celery worker -Q nvml.<hostname>` runs there)."""
    return f"nvml.{hostname}"


class Source(models.Model):
    """A configured collector (or a push client): where data comes from, how often, and how it is doing."""

    ORG_LOOKUP = "organization"

    class Kind(models.TextChoices):
        NVML = "nvml", "NVML on a GPU host"
        PROMETHEUS = "prometheus", "Prometheus exposition scrape (dcgm-exporter, node-exporter)"
        PROMETHEUS_API = "prometheus_api", "Prometheus HTTP API pull"
        REDFISH = "redfish", "Redfish BMC / PDU / CDU"
        SNMP = "snmp", "SNMP PDU"
        CSV = "csv", "CSV import"
        SIMULATOR = "simulator", "Simulator (demo)"
        SERVING = "serving", "Serving engine /metrics (vLLM, SGLang, Triton)"
        PUSH = "push", "Push API client"

    class UnknownDevice(models.TextChoices):
        REJECT = "reject", "reject readings of devices not in the inventory"
        AUTO_REGISTER = "auto_register", "create series for unknown non-GPU entities"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sources")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    endpoint = models.CharField(max_length=500, blank=True, help_text="URL, host or file path the collector reads.")
    # Credentials are stored as given for now; they are never rendered by the API or pages.
    username = models.CharField(max_length=120, blank=True)
    password = models.CharField(max_length=255, blank=True)
    token = models.CharField(max_length=500, blank=True, help_text="API token, or SNMP community.")
    options = models.JSONField(default=dict, blank=True, help_text="Kind-specific settings for the collector.")
    interval_s = models.PositiveIntegerField(default=60)
    timeout_s = models.PositiveIntegerField(default=10)
    unknown_device = models.CharField(max_length=16, choices=UnknownDevice.choices, default=UnknownDevice.REJECT)
    enabled = models.BooleanField(default=True)
    ingest_token_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)

    # Health, updated after each collection run (telemetry.sources).
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_run_samples = models.PositiveIntegerField(default=0)

    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="source_name_per_org",
                violation_error_message="A source with this name already exists in the organization.",
            )
        ]

    def __str__(self):
        return self.name

    @staticmethod
    def hash_token(token):
        # Tokens are 256-bit random strings, so a fast hash is enough and keeps the lookup indexable.
        return hashlib.sha256(token.encode()).hexdigest()

    def issue_ingest_token(self):
        """Set a new push token and return it; only its hash is stored, so this is the one time it is seen."""
        token = f"hr_{secrets.token_urlsafe(32)}"
        self.ingest_token_hash = self.hash_token(token)
        self.save(update_fields=["ingest_token_hash"])
        return token

    @property
    def collectable(self):
        return self.kind != self.Kind.PUSH

    def is_due(self, now):
        return self.last_run_at is None or now - self.last_run_at >= timedelta(seconds=self.interval_s * 0.9)

    @property
    def queue(self):
        """The Celery queue its collections go to: `options["queue"]`, else for NVML the queue of the GPU host
        it reads (`nvml.<hostname>`, served by a worker on that host only), else the default queue."""
        if self.options.get("queue"):
            return self.options["queue"]
        if self.kind == self.Kind.NVML:
            return nvml_queue(self.endpoint)
        return None

    @property
    def lag(self):
        """Time since the last successful run (None if it never succeeded)."""
        return timezone.now() - self.last_success_at if self.last_success_at else None

    @property
    def healthy(self):
        return self.last_success_at is not None and self.consecutive_failures == 0


class CollectorRun(models.Model):
    """One collection (or one push): what came in, what was kept, and what went wrong."""

    ORG_LOOKUP = "source__organization"

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        OK = "ok", "ok"
        FAILED = "failed", "failed"

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="runs")
    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    accepted = models.PositiveIntegerField(default=0)
    duplicate = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["-started"]
        indexes = [models.Index(fields=["source", "-started"], name="run_source_started")]

    def __str__(self):
        return f"{self.source} @ {self.started:%Y-%m-%d %H:%M:%S}"

    @property
    def duration(self):
        return self.finished - self.started if self.finished else None


class CollectionGap(models.Model):
    """A span in which a source was not collected (Headroom, the network or the source was down): back-filled
    from the source's own history where it keeps one (a Prometheus server's query API, telemetry.gaps), else
    recorded as lost (an exporter, BMC or PDU answers only with its present values). Shown on the Sources page."""

    ORG_LOOKUP = "source__organization"

    class State(models.TextChoices):
        BACKFILLING = "backfilling", "back-filling"
        FILLED = "filled", "back-filled"
        LOST = "lost", "lost"

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="gaps")
    start = models.DateTimeField(help_text="The last successful collection before the gap.")
    end = models.DateTimeField(help_text="Where the first collection after it reached back to.")
    state = models.CharField(max_length=12, choices=State.choices)
    filled_upto = models.DateTimeField(null=True, blank=True, help_text="Back-filled from start up to here.")
    accepted = models.PositiveIntegerField(default=0)
    duplicate = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True, help_text="Why it is lost, what was left out, or the last back-fill error.")
    found_at = models.DateTimeField()
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["-start"]
        constraints = [models.UniqueConstraint(fields=["source", "start"], name="gap_source_start")]

    def __str__(self):
        return f"{self.source} {self.state} {self.start:%Y-%m-%d %H:%M:%S} - {self.end:%H:%M:%S}"

    @property
    def progress(self):
        """Share of the span back-filled, 0..1."""
        if self.state == self.State.FILLED:
            return 1.0
        span = (self.end - self.start).total_seconds()
        done = (self.filled_upto - self.start).total_seconds() if self.filled_upto else 0.0
        return min(max(done / span, 0.0), 1.0) if span > 0 else 1.0


class GpuSample(models.Model):
    """One row per GPU per instant, a typed nullable column per GPU metric (a field a board lacks is NULL).

    No foreign-key constraint in the database: ingest checks the GPU, and a per-row FK check would cost
    a third of the write speed. Deleting a GPU still deletes its samples (ORM cascade)."""

    ORG_LOOKUP = "gpu__node__rack__hall__site__organization"
    pk = models.CompositePrimaryKey("gpu_id", "ts")
    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    ts = models.DateTimeField()
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["gpu_id", "ts"]

    def __str__(self):
        return f"gpu {self.gpu_id} @ {self.ts:%Y-%m-%d %H:%M:%S}"


for _name in GPU_METRICS:
    GpuSample.add_to_class(_name, _gpu_metric_field(_name))


class GpuBlock(models.Model):
    """One GPU's raw samples of one sealed hour, compressed (telemetry.blocks): on PostgreSQL, GPU-hours older
    than TELEMETRY_SEAL_AFTER_HOURS move here from GpuSample (telemetry.sealing), ~14x smaller. Rows that
    arrive later for a sealed hour stay rows until the next seal merges them in; readers merge both."""

    ORG_LOOKUP = "gpu__node__rack__hall__site__organization"
    pk = models.CompositePrimaryKey("gpu_id", "start")
    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    start = models.DateTimeField(help_text="Start of the hour.")
    rows = models.IntegerField(help_text="Samples (instants) in the block.")
    data = models.BinaryField(help_text="telemetry.blocks.encode of the hour's samples (already deflated).")
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["gpu_id", "start"]
        indexes = [models.Index(fields=["start"], name="gpublock_start")]  # retention deletes by hour

    def __str__(self):
        return f"gpu {self.gpu_id} block @ {self.start:%Y-%m-%d %H:%M}"


class Series(models.Model):
    """A named stream of one metric of one non-GPU entity (node, rack, PDU, cooling unit, hall, site)."""

    ORG_LOOKUP = "organization"
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="series")
    entity_kind = models.CharField(max_length=8, choices=[(k, k) for k in ENTITY_KINDS])
    entity = models.CharField(max_length=253, help_text="The entity's name as the source knows it.")
    metric = models.CharField(max_length=40, choices=[(m, m) for m in POINT_METRICS])
    unit = models.CharField(max_length=16)
    # Where the entity sits, when the inventory knows it: hall aggregates (IT power, max inlet) use it.
    hall = models.ForeignKey(Hall, on_delete=models.SET_NULL, null=True, blank=True, related_name="series")
    objects = OrgQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "series"
        ordering = ["entity_kind", "entity", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "entity_kind", "entity", "metric"], name="series_key")
        ]

    def __str__(self):
        return f"{self.entity_kind}:{self.entity}/{self.metric}"


class Sample(models.Model):
    """One value of a series (no FK constraint in the database, for write speed; see GpuSample)."""

    ORG_LOOKUP = "series__organization"
    pk = models.CompositePrimaryKey("series_id", "ts")
    series = models.ForeignKey(Series, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    ts = models.DateTimeField()
    value = models.FloatField()
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["series_id", "ts"]

    def __str__(self):
        return f"series {self.series_id} @ {self.ts:%Y-%m-%d %H:%M:%S} = {self.value}"


class Event(models.Model):
    """A discrete happening: XID, ECC DBE, remap failure, throttling, GPU lost, collector failure.

    `key` identifies the event (kind, instant, subject, code) so that a re-sent batch adds nothing."""

    ORG_LOOKUP = "organization"
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="events")
    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, null=True, blank=True, related_name="events")
    source = models.ForeignKey(Source, on_delete=models.SET_NULL, null=True, blank=True, related_name="events")
    entity = models.CharField(max_length=253, blank=True)
    kind = models.CharField(max_length=20, choices=[(k, k) for k in EVENT_KINDS])
    code = models.BigIntegerField(null=True, blank=True)
    ts = models.DateTimeField()
    detail = models.TextField(blank=True)
    key = models.CharField(max_length=40, editable=False)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["-ts"]
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="event_key_per_org")]
        indexes = [models.Index(fields=["organization", "-ts"], name="event_org_ts")]

    def __str__(self):
        return f"{self.kind} {self.code if self.code is not None else ''} @ {self.ts:%Y-%m-%d %H:%M:%S}"

    @staticmethod
    def make_key(kind, ts, gpu_uuid, entity, code):
        raw = f"{kind}|{ts.isoformat()}|{gpu_uuid}|{entity}|{'' if code is None else code}"
        return hashlib.sha1(raw.encode()).hexdigest()  # noqa: S324 - identity, not security


class Resolution(models.IntegerChoices):
    MINUTE = 60, "1m"
    FIVE_MINUTES = 300, "5m"
    HOUR = 3600, "1h"


class GpuRollup(models.Model):
    """Per-GPU aggregates of one time bucket, wide like GpuSample: for each metric min/max/avg/last
    (real) and its number of non-null samples (`<metric>_n`). One table for all resolutions."""

    ORG_LOOKUP = "gpu__node__rack__hall__site__organization"
    pk = models.CompositePrimaryKey("resolution", "gpu_id", "ts")
    resolution = models.SmallIntegerField(choices=Resolution.choices)
    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    ts = models.DateTimeField(help_text="Start of the bucket.")
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["resolution", "gpu_id", "ts"]

    def __str__(self):
        return f"gpu {self.gpu_id} {self.get_resolution_display()} @ {self.ts:%Y-%m-%d %H:%M}"


ROLLUP_STATS = ("min", "max", "avg", "last")
for _name in GPU_METRICS:
    for _stat in ROLLUP_STATS:
        _field_class = models.FloatField if _name in DOUBLE_PRECISION_METRICS else RealField
        GpuRollup.add_to_class(f"{_name}_{_stat}", _field_class(null=True, blank=True))
    GpuRollup.add_to_class(f"{_name}_n", models.IntegerField(default=0))


class SeriesRollup(models.Model):
    ORG_LOOKUP = "series__organization"
    pk = models.CompositePrimaryKey("resolution", "series_id", "ts")
    resolution = models.SmallIntegerField(choices=Resolution.choices)
    series = models.ForeignKey(Series, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    ts = models.DateTimeField(help_text="Start of the bucket.")
    min = models.FloatField()
    max = models.FloatField()
    avg = models.FloatField()
    count = models.IntegerField()
    last = models.FloatField()
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["resolution", "series_id", "ts"]

    def __str__(self):
        return f"series {self.series_id} {self.get_resolution_display()} @ {self.ts:%Y-%m-%d %H:%M}"


HALL_ROLLUP_FIELDS = (
    "gpu_count",
    "gpu_util_avg",
    "gpu_power_w",
    "node_power_w",
    "it_power_w",
    "gpu_temp_max",
    "inlet_temp_max",
)


class HallRollup(models.Model):
    """Hall aggregates per bucket, what the dashboard and forecasts read: IT power (per node its measured
    input power, else the sum of its GPUs' power), GPU utilization, hottest inlet and GPU."""

    ORG_LOOKUP = "hall__site__organization"
    pk = models.CompositePrimaryKey("resolution", "hall_id", "ts")
    resolution = models.SmallIntegerField(choices=Resolution.choices)
    hall = models.ForeignKey(Hall, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    ts = models.DateTimeField(help_text="Start of the bucket.")
    gpu_count = models.IntegerField(default=0, help_text="GPUs that reported in the bucket.")
    gpu_util_avg = models.FloatField(null=True, blank=True)
    gpu_power_w = models.FloatField(null=True, blank=True, help_text="Sum of the GPUs' average power.")
    node_power_w = models.FloatField(null=True, blank=True, help_text="Sum of measured node input power.")
    it_power_w = models.FloatField(null=True, blank=True)
    gpu_temp_max = models.FloatField(null=True, blank=True)
    inlet_temp_max = models.FloatField(null=True, blank=True)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["resolution", "hall_id", "ts"]

    def __str__(self):
        return f"hall {self.hall_id} {self.get_resolution_display()} @ {self.ts:%Y-%m-%d %H:%M}"


class RollupWatermark(models.Model):
    """Up to where (exclusive) each rollup level is complete; a refresh recomputes from here minus a lag.
    One per level and organization (`level_60_org_3`), so that one organization's failing refresh keeps
    only its own watermark back; `error` says why it is failing, since `failing_since`."""

    name = models.CharField(max_length=40, primary_key=True)
    upto = models.DateTimeField()
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="rollup_watermarks"
    )
    error = models.TextField(blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name} < {self.upto:%Y-%m-%d %H:%M}"


class QuarantinedValue(models.Model):
    """A stored raw value outside the vocabulary's physical bounds (stored before the bounds held at ingest,
    or written around them), taken out of the samples so that rollups can go on: kept here with the reason,
    shown on the Sources page."""

    ORG_LOOKUP = "organization"
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="quarantined_values")
    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    series = models.ForeignKey("Series", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    ts = models.DateTimeField()
    metric = models.CharField(max_length=40)
    value = models.FloatField(null=True)
    reason = models.TextField()
    quarantined_at = models.DateTimeField(auto_now_add=True)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["-quarantined_at", "ts"]

    def __str__(self):
        return f"{self.metric} = {self.value} @ {self.ts:%Y-%m-%d %H:%M:%S}"
