from django.core.management import call_command

from telemetry.models import Gpu, Hall, Node, Organization, Rack, Site


def counts():
    return [m.objects.count() for m in (Organization, Site, Hall, Rack, Node, Gpu)]


def test_seed_demo_builds_the_fleet_and_is_idempotent(db):
    call_command("seed_demo")
    first = counts()
    orgs, sites, halls, racks, nodes, gpus = first
    assert (orgs, sites, halls) == (1, 2, 3)
    assert racks >= 40 and nodes >= 256 and gpus >= 2048
    assert Gpu.objects.values("model").distinct().count() >= 4
    call_command("seed_demo")
    assert counts() == first
