"""Rules every reading must pass before it is stored; plain Python, no Django.

Each check returns a list of (field, message) problems; an empty list means the item is good. A reading
with any problem is rejected whole, never written in part.
"""

import math
from datetime import datetime, timedelta

from .vocabulary import ENTITY_KINDS, EVENT_KINDS, GPU_METRICS, POINT_METRICS

MAX_FUTURE = timedelta(minutes=5)
TEMPERATURE_RANGE_C = (-60.0, 200.0)
MAX_INT64 = 2**63 - 1


def _rule(metric):
    """(low, high, integral) for a metric, from its unit: what a physically possible value is."""
    if metric.unit == "C":
        return (*TEMPERATURE_RANGE_C, False)
    if metric.unit == "%":
        return (0.0, 100.0, False)
    if metric.unit == "0/1":
        return (0.0, 1.0, True)
    if metric.unit in ("bitmask", "count", "bytes"):
        return (0.0, float(MAX_INT64), True)
    return (0.0, math.inf, False)  # W, J, MHz, RPM, L/min: never negative


RULES = {name: _rule(m) for name, m in {**GPU_METRICS, **POINT_METRICS}.items()}
# GPU columns are 4-byte where precision allows: bound them to what a board can report.
RULES |= {
    "gpu_power": (0.0, 100_000.0, False),
    "gpu_sm_clock": (0.0, 100_000.0, True),
    "gpu_retired_pages": (0.0, float(2**31 - 1), True),
}


def value_problem(metric, value):
    """Why `value` cannot be a reading of `metric`, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"expected a number, got {type(value).__name__}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    low, high, integral = RULES[metric]
    if value < low:
        what = "negative" if low == 0 else f"below {low:g}"
        return f"{value:g} is {what}; {metric} must be ≥ {low:g}"
    if value > high:
        return f"{value:g} exceeds {high:g}, the most {metric} can be"
    if integral and value != int(value):
        return f"{value:g} is not a whole number; {metric} counts"
    return None


def timestamp_problem(ts, now, oldest):
    if not isinstance(ts, datetime):
        return f"expected a timestamp, got {type(ts).__name__}"
    if ts.tzinfo is None or ts.utcoffset() is None:
        return "timestamp has no timezone; send UTC (e.g. 2025-01-31T12:00:00Z)"
    if ts > now + MAX_FUTURE:
        return f"{ts.isoformat()} is more than 5 minutes in the future (server time {now.isoformat()})"
    if ts < oldest:
        return f"{ts.isoformat()} is older than raw retention allows (oldest accepted {oldest.isoformat()})"
    return None


def unit_problem(metric, unit):
    """A client that states a unit must state the vocabulary's unit: no silent conversions."""
    known = GPU_METRICS.get(metric) or POINT_METRICS.get(metric)
    if known is None:
        return f"unknown metric {metric!r}"
    if unit is not None and unit != known.unit:
        return f"{metric} is measured in {known.unit!r}, got {unit!r}"
    return None


def gpu_reading_problems(reading, now, oldest):
    problems = []
    if not isinstance(reading.gpu_uuid, str) or not reading.gpu_uuid:
        problems.append(("gpu_uuid", "missing GPU UUID"))
    if message := timestamp_problem(reading.ts, now, oldest):
        problems.append(("ts", message))
    if not isinstance(reading.values, dict) or not reading.values:
        problems.append(("values", "a GPU reading needs at least one value"))
        return problems
    for metric, value in reading.values.items():
        if metric not in GPU_METRICS:
            problems.append((metric, f"unknown GPU metric {metric!r}; known: {', '.join(GPU_METRICS)}"))
        elif message := value_problem(metric, value):
            problems.append((metric, message))
    return problems


def point_reading_problems(reading, now, oldest):
    problems = []
    if reading.entity_kind not in ENTITY_KINDS:
        problems.append(
            ("entity_kind", f"unknown entity kind {reading.entity_kind!r}; known: {', '.join(ENTITY_KINDS)}")
        )
    if not isinstance(reading.entity, str) or not reading.entity.strip() or len(reading.entity) > 253:
        problems.append(("entity", "entity name must be 1-253 characters"))
    if reading.metric not in POINT_METRICS:
        problems.append(("metric", f"unknown metric {reading.metric!r}; known: {', '.join(POINT_METRICS)}"))
    elif message := value_problem(reading.metric, reading.value):
        problems.append(("value", message))
    if message := timestamp_problem(reading.ts, now, oldest):
        problems.append(("ts", message))
    return problems


def event_problems(event, now, oldest):
    problems = []
    if event.kind not in EVENT_KINDS:
        problems.append(("kind", f"unknown event kind {event.kind!r}; known: {', '.join(EVENT_KINDS)}"))
    if event.code is not None and (
        isinstance(event.code, bool) or not isinstance(event.code, int) or abs(event.code) > MAX_INT64
    ):
        problems.append(("code", "code must be a whole number"))
    if not event.gpu_uuid and not event.entity:
        problems.append(("gpu_uuid", "an event needs a GPU UUID or an entity"))
    if len(event.entity or "") > 253:
        problems.append(("entity", "entity name must be at most 253 characters"))
    if message := timestamp_problem(event.ts, now, oldest):
        problems.append(("ts", message))
    return problems
