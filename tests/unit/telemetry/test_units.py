import math

import pytest

from telemetry import units


@pytest.mark.parametrize(
    ("watts", "text"),
    [(612, "612 W"), (0.5, "0.500 W"), (1250, "1.25 kW"), (448_000, "448 kW"), (1_100_000, "1.10 MW"), (0, "0 W")],
)
def test_power_switches_to_kilowatts_at_one_thousand_watts(watts, text):
    assert units.power(watts) == text


@pytest.mark.parametrize(("kwh", "text"), [(850, "850 kWh"), (12.34, "12.3 kWh"), (1234, "1.23 MWh")])
def test_energy_switches_to_megawatt_hours(kwh, text):
    assert units.energy(kwh) == text


def test_memory_is_gibibytes():
    assert units.memory(80 * 2**30) == "80.0 GiB"
    assert units.memory(75_630_000_000) == "70.4 GiB"
    assert units.memory(2**29) == "0.500 GiB"


@pytest.mark.parametrize("missing", [None, "", math.nan])
def test_missing_values_show_a_dash(missing):
    assert units.power(missing) == units.energy(missing) == units.memory(missing) == "–"
