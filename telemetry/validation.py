"""Rules every reading must pass before it is stored; plain Python, no Django.

Each check returns a list of (field, message) problems; an empty list means the item is good. A reading
with any problem is rejected whole, never written in part.
"""

import math
from datetime import datetime, timedelta, timezone
from operator import itemgetter

import numpy as np

from .vocabulary import ENTITY_KINDS, EVENT_KINDS, GPU_METRICS, POINT_METRICS

MAX_FUTURE = timedelta(minutes=5)
MAX_INT64 = 2**63 - 1
INTEGRAL_UNITS = ("0/1", "bitmask", "count", "bytes")

# (low, high, integral) per metric: the vocabulary's physical bounds, whole numbers where the unit counts.
RULES = {
    name: (float(m.low), float(m.high), m.whole or m.unit in INTEGRAL_UNITS)
    for name, m in {**GPU_METRICS, **POINT_METRICS}.items()
}


def value_problem(metric, value):
    """Why `value` cannot be a reading of `metric`, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"expected a number, got {type(value).__name__}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number (NaN or infinity)"
    low, high, integral = RULES[metric]
    if value < low:
        what = "negative" if low == 0 else f"below {low:g}"
        return f"{value:g} is {what}; {metric} must be ≥ {low:g}"
    if value > high:
        return f"{value:g} exceeds {high:g}, the most {metric} can physically be"
    if integral and value != int(value):
        return f"{value:g} is not a whole number; {metric} counts"
    if integral and int(value) > MAX_INT64:  # float(MAX_INT64) rounds up to 2**63, past the bound above
        return f"{value:g} exceeds {MAX_INT64}, the most {metric} can be"
    return None


def text_problem(text):
    """Why `text` (a name or detail) cannot be stored, or None: PostgreSQL text cannot hold NUL characters."""
    if isinstance(text, str) and "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
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
    elif message := text_problem(reading.gpu_uuid):
        problems.append(("gpu_uuid", message))
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
    elif message := text_problem(reading.entity):
        problems.append(("entity", message))
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
    for name in ("gpu_uuid", "entity", "detail"):
        if message := text_problem(getattr(event, name)):
            problems.append((name, message))
    if message := timestamp_problem(event.ts, now, oldest):
        problems.append(("ts", message))
    return problems


# --- The same rules per column, for many GPU readings at once ---------------------------------------------------
# A batch is checked column by column with numpy. Readings that pass are certainly valid; the rest go through
# gpu_reading_problems above, which has the messages and the last word (so the two cannot disagree on what is
# stored, only on how fast it is decided).

_NUMBER = frozenset({int, float})
_ABSENT = type("Absent", (), {})()  # a metric the reading lacks; None is a value there, and not a number
EXACT_FLOAT_INT = 2**53  # beyond this a float64 no longer holds every whole number


def gpu_value_columns(values, dtypes):
    """Check the `values` dicts of n GPU readings per metric.

    dtypes: {metric: numpy dtype of its column}. Returns (columns, present, ok): per metric that occurs an
    array in its dtype and a bool array of the readings that have it, and `ok`, the readings that certainly
    pass every value rule (at least one value, only known metrics, numbers in range, whole where counted)."""
    n = len(values)
    ok = np.ones(n, dtype=bool)
    if set(map(type, values)) - {dict}:
        ok &= np.fromiter((type(v) is dict for v in values), bool, n)
        values = [v if type(v) is dict else {} for v in values]
    known, metrics = list(values[0]) if n else [], None
    if len(known) > 1 and dtypes.keys() >= set(known) and set(map(len, values)) == {len(known)}:
        try:  # every reading has exactly the first one's metrics (one kind of board): one C-level pass
            metrics = dict(zip(known, zip(*map(itemgetter(*known), values), strict=True), strict=True))
        except KeyError:  # one has another metric instead
            pass
    if metrics is None:
        union = set().union(*values)
        for unknown in union - GPU_METRICS.keys():
            ok &= np.fromiter((unknown not in v for v in values), bool, n)
        known = [m for m in dtypes if m in union]
        metrics = dict(zip(known, _transpose(values, known), strict=True))
    columns, present, good = gpu_metric_columns(metrics, n, dtypes)
    return columns, present, ok & good


def gpu_metric_columns(metrics, n, dtypes, absent=_ABSENT):
    """The same check for n GPU readings given per metric, {metric: list of n values}, `absent` where a
    reading lacks the metric (a columnar push sends null there); a reading with a value of an unknown metric
    is not `ok`. Returns (columns, present, ok) as gpu_value_columns."""
    ok, any_value = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    columns, present = {}, {}
    for metric, column in metrics.items():
        if metric not in dtypes:
            ok &= np.fromiter((v is absent for v in column), bool, n)
            continue
        columns[metric], present[metric], good = _value_column(metric, column, dtypes[metric], absent)
        ok &= good
        any_value |= present[metric]
    return columns, present, ok & any_value


def _transpose(values, metrics):
    """Per metric the list of its values, _ABSENT where a reading lacks it."""
    return [[v.get(m, _ABSENT) for v in values] for m in metrics]


def _value_column(metric, column, dtype, absent):
    n = len(column)
    kinds = set(map(type, column))
    present = np.fromiter((v is not absent for v in column), bool, n) if type(absent) in kinds else np.ones(n, bool)
    good = np.ones(n, dtype=bool)
    if kinds - _NUMBER:  # absent, None, bool, str, ...: no number (an int subclass: the per-reading rules decide)
        good = np.fromiter((type(v) in _NUMBER or v is absent for v in column), bool, n)
        column = [v if type(v) in _NUMBER else None for v in column]
    try:
        numbers = np.array(column, dtype=np.float64)  # None -> NaN
    except OverflowError:  # an int beyond float range: leave the column to the per-reading rules
        return np.zeros(n, dtype), present, np.zeros(n, bool)
    low, high, integral = RULES[metric]
    fits = np.isfinite(numbers) & (numbers >= low) & (numbers <= high)
    if integral:
        fits &= (numbers == np.trunc(numbers)) & (numbers < 2.0**63)
        if int in kinds:  # a big int must not go through float64: the per-reading path converts it exactly
            fits &= np.abs(numbers) < EXACT_FLOAT_INT
        numbers = np.where(fits, numbers, 0)
    good &= fits | ~present
    return numbers.astype(dtype), present, good


def timestamp_column(stamps, now, oldest):
    """Microseconds since the Unix epoch of n timestamps, and which of them certainly pass timestamp_problem."""
    n = len(stamps)
    ok = np.ones(n, dtype=bool)
    if set(map(type, stamps)) - {datetime}:
        ok &= np.fromiter((type(t) is datetime for t in stamps), bool, n)
        stamps = [t if type(t) is datetime else now for t in stamps]
    if any(type(zone) is not timezone for zone in {t.tzinfo for t in stamps}):  # only fixed offsets surely have one
        ok &= np.fromiter((t.utcoffset() is not None for t in stamps), bool, n)
        stamps = [t if t.utcoffset() is not None else now for t in stamps]
    # .timestamp() is exact to the microsecond for any date within centuries of now (float64 has 53 bits)
    micros = np.rint(np.fromiter(map(datetime.timestamp, stamps), np.float64, n) * 1e6).astype(np.int64)
    ok &= (micros >= unix_micros(oldest)) & (micros <= unix_micros(now + MAX_FUTURE))
    return micros, ok


def unix_micros(ts):
    return (ts - _UNIX_EPOCH) // timedelta(microseconds=1)


_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # noqa: UP017 - the module imports timezone for its type
