"""Simulated telemetry for the embedded demo: physically plausible GPU, node, rack, cooling and site readings.

`simulate(fleet, start, end, step, seed)` is the pure core (numpy, no Django): every value is a function of
the absolute time and the seed (counter-based hashing, no random state), so the same instant gives the same
reading whether it is produced in one long run for the demo history or one collection at a time, and the
demo history joins the live data without a seam. `collect(source)` is the collector of kind "simulator": it
loads the source's organization's fleet from the inventory and returns one round of readings.

Where things are (figures and why in docs/simulator.md)
    fleet.py      the layout: SimSite > SimHall > SimRack > SimNode > SimGpu, Fleet; floor_grid
    clock.py      seconds since the epoch, site UTC offsets
    noise.py      deterministic hashed noise (uniform, normal, smooth_noise, stable_key)
    workload.py   hall load (inference diurnal, training flat-high) and outdoor temperature
    faults.py     fault schedule at the base failure rate, precursor events, benign XIDs
    model.py      run(): power, temperatures, clocks, node/rack/cooling/site physics -> Simulation
    columns.py    grouping array columns (GPUs into nodes, nodes into halls)
    readings.py   Simulation and to_batch (vocabulary readings for ingest)
    collector.py  collect(source) and fleet_from_inventory(organization), the only parts that touch Django
"""

from .collector import collect, fleet_from_inventory
from .fleet import Fleet, SimGpu, SimHall, SimNode, SimRack, SimSite, floor_grid
from .model import run, simulate
from .readings import to_batch

__all__ = [
    "Fleet",
    "SimGpu",
    "SimHall",
    "SimNode",
    "SimRack",
    "SimSite",
    "collect",
    "fleet_from_inventory",
    "floor_grid",
    "run",
    "simulate",
    "to_batch",
]
