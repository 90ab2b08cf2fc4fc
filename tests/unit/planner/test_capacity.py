import pytest

from planner.domain.capacity import GrowthPlan, Hall, Redundancy, place_gpus, runway
from reference.catalog import InvalidInputError

# Power 2 x 500 kW in 2N -> 500 kW usable; cooling 5 x 120 kW in N+1 -> 4 x 120 = 480 kW.
HALL = Hall(
    "H1",
    it_load_kw=400,
    cooling_load_kw=420,
    power_units=2,
    power_unit_kw=500,
    power_redundancy=Redundancy.TWO_N,
    cooling_units=5,
    cooling_unit_kw=120,
    cooling_redundancy=Redundancy.N_PLUS_1,
    rack_positions=100,
    rack_positions_used=80,
)
# 40 GPUs a month x 1.25 kW = 50 kW and 5 racks (8 GPUs per rack) a month.
PLAN = GrowthPlan((40,) * 6, kw_per_gpu=1.25, gpus_per_rack=8)


def test_redundancy_levels():
    assert HALL.power_capacity_kw == 500
    assert HALL.cooling_capacity_kw == 480
    assert Redundancy.N.usable_kw(5, 120) == 600
    with pytest.raises(InvalidInputError, match="N\\+1 needs at least 2 units"):
        Redundancy.N_PLUS_1.usable_kw(1, 120)


def test_runway_by_hand():
    # Power headroom 100 kW: 50, 0, -50 -> out in month 3 (exactly full is still fine).
    # Cooling headroom 60 kW: 10, -40 -> month 2. Racks free 20: 15, 10, 5, 0, -5 -> month 5.
    r = runway(HALL, PLAN)
    assert (r.power_month, r.cooling_month, r.space_month) == (3, 2, 5)
    assert r.first_limit == ("cooling", 2)
    assert r.power_headroom_kw[:3] == (50, 0, -50)
    roomy = runway(HALL, GrowthPlan((1,) * 6, 1.25, 8))
    assert roomy.first_limit is None


def test_n_cooling_lasts_longer_than_n_plus_1():
    hall = Hall(**{**HALL.__dict__, "cooling_redundancy": Redundancy.N})
    assert runway(hall, PLAN).cooling_month == 4  # 180 kW headroom: 130, 80, 30, -20


def test_placing_gpus():
    # 100 GPUs = 125 kW: IT 525 > 500, cooling 545 > 480, racks 80 + 13 = 93 <= 100.
    p = place_gpus(HALL, 100, PLAN)
    assert not p.fits_now and p.exceeded == ("power", "cooling")
    assert p.hall_after.rack_positions_used == 93
    assert p.after.power_month == 0 and p.before.power_month == 3
    small = place_gpus(HALL, 16, PLAN)  # 20 kW, 2 racks
    assert small.fits_now and small.after.cooling_month == 1


def test_invalid_capacity_inputs_name_the_field():
    with pytest.raises(InvalidInputError, match="hall H1: rack_positions must be a number > 0"):
        Hall(**{**HALL.__dict__, "rack_positions": 0})
    with pytest.raises(InvalidInputError, match="kw_per_gpu"):
        GrowthPlan((1,), kw_per_gpu=0, gpus_per_rack=8)
    with pytest.raises(InvalidInputError, match="gpus must be a number > 0"):
        place_gpus(HALL, 0, PLAN)
