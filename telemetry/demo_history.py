"""Weeks of simulated history for the demo organization, so forecasts, risk scores and charts have data
from the first page view, and a simulator Source that keeps live data flowing through Celery -> ingest.

Spans (H = the start of the current hour):
- [H - weeks, H - 26 h) hourly: hall rollups, site/cooling/rack series, node series for the last 7 days,
  and the GPUs that degrade or fail (their signals and events); written by telemetry.backfill.
- [H - 26 h, R) every 2 minutes: the same at 1-minute, 5-minute and hourly resolution (node series hourly).
- [R, now], R = the 5-minute boundary 20 minutes back: every minute for every GPU and entity, through
  telemetry.ingest, then rolled up by telemetry.rollups: the raw data live collection continues from.
"""

import logging
import time
from datetime import UTC, datetime, timedelta

from . import backfill, rollups
from .collectors import simulator
from .ingest import ingest
from .models import HallRollup, Resolution, Source

log = logging.getLogger(__name__)

SOURCE_NAME = "Demo simulator"
HOURLY_CHUNK = timedelta(days=7)
MINUTE_SPAN = timedelta(hours=26)
MINUTE_STEP = timedelta(minutes=2)
RAW_SPAN = timedelta(minutes=20)  # the last 20 minutes (from a 5-minute boundary) as raw 1-minute samples
NODE_HISTORY = timedelta(days=2)  # node series (the heatmap) and rack power, hourly


def simulator_source(organization, seed=0):
    source, _ = Source.objects.get_or_create(
        organization=organization,
        name=SOURCE_NAME,
        defaults={
            "kind": Source.Kind.SIMULATOR,
            "interval_s": 60,
            "timeout_s": 30,
            "options": {"seed": seed},
            "endpoint": "simulated demo fleet",
        },
    )
    return source


def point_columns(sim, *, nodes=False):
    """{(entity_kind, entity, metric): values over sim.times} for site, cooling, rack (and node) series."""
    columns = {}
    for s, site in enumerate(sim.sites):
        for metric, values in sim.site.items():
            columns[("site", site.name, metric)] = values[:, s]
    for u, (_, name) in enumerate(sim.units):
        for metric, values in sim.unit.items():
            if not all(v != v for v in values[:, u]):  # flow exists only for liquid cooling
                columns[("cooling", name, metric)] = values[:, u]
    if nodes:
        for r, (_, rack) in enumerate(sim.racks):
            columns[("rack", rack.name, "rack_power")] = sim.rack["rack_power"][:, r]
        for n, (*_, node) in enumerate(sim.nodes):
            for metric in ("node_power", "node_inlet_temp"):
                columns[("node", node.hostname, metric)] = sim.node[metric][:, n]
    return columns


def faulty_columns(sim):
    """Positions in sim.gpus of the GPUs with a fault in the simulated span."""
    return sorted({f.gpu for f in sim.faults})


def seed_history(organization, *, now=None, weeks=10, seed=0, echo=lambda message: None):
    """Fill the demo organization's history up to `now`; returns counts of what was written."""
    started = time.monotonic()
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    hour = rollups.floor(now, 3600)
    raw_start = rollups.floor(now - RAW_SPAN, 300)
    minute_start, hour_start = hour - MINUTE_SPAN, hour - timedelta(weeks=weeks)
    source = simulator_source(organization, seed)
    fleet = simulator.fleet_from_inventory(organization)
    gpu_ids = backfill.gpu_ids_of(organization)
    counts = {"hall_rollups": 0, "series_rollups": 0, "gpu_rollups": 0, "events": 0, "raw": 0}
    hall_ids = None
    HOUR, FIVE, MINUTE = Resolution.HOUR, Resolution.FIVE_MINUTES, Resolution.MINUTE

    chunk_start = hour_start
    while chunk_start < minute_start:
        chunk_end = min(chunk_start + HOURLY_CHUNK, minute_start)
        sim = simulator.run(fleet, chunk_start, chunk_end, timedelta(hours=1), seed)
        hall_ids = hall_ids or backfill.hall_ids_of(organization, sim)
        counts["hall_rollups"] += backfill.write_hall_rollups(sim, hall_ids, HOUR)
        with_nodes = chunk_end > hour - NODE_HISTORY
        counts["series_rollups"] += backfill.write_series_rollups(
            organization, sim.times, point_columns(sim, nodes=with_nodes), [HOUR]
        )
        counts["gpu_rollups"] += backfill.write_gpu_rollups(sim, gpu_ids, faulty_columns(sim), [HOUR])
        counts["events"] += backfill.write_events(organization, sim.events, gpu_ids)
        echo(f"history {chunk_start:%Y-%m-%d} .. {chunk_end:%Y-%m-%d} hourly ({time.monotonic() - started:.0f} s)")
        chunk_start = chunk_end

    sim = simulator.run(fleet, minute_start, raw_start, MINUTE_STEP, seed)
    hall_ids = hall_ids or backfill.hall_ids_of(organization, sim)
    for resolution in (MINUTE, FIVE, HOUR):
        counts["hall_rollups"] += backfill.write_hall_rollups(sim, hall_ids, resolution)
    columns = point_columns(sim, nodes=True)
    fine = {k: v for k, v in columns.items() if k[0] != "node"}
    counts["series_rollups"] += backfill.write_series_rollups(organization, sim.times, fine, [MINUTE, FIVE, HOUR])
    nodes = {k: v for k, v in columns.items() if k[0] == "node"}
    counts["series_rollups"] += backfill.write_series_rollups(organization, sim.times, nodes, [HOUR])
    faulty = faulty_columns(sim)
    counts["gpu_rollups"] += backfill.write_gpu_rollups(sim, gpu_ids, faulty, [MINUTE, FIVE, HOUR])
    # Every GPU's last day hourly, for the GPUs page's fleet heatmap (finer levels stay with the faulty ones).
    healthy = sorted(set(range(len(sim.gpus))) - set(faulty))
    counts["gpu_rollups"] += backfill.write_gpu_rollups(sim, gpu_ids, healthy, [HOUR])
    counts["events"] += backfill.write_events(organization, sim.events, gpu_ids)
    echo(f"history of the last day every {MINUTE_STEP.seconds // 60} min ({time.monotonic() - started:.0f} s)")

    sim = simulator.run(fleet, raw_start, now + timedelta(minutes=1), timedelta(minutes=1), seed)
    result = ingest(source, simulator.to_batch(sim), now=now)
    if result.rejected:
        raise RuntimeError(f"demo history rejected by ingest: {result.errors[:3]}")
    counts["raw"] = result.accepted
    echo(f"raw data since {raw_start:%H:%M} through ingest ({time.monotonic() - started:.0f} s)")
    for resolution in rollups.LEVELS:
        rollups.rollup_range(resolution, raw_start, now + timedelta(minutes=1))
    backfill.mark_rollups_complete(now)
    echo(f"rolled up ({time.monotonic() - started:.0f} s)")
    log.info("demo history written in %.1f s: %s", time.monotonic() - started, counts)
    return counts


def seed_history_if_empty(organization, **options):
    """seed_history unless the organization has hall history already (seed_demo stays idempotent)."""
    if HallRollup.objects.for_org(organization).exists():
        simulator_source(organization, options.get("seed", 0))
        return None
    return seed_history(organization, **options)
