"""A small fixture world: two organizations, each with a site, hall, rack, node, GPU and users per role."""

from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from telemetry.models import ApiToken, Gpu, GpuModel, Hall, Membership, Node, Organization, Rack, Site

PASSWORD = "pw-for-tests-0"


def make_user(username, organization, role):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    Membership.objects.create(user=user, organization=organization)
    user.groups.add(Group.objects.get(name=role))
    return user


def build_site(organization, name, timezone="Europe/Berlin", it_kw=500, cooling_kw=600, uuid_group="0000"):
    """A site with one hall, rack, node and H100 named after `name`."""
    site = Site.objects.create(organization=organization, name=f"{name}-site", timezone=timezone)
    hall = Hall.objects.create(
        site=site, name=f"{name}-hall", it_power_capacity_kw=it_kw, cooling_capacity_kw=cooling_kw
    )
    rack = Rack.objects.create(hall=hall, name=f"{name}-r1", power_budget_kw=40)
    node = Node.objects.create(rack=rack, hostname=f"{name}-n1")
    gpu = Gpu.objects.create(
        node=node,
        index=0,
        uuid=f"GPU-{abs(hash(name)) % 10**8:08d}-{uuid_group}-0000-0000-000000000000",
        model=GpuModel.objects.get(name="H100 SXM 80GB"),
    )
    return SimpleNamespace(site=site, hall=hall, rack=rack, node=node, gpu=gpu)


def build_org(slug):
    org = Organization.objects.create(name=f"Org {slug}", slug=slug)
    place = build_site(org, slug)
    users = {role: make_user(f"{slug}-{role}", org, role) for role in ("viewer", "planner", "admin")}
    return SimpleNamespace(
        org=org,
        **vars(place),
        users=users,
        tokens={role: ApiToken.issue(user=u)[1] for role, u in users.items()},
    )


def build_world():
    return SimpleNamespace(a=build_org("alpha"), b=build_org("beta"))


def three_gpus(a, uuid_group):
    """Organization namespace `a`'s GPU, a second on its node and one on a second node of its rack."""
    other = Node.objects.create(rack=a.rack, hostname=f"{a.node.hostname}-2")
    uuid = "GPU-{:08d}-" + uuid_group + "-2222-3333-444444444444"
    return [
        a.gpu,
        Gpu.objects.create(node=a.node, index=1, uuid=uuid.format(1), model=a.gpu.model),
        Gpu.objects.create(node=other, index=0, uuid=uuid.format(2), model=a.gpu.model),
    ]
