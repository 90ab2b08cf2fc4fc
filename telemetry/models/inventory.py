"""Fleet inventory: Site -> Hall -> Rack -> Node -> Gpu, plus cooling units and PDUs.

Names follow NetBox (Site, Location=Hall, Rack, Device=Node, PowerFeed=Pdu) so a later sync is a mapping.
"""

import zoneinfo
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from ..vocabulary import GPU_METRICS, POINT_METRICS
from .tenancy import CatalogQuerySet, Organization, OrgQuerySet, catalog_owner

# Physical bounds of inventory figures, matching the telemetry vocabulary's (a rack's power as rack_power, a
# hall's and a cooling unit's as facility power): a capacity of 1e150 kW is a typo, and it would overflow sums.
MAX_RACK_KW = POINT_METRICS["rack_power"].high / 1000
MAX_FACILITY_KW = 1e6  # 1 GW
MAX_POSITIONS = 100_000


def at_most(high):
    return MaxValueValidator(high, f"Must be at most {high:g}; larger is not physically possible here.")


non_negative = MinValueValidator(0)
positive = MinValueValidator(0.001)
gpu_uuid_validator = RegexValidator(
    r"^GPU-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    "Enter an NVML GPU UUID such as GPU-1a2b3c4d-0000-1111-2222-333344445555.",
)


def validate_timezone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA timezone (e.g. Europe/Berlin).")


class Site(models.Model):
    ORG_LOOKUP = "organization"
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=120)
    location = models.CharField(max_length=200, blank=True, help_text="City, region or address.")
    latitude = models.FloatField(null=True, blank=True, validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(null=True, blank=True, validators=[MinValueValidator(-180), MaxValueValidator(180)])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    electricity_price_usd_per_kwh = models.DecimalField(
        "electricity price (USD/kWh)",
        max_digits=8,
        decimal_places=4,
        default=Decimal("0.08"),
        validators=[non_negative],
    )
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="site_name_per_org",
                violation_error_message="A site with this name already exists in the organization.",
            )
        ]

    def __str__(self):
        return self.name


class Hall(models.Model):
    """A data hall (NetBox Location) with its power and cooling envelope."""

    ORG_LOOKUP = "site__organization"

    class Redundancy(models.TextChoices):
        N = "N", "N"
        N_PLUS_1 = "N+1", "N+1"
        TWO_N = "2N", "2N"

    class CoolingType(models.TextChoices):
        AIR = "air", "air"
        LIQUID = "liquid", "liquid"
        HYBRID = "hybrid", "hybrid"

    class AshraeClass(models.TextChoices):
        A1 = "A1", "A1 (15-32 °C)"
        A2 = "A2", "A2 (10-35 °C)"
        A3 = "A3", "A3 (5-40 °C)"
        A4 = "A4", "A4 (5-45 °C)"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="halls")
    name = models.CharField(max_length=120)
    it_power_capacity_kw = models.FloatField("IT power capacity (kW)", validators=[positive, at_most(MAX_FACILITY_KW)])
    cooling_capacity_kw = models.FloatField(
        "cooling capacity (kW)",
        validators=[positive, at_most(MAX_FACILITY_KW)],
        help_text="Installed cooling, all units together.",
    )
    redundancy = models.CharField(max_length=4, choices=Redundancy.choices, default=Redundancy.N_PLUS_1)
    cooling_type = models.CharField(max_length=8, choices=CoolingType.choices, default=CoolingType.AIR)
    ashrae_class = models.CharField("ASHRAE class", max_length=2, choices=AshraeClass.choices, default="A1")
    floor_positions = models.PositiveIntegerField(
        default=0, validators=[at_most(MAX_POSITIONS)], help_text="Rack positions on the floor (0 = not tracked)."
    )
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "name"],
                name="hall_name_per_site",
                violation_error_message="A hall with this name already exists at this site.",
            )
        ]

    def __str__(self):
        return f"{self.site.name} / {self.name}"


class Rack(models.Model):
    ORG_LOOKUP = "hall__site__organization"
    hall = models.ForeignKey(Hall, on_delete=models.CASCADE, related_name="racks")
    name = models.CharField(max_length=60)
    position = models.PositiveIntegerField(
        null=True, blank=True, validators=[at_most(MAX_POSITIONS)], help_text="Floor position in the hall."
    )
    power_budget_kw = models.FloatField("power budget (kW)", validators=[positive, at_most(MAX_RACK_KW)])
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["hall__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["hall", "name"],
                name="rack_name_per_hall",
                violation_error_message="A rack with this name already exists in this hall.",
            )
        ]

    def __str__(self):
        return self.name

    def clean(self):
        hall = getattr(self, "hall", None)
        if hall and hall.floor_positions and self.position and self.position > hall.floor_positions:
            raise ValidationError(
                {"position": f"Hall {hall.name} has {hall.floor_positions} positions; got {self.position}."}
            )


