"""The fleet layout the simulator runs on: sites, halls, racks, nodes and GPUs (frozen, no Django)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SimGpu:
    uuid: str
    index: int
    model: str
    tdp_w: float
    memory_bytes: int
    hbm: bool = True  # GDDR boards (L40S, L4) report no memory temperature


@dataclass(frozen=True)
class SimNode:
    hostname: str
    gpus: tuple[SimGpu, ...]


@dataclass(frozen=True)
class SimRack:
    name: str
    position: int
    nodes: tuple[SimNode, ...]
    pdus: tuple[str, ...] = ()


@dataclass(frozen=True)
class SimHall:
    name: str
    cooling_type: str  # air | liquid | hybrid
    it_capacity_kw: float
    cooling_capacity_kw: float
    cooling_units: tuple[str, ...]
    redundancy: str  # N | N+1 | 2N
    floor_positions: int
    racks: tuple[SimRack, ...]

    @property
    def workload(self):
        """Liquid-cooled halls host training (flat, high); air-cooled halls serve inference (diurnal)."""
        return "training" if self.cooling_type == "liquid" else "inference"

    @property
    def available_cooling_kw(self):
        """Cooling that remains with the redundant units out (N+1: one unit down; 2N: half)."""
        units = max(len(self.cooling_units), 1)
        usable = {"N": units, "N+1": max(units - 1, 1), "2N": max(units / 2, 1)}.get(self.redundancy, units)
        return self.cooling_capacity_kw * usable / units


@dataclass(frozen=True)
class SimSite:
    name: str
    latitude: float
    timezone: str
    halls: tuple[SimHall, ...]


@dataclass(frozen=True)
class Fleet:
    sites: tuple[SimSite, ...]

    def halls(self):
        return [(site, hall) for site in self.sites for hall in site.halls]

    def nodes(self):
        return [(site, hall, rack, node) for site, hall in self.halls() for rack in hall.racks for node in rack.nodes]

    def gpus(self):
        return [gpu for *_, node in self.nodes() for gpu in node.gpus]


def floor_grid(positions):
    """(rows, racks per row) of a hall's floor: rows of up to 8 positions."""
    per_row = max(1, min(8, positions))
    return math.ceil(positions / per_row), per_row
