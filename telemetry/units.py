"""Display units, one rule for the whole dashboard: memory in GiB, power in W below 1 kW and kW above (MW from
1 MW), energy in kWh below 1 MWh and MWh above. Django-free; the template filters (templatetags/units.py) and
the charts (telemetry.charts) both read it."""

import math

GIB = 2**30
MISSING = "–"


def _number(value, digits):
    return f"{value:,.{digits}f}"


def _digits(value):
    """Three significant figures up to 100, whole numbers above: 0.512, 5.12, 51.2, 512, 5,120."""
    size = abs(value)
    if size >= 100 or size == 0:
        return 0
    return min(3, 2 - math.floor(math.log10(size)))


def _missing(value):
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def scaled(value, steps):
    """(value / factor, unit) for the largest (factor, unit) of `steps` (ascending) that `value` reaches."""
    factor, unit = steps[0]
    for step_factor, step_unit in steps:
        if abs(value) >= step_factor:
            factor, unit = step_factor, step_unit
    return value / factor, unit


POWER_W = ((1, "W"), (1e3, "kW"), (1e6, "MW"))
ENERGY_KWH = ((1, "kWh"), (1e3, "MWh"), (1e6, "GWh"))


def power(watts):
    """'612 W', '1.25 kW', '1.10 MW'."""
    if _missing(watts):
        return MISSING
    value, unit = scaled(float(watts), POWER_W)
    return f"{_number(value, _digits(value))} {unit}"


def energy(kwh):
    """'850 kWh', '1.23 MWh'."""
    if _missing(kwh):
        return MISSING
    value, unit = scaled(float(kwh), ENERGY_KWH)
    return f"{_number(value, _digits(value))} {unit}"


def memory(nbytes):
    """'70.4 GiB' (always GiB: GPU memory sizes compare across models)."""
    if _missing(nbytes):
        return MISSING
    value = float(nbytes) / GIB
    return f"{_number(value, min(_digits(value), 1) if value >= 1 else _digits(value))} GiB"
