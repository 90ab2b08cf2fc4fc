"""A run's arrays (``Simulation``) and ``to_batch``, the same values as vocabulary readings for ingest."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from telemetry.vocabulary import Batch, GpuReading, PointReading


@dataclass
class Simulation:
    """Arrays over time (rows) and entities (columns); entity order is the fleet's order."""

    times: list  # datetimes
    gpus: list  # SimGpu
    gpu: dict  # metric -> (T, G) array; NaN where a GPU does not report
    alive: np.ndarray  # (T, G) bool
    nodes: list  # (site, hall, rack, node)
    node: dict  # metric -> (T, N)
    racks: list  # (hall, rack)
    rack: dict  # "rack_power" (T, R), "pdu_share_a" (R,)
    units: list  # (hall, unit name)
    unit: dict  # metric -> (T, U)
    halls: list  # (site, hall)
    hall: dict  # "it_power", "cooling_load", "gpu_util", "inlet_max" -> (T, H)
    sites: list
    site: dict  # "site_outdoor_temp", "facility_power" -> (T, S)
    events: list = field(default_factory=list)  # EventReading
    faults: list = field(default_factory=list)  # Fault (GPU positions index sim.gpus)


def to_batch(sim):
    """The readings of a Simulation as a Batch for telemetry.ingest (dead GPUs report nothing)."""
    batch = Batch()
    metrics = list(sim.gpu)
    columns = [sim.gpu[m] for m in metrics]
    for ti, ts in enumerate(sim.times):
        rows = [c[ti] for c in columns]
        for g in np.nonzero(sim.alive[ti])[0]:
            values = {m: float(row[g]) for m, row in zip(metrics, rows, strict=True) if not math.isnan(row[g])}
            batch.gpu_readings.append(GpuReading(sim.gpus[g].uuid, ts, values))
        points = batch.point_readings
        for n, (*_, node) in enumerate(sim.nodes):
            for metric, values in sim.node.items():
                points.append(PointReading("node", node.hostname, metric, ts, float(values[ti, n])))
        share_a = sim.rack["pdu_share_a"]
        for r, (_, rack) in enumerate(sim.racks):
            power = float(sim.rack["rack_power"][ti, r])
            points.append(PointReading("rack", rack.name, "rack_power", ts, power))
            for pdu, share in zip(rack.pdus, (share_a[r], 1 - share_a[r]), strict=False):
                points.append(PointReading("pdu", pdu, "pdu_power", ts, power * float(share)))
        for u, (_, name) in enumerate(sim.units):
            for metric, values in sim.unit.items():
                if not math.isnan(values[ti, u]):
                    points.append(PointReading("cooling", name, metric, ts, float(values[ti, u])))
        for s, site in enumerate(sim.sites):
            for metric, values in sim.site.items():
                points.append(PointReading("site", site.name, metric, ts, float(values[ti, s])))
    batch.events.extend(sim.events)
    return batch
