"""A second site for an organization of the fixture world (tests.base), in another timezone, so the
dashboard's site/hall filters have something to leave out; and a helper reading a page without its filter bar."""

import re
from types import SimpleNamespace

from telemetry.models import Gpu, GpuModel, Hall, Node, Rack, Site

FILTER_BAR = re.compile(r'<form class="filters" method="get".*?</form>', re.S)


def add_site(organization, name="west", timezone="America/New_York"):
    site = Site.objects.create(organization=organization, name=f"{name}-site", timezone=timezone)
    hall = Hall.objects.create(site=site, name=f"{name}-hall", it_power_capacity_kw=400, cooling_capacity_kw=450)
    rack = Rack.objects.create(hall=hall, name=f"{name}-r1", power_budget_kw=40)
    node = Node.objects.create(rack=rack, hostname=f"{name}-n1")
    gpu = Gpu.objects.create(
        node=node,
        index=0,
        uuid=f"GPU-{abs(hash(name)) % 10**8:08d}-1111-0000-0000-000000000000",
        model=GpuModel.objects.get(name="H100 SXM 80GB"),
    )
    return SimpleNamespace(site=site, hall=hall, rack=rack, node=node, gpu=gpu)


def shown(response):
    """The page's HTML without the filter bar (whose site and hall menus name every hall)."""
    assert response.status_code == 200, response.status_code
    return FILTER_BAR.sub("", response.content.decode())
