"""The collector of kind "simulator": the organization's inventory as a Fleet, one round of readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telemetry.vocabulary import Batch

from .clock import EPOCH, seconds
from .faults import events_between
from .fleet import Fleet, SimGpu, SimHall, SimNode, SimRack, SimSite
from .model import run
from .readings import to_batch

EVENT_LOOKBACK = timedelta(hours=1)  # events of missed rounds are sent again; ingest drops the duplicates


def collect(source, now=None):
    """One round of simulated readings for the source's organization, at `now` floored to its interval."""
    now = now or datetime.now(UTC)
    step = timedelta(seconds=max(int(source.interval_s or 60), 1))
    at = EPOCH + (now - EPOCH) // step * step
    seed = int((source.options or {}).get("seed", 0))
    fleet = fleet_from_inventory(source.organization)
    if not fleet.sites:
        return Batch()
    sim = run(fleet, at, at + step, step, seed)
    batch = to_batch(sim)
    earlier = events_between(sim.gpus, seconds(at - EVENT_LOOKBACK), seconds(at), seed)
    batch.events.extend(earlier)
    return batch


def fleet_from_inventory(organization):
    """The organization's inventory as a Fleet (GPUs marked failed or retired do not report)."""
    from telemetry.models import CoolingUnit, Gpu, Hall, Pdu, Rack

    gpus = (
        Gpu.objects.for_org(organization)
        .exclude(status__in=["failed", "retired"])
        .select_related("model", "node__rack")
        .order_by("node__rack__hall_id", "node__rack__name", "node__hostname", "index")
    )
    by_node, node_rack = {}, {}
    for gpu in gpus:
        model = gpu.model
        by_node.setdefault(gpu.node.hostname, []).append(
            SimGpu(
                uuid=gpu.uuid,
                index=gpu.index,
                model=model.name,
                tdp_w=model.tdp_w,
                memory_bytes=int(model.memory_gb * 1024**3),
                hbm=not model.name.startswith(("L4", "RTX")),
            )
        )
        node_rack[gpu.node.hostname] = gpu.node.rack_id
    pdus = {}
    for rack_id, name in Pdu.objects.for_org(organization).order_by("name").values_list("rack_id", "name"):
        pdus.setdefault(rack_id, []).append(name)
    units = {}
    for hall_id, name in CoolingUnit.objects.for_org(organization).order_by("name").values_list("hall_id", "name"):
        units.setdefault(hall_id, []).append(name)
    racks = {}
    for rack in Rack.objects.for_org(organization).order_by("name"):
        nodes = tuple(
            SimNode(hostname, tuple(gs)) for hostname, gs in by_node.items() if node_rack[hostname] == rack.id
        )
        if nodes:
            racks.setdefault(rack.hall_id, []).append(
                SimRack(rack.name, rack.position or 0, nodes, tuple(pdus.get(rack.id, ())))
            )
    sites = {}
    for hall in Hall.objects.for_org(organization).select_related("site").order_by("site__name", "name"):
        if hall.id not in racks:
            continue
        sim_hall = SimHall(
            name=hall.name,
            cooling_type=hall.cooling_type,
            it_capacity_kw=hall.it_power_capacity_kw,
            cooling_capacity_kw=hall.cooling_capacity_kw,
            cooling_units=tuple(units.get(hall.id, ())),
            redundancy=hall.redundancy,
            floor_positions=hall.floor_positions,
            racks=tuple(racks[hall.id]),
        )
        site = hall.site
        sites.setdefault(site.name, (site, []))[1].append(sim_hall)
    return Fleet(
        tuple(
            SimSite(site.name, site.latitude if site.latitude is not None else 45.0, site.timezone, tuple(halls))
            for site, halls in sites.values()
        )
    )
