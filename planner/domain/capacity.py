"""Hall runway: when planned GPU growth exhausts a hall's power, cooling or rack space, and
what placing N more GPUs does. 1 kW of IT load is 1 kW of heat for the cooling plant."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from reference.catalog import InvalidInputError, check_non_negative, check_positive


class Redundancy(Enum):
    N = "N"  # every unit carries load
    N_PLUS_1 = "N+1"  # capacity with one unit down
    TWO_N = "2N"  # two full systems; one carries the load

    def usable_kw(self, units: int, unit_kw: float) -> float:
        """Capacity in kW that survives the failure this redundancy level is designed for."""
        if self is Redundancy.N_PLUS_1 and units < 2:
            raise InvalidInputError(f"N+1 needs at least 2 units, got {units}")
        return {Redundancy.N: units, Redundancy.N_PLUS_1: units - 1, Redundancy.TWO_N: units / 2}[self] * unit_kw


@dataclass(frozen=True)
class Hall:
    name: str
    it_load_kw: float  # measured, or nameplate where nothing is measured
    cooling_load_kw: float  # measured heat removed; IT load when not measured
    power_units: int  # UPS/PDU feeds
    power_unit_kw: float
    power_redundancy: Redundancy
    cooling_units: int  # CRAH/CDU units
    cooling_unit_kw: float
    cooling_redundancy: Redundancy
    rack_positions: int
    rack_positions_used: int

    def __post_init__(self) -> None:
        for f in ("it_load_kw", "cooling_load_kw", "rack_positions_used"):
            check_non_negative(f"hall {self.name}: {f}", getattr(self, f))
        for f in ("power_units", "power_unit_kw", "cooling_units", "cooling_unit_kw", "rack_positions"):
            check_positive(f"hall {self.name}: {f}", getattr(self, f))

    @property
    def power_capacity_kw(self) -> float:
        return self.power_redundancy.usable_kw(self.power_units, self.power_unit_kw)

    @property
    def cooling_capacity_kw(self) -> float:
        return self.cooling_redundancy.usable_kw(self.cooling_units, self.cooling_unit_kw)


@dataclass(frozen=True)
class GrowthPlan:
    gpus_added_by_month: tuple[int, ...]
    kw_per_gpu: float  # IT kW per GPU incl. its share of the server
    gpus_per_rack: int

    def __post_init__(self) -> None:
        if not self.gpus_added_by_month:
            raise InvalidInputError("gpus_added_by_month must cover at least one month")
        for n in self.gpus_added_by_month:
            check_non_negative("gpus_added_by_month", n)
        check_positive("kw_per_gpu", self.kw_per_gpu)
        check_positive("gpus_per_rack", self.gpus_per_rack)


@dataclass(frozen=True)
class Runway:
    """Month (1-based) in which a resource is first exceeded; 0 = already exceeded now,
    None = lasts the horizon."""

    hall: str
    power_month: int | None
    cooling_month: int | None
    space_month: int | None
    power_headroom_kw: tuple[float, ...]  # at the end of each month
    cooling_headroom_kw: tuple[float, ...]
    racks_free: tuple[int, ...]

    @property
    def first_limit(self) -> tuple[str, int] | None:
        """(resource, month) of the binding constraint, or None."""
        hits = [
            (m, r)
            for r, m in (("power", self.power_month), ("cooling", self.cooling_month), ("space", self.space_month))
            if m is not None
        ]
        return (min(hits)[1], min(hits)[0]) if hits else None


def _first_month(headroom: np.ndarray, now: float) -> int | None:
    if now < 0:
        return 0
    over = np.flatnonzero(headroom < 0)
    return int(over[0]) + 1 if over.size else None


def runway(hall: Hall, plan: GrowthPlan) -> Runway:
    """Power, cooling (kW) and rack-space runway of one hall taking all of the plan's GPUs."""
    gpus = np.cumsum(plan.gpus_added_by_month)
    kw = gpus * plan.kw_per_gpu
    power = hall.power_capacity_kw - hall.it_load_kw - kw
    cooling = hall.cooling_capacity_kw - hall.cooling_load_kw - kw
    racks = hall.rack_positions - hall.rack_positions_used - np.ceil(gpus / plan.gpus_per_rack)
    return Runway(
        hall=hall.name,
        power_month=_first_month(power, hall.power_capacity_kw - hall.it_load_kw),
        cooling_month=_first_month(cooling, hall.cooling_capacity_kw - hall.cooling_load_kw),
        space_month=_first_month(racks, hall.rack_positions - hall.rack_positions_used),
        power_headroom_kw=tuple(power.tolist()),
        cooling_headroom_kw=tuple(cooling.tolist()),
        racks_free=tuple(int(r) for r in racks),
    )


def runway_by_hall(halls: Sequence[Hall], plan: GrowthPlan) -> tuple[Runway, ...]:
    """Runway of each hall as if it alone took the plan's growth."""
    return tuple(runway(h, plan) for h in halls)


@dataclass(frozen=True)
class Placement:
    hall_after: Hall
    fits_now: bool
    exceeded: tuple[str, ...]  # resources the placement overruns
    before: Runway
    after: Runway


def place_gpus(hall: Hall, gpus: int, plan: GrowthPlan) -> Placement:
    """Effect of installing `gpus` more GPUs (kW and rack density from the plan) now."""
    check_positive("gpus", gpus)
    kw = gpus * plan.kw_per_gpu
    racks = math.ceil(gpus / plan.gpus_per_rack)
    after = replace(
        hall,
        it_load_kw=hall.it_load_kw + kw,
        cooling_load_kw=hall.cooling_load_kw + kw,
        rack_positions_used=hall.rack_positions_used + racks,
    )
    exceeded = tuple(
        name
        for name, over in (
            ("power", after.it_load_kw > after.power_capacity_kw),
            ("cooling", after.cooling_load_kw > after.cooling_capacity_kw),
            ("space", after.rack_positions_used > after.rack_positions),
        )
        if over
    )
    return Placement(after, not exceeded, exceeded, runway(hall, plan), runway(after, plan))
