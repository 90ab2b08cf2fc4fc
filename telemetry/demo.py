"""The demo organization: two sites, three halls, 48 racks, 272 nodes, 2,176 GPUs of mixed models.

Deterministic (names, UUIDs, serials derive from positions), so seeding twice changes nothing.
"""

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from .models import (
    CoolingUnit,
    Gpu,
    GpuModel,
    Hall,
    Membership,
    Node,
    Organization,
    Pdu,
    Rack,
    Site,
)

DEMO_ORG = "Demo AI Cloud"
DEMO_PASSWORD = "headroom-demo"
DEMO_USERS = (("admin", "admin"), ("planner", "planner"), ("viewer", "viewer"))
UUID_NAMESPACE = uuid.UUID("6b1f4a52-8d0e-4c55-9a43-3f0d2f7c9e10")


@dataclass(frozen=True)
class RackGroup:
    gpu_model: str
    racks: int
    nodes_per_rack: int
    vendor_model: str
    purchase_date: date
    rack_budget_kw: float


@dataclass(frozen=True)
class HallPlan:
    site: str
    name: str
    it_power_capacity_kw: float
    cooling_type: str
    redundancy: str
    cooling_kind: str
    cooling_units: int
    cooling_unit_kw: float
    floor_positions: int
    groups: tuple


SITES = {
    "Ashburn": {
        "location": "Ashburn, VA, USA",
        "timezone": "America/New_York",
        "electricity_price_usd_per_kwh": "0.0750",
        "latitude": 39.04,
        "longitude": -77.49,
    },
    "Frankfurt": {
        "location": "Frankfurt am Main, DE",
        "timezone": "Europe/Berlin",
        "electricity_price_usd_per_kwh": "0.1600",
        "latitude": 50.11,
        "longitude": 8.68,
    },
}

HALLS = (
    HallPlan(
        "Ashburn",
        "A1",
        1100,
        "air",
        "N+1",
        "CRAH",
        5,
        280,
        24,
        (RackGroup("H100 SXM 80GB", 20, 4, "HGX H100 8-GPU", date(2023, 9, 1), 45),),
    ),
    HallPlan(
        "Ashburn",
        "L2",
        1500,
        "liquid",
        "N+1",
        "CDU",
        4,
        550,
        16,
        (
            RackGroup("H200 SXM 141GB", 6, 8, "HGX H200 8-GPU", date(2024, 11, 1), 95),
            RackGroup("B200 180GB", 6, 8, "HGX B200 8-GPU", date(2025, 6, 1), 130),
        ),
    ),
    HallPlan(
        "Frankfurt",
        "F1",
        650,
        "air",
        "N+1",
        "CRAH",
        5,
        170,
        20,
        (
            RackGroup("A100 SXM 80GB", 6, 6, "HGX A100 8-GPU", date(2022, 3, 1), 35),
            RackGroup("L40S", 6, 6, "L40S 8-GPU PCIe server", date(2024, 2, 1), 30),
            RackGroup("L4", 4, 6, "L4 8-GPU PCIe server", date(2024, 6, 1), 12),
        ),
    ),
)


def gpu_uuid(hostname, index):
    return f"GPU-{uuid.uuid5(UUID_NAMESPACE, f'{hostname}/{index}')}"


def rack_plan():
    """Yield (hall plan, rack group, rack number within hall) for every demo rack."""
    for hall in HALLS:
        number = 0
        for group in hall.groups:
            for _ in range(group.racks):
                number += 1
                yield hall, group, number


def seed_inventory(progress=lambda iterable, **kw: iterable):
    """Create (or complete) the demo organization; returns it. Safe to run repeatedly."""
    org, _ = Organization.objects.get_or_create(slug="demo", defaults={"name": DEMO_ORG})
    sites = {
        name: Site.objects.get_or_create(organization=org, name=name, defaults=attrs)[0]
        for name, attrs in SITES.items()
    }
    halls = {}
    for plan in HALLS:
        hall, _ = Hall.objects.get_or_create(
            site=sites[plan.site],
            name=plan.name,
            defaults={
                "it_power_capacity_kw": plan.it_power_capacity_kw,
                "cooling_capacity_kw": plan.cooling_units * plan.cooling_unit_kw,
                "redundancy": plan.redundancy,
                "cooling_type": plan.cooling_type,
                "floor_positions": plan.floor_positions,
            },
        )
        for i in range(1, plan.cooling_units + 1):
            CoolingUnit.objects.get_or_create(
                hall=hall,
                name=f"{plan.name}-{plan.cooling_kind}-{i}",
                defaults={"kind": plan.cooling_kind, "capacity_kw": plan.cooling_unit_kw},
            )
        halls[plan.name] = hall
    models = {m.name: m for m in GpuModel.objects.effective_for(org)}
    for plan, group, number in progress(list(rack_plan()), desc="racks", unit="rack"):
        _seed_rack(halls[plan.name], group, number, models[group.gpu_model])
    _seed_users(org)
    return org


@transaction.atomic
def _seed_rack(hall, group, number, gpu_model):
    rack, _ = Rack.objects.get_or_create(
        hall=hall,
        name=f"{hall.name}-R{number:02d}",
        defaults={"position": number, "power_budget_kw": group.rack_budget_kw},
    )
    for feed in ("A", "B"):
        Pdu.objects.get_or_create(
            rack=rack,
            name=f"{rack.name}-PDU-{feed}",
            defaults={"outlets": 24, "rated_kw": group.rack_budget_kw / 2 * 1.25},
        )
    hostnames = [f"{rack.name.lower()}-n{n:02d}" for n in range(1, group.nodes_per_rack + 1)]
    price = gpu_model.list_price_usd * 8 if gpu_model.list_price_usd else None
    Node.objects.bulk_create(
        [
            Node(
                rack=rack,
                hostname=h,
                vendor_model=group.vendor_model,
                purchase_date=group.purchase_date,
                purchase_price_usd=price,
                bmc_address=f"https://bmc-{h}.demo.invalid",
            )
            for h in hostnames
        ],
        ignore_conflicts=True,
    )
    install = group.purchase_date + timedelta(days=30)
    gpus = [
        Gpu(
            node_id=node_id,
            index=i,
            uuid=gpu_uuid(hostname, i),
            model=gpu_model,
            install_date=install,
            serial=_serial(hostname, i),
        )
        for hostname, node_id in rack.nodes.values_list("hostname", "id")
        for i in range(8)
    ]
    Gpu.objects.bulk_create(gpus, ignore_conflicts=True)


def _serial(hostname, index):
    return str(uuid.uuid5(UUID_NAMESPACE, f"serial/{hostname}/{index}").int)[:13]


def _seed_users(org):
    User = get_user_model()
    for username, role in DEMO_USERS:
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": role == "admin"})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        Membership.objects.get_or_create(user=user, defaults={"organization": org})
        user.groups.add(Group.objects.get(name=role))