class Node(models.Model):
    """A GPU server (NetBox Device)."""

    ORG_LOOKUP = "rack__hall__site__organization"
    rack = models.ForeignKey(Rack, on_delete=models.CASCADE, related_name="nodes")
    hostname = models.CharField(
        max_length=253,
        validators=[RegexValidator(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", "Enter a valid hostname.")],
    )
    vendor_model = models.CharField(max_length=120, blank=True, help_text="e.g. Dell XE9680, HGX H100 8-GPU.")
    bmc_address = models.CharField(
        "BMC address", max_length=255, blank=True, help_text="Redfish base URL or host of the BMC."
    )
    purchase_date = models.DateField(null=True, blank=True)
    purchase_price_usd = models.DecimalField(
        "purchase price (USD)", max_digits=12, decimal_places=2, null=True, blank=True, validators=[non_negative]
    )
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["hostname"]
        constraints = [
            models.UniqueConstraint(
                fields=["rack", "hostname"],
                name="hostname_per_rack",
                violation_error_message="A node with this hostname already exists in this rack.",
            )
        ]

    def __str__(self):
        return self.hostname


class GpuModel(models.Model):
    """Catalog of GPU models with published specs (dense tensor figures): shared rows (no organization) that
    only superusers edit, plus an organization's own rows, seen only by it; one named like a shared row
    overrides it for that organization."""

    ORG_LOOKUP = "organization"
    CATALOG_IDENTITY = ("name",)

    organization = catalog_owner("gpu_models")
    name = models.CharField(max_length=60)
    memory_gb = models.FloatField("HBM (GB)", validators=[positive, at_most(4096)])
    memory_bandwidth_tbps = models.FloatField("memory bandwidth (TB/s)", validators=[positive, at_most(1000)])
    bf16_tflops = models.FloatField("dense BF16 (TFLOP/s)", validators=[positive, at_most(1e6)])
    fp8_tflops = models.FloatField("dense FP8 (TFLOP/s)", null=True, blank=True, validators=[positive, at_most(1e6)])
    tdp_w = models.FloatField("TDP (W)", validators=[positive, at_most(GPU_METRICS["gpu_power"].high)])
    form_factor = models.CharField(max_length=40, blank=True)
    list_price_usd = models.DecimalField(
        "list price (USD)", max_digits=10, decimal_places=2, null=True, blank=True, validators=[non_negative]
    )
    source = models.TextField(blank=True, help_text="Where the figures come from.")
    objects = CatalogQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(organization__isnull=True),
                name="gpu_model_name_shared",
                violation_error_message="The shared catalog already has a GPU model with this name.",
            ),
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="gpu_model_name_per_org",
                violation_error_message="Your organization already has a GPU model with this name.",
            ),
        ]

    def __str__(self):
        return self.name


class Gpu(models.Model):
    ORG_LOOKUP = "node__rack__hall__site__organization"

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        DEGRADED = "degraded", "degraded"
        FAILED = "failed", "failed"
        RETIRED = "retired", "retired"

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="gpus")
    index = models.PositiveSmallIntegerField(validators=[MaxValueValidator(63)])
    uuid = models.CharField("UUID", max_length=40, unique=True, validators=[gpu_uuid_validator])
    serial = models.CharField(max_length=40, blank=True)
    model = models.ForeignKey(GpuModel, on_delete=models.PROTECT, related_name="gpus")
    install_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["node__hostname", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["node", "index"],
                name="gpu_index_per_node",
                violation_error_message="This node already has a GPU at this index.",
            )
        ]

    def __str__(self):
        return f"{self.node.hostname}/gpu{self.index}"


class CoolingUnit(models.Model):
    """A CRAH/CRAC/CDU/chiller serving a hall (NetBox has no direct peer; closest is a power/cooling source)."""

    ORG_LOOKUP = "hall__site__organization"

    class Kind(models.TextChoices):
        CRAH = "CRAH", "CRAH"
        CRAC = "CRAC", "CRAC"
        CDU = "CDU", "CDU"
        CHILLER = "chiller", "chiller"

    hall = models.ForeignKey(Hall, on_delete=models.CASCADE, related_name="cooling_units")
    name = models.CharField(max_length=60)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    capacity_kw = models.FloatField("capacity (kW)", validators=[positive, at_most(MAX_FACILITY_KW)])
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["hall", "name"],
                name="cooling_unit_name_per_hall",
                violation_error_message="A cooling unit with this name already exists in this hall.",
            )
        ]

    def __str__(self):
        return self.name


class Pdu(models.Model):
    """A rack PDU (NetBox PowerFeed/PowerPort side)."""

    ORG_LOOKUP = "rack__hall__site__organization"
    rack = models.ForeignKey(Rack, on_delete=models.CASCADE, related_name="pdus")
    name = models.CharField(max_length=60)
    outlets = models.PositiveSmallIntegerField(default=24, validators=[MaxValueValidator(96)])
    rated_kw = models.FloatField("rated power (kW)", validators=[positive, at_most(MAX_RACK_KW)])
    address = models.CharField(max_length=255, blank=True, help_text="SNMP or Redfish address of the PDU.")
    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["rack", "name"],
                name="pdu_name_per_rack",
                violation_error_message="A PDU with this name already exists in this rack.",
            )
        ]

    def __str__(self):
        return self.name
