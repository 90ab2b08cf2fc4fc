"""A small fixture world: two organizations, each with a site, hall, rack, node, GPU and users per role."""

from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from telemetry.models import Gpu, GpuModel, Hall, Membership, Node, Organization, Rack, Site

PASSWORD = "pw-for-tests-0"


def make_user(username, organization, role):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    Membership.objects.create(user=user, organization=organization)
    user.groups.add(Group.objects.get(name=role))
    return user


def build_org(slug):
    org = Organization.objects.create(name=f"Org {slug}", slug=slug)
    site = Site.objects.create(organization=org, name=f"{slug}-site", timezone="Europe/Berlin")
    hall = Hall.objects.create(site=site, name=f"{slug}-hall", it_power_capacity_kw=500, cooling_capacity_kw=600)
    rack = Rack.objects.create(hall=hall, name=f"{slug}-r1", power_budget_kw=40)
    node = Node.objects.create(rack=rack, hostname=f"{slug}-n1")
    gpu = Gpu.objects.create(
        node=node,
        index=0,
        uuid=f"GPU-{abs(hash(slug)) % 10**8:08d}-0000-0000-0000-000000000000",
        model=GpuModel.objects.get(name="H100 SXM 80GB"),
    )
    users = {role: make_user(f"{slug}-{role}", org, role) for role in ("viewer", "planner", "admin")}
    return SimpleNamespace(
        org=org,
        site=site,
        hall=hall,
        rack=rack,
        node=node,
        gpu=gpu,
        users=users,
        tokens={role: Token.objects.create(user=u).key for role, u in users.items()},
    )


def build_world():
    return SimpleNamespace(a=build_org("alpha"), b=build_org("beta"))
