"""PostgreSQL binary COPY data built from numpy columns, without a Python object per value.

Plain numpy, no Django. `encode` turns columns (one array per table column, with an optional mask of the
rows where it is not NULL) into one buffer: the COPY signature, every tuple, the trailer; psycopg sends it
with `copy.write`. A tuple's layout depends on which of its fields are NULL, so rows are encoded in groups
of equal NULL pattern (a batch from one kind of board has one or two patterns) as numpy structured arrays.
"""

from datetime import UTC, datetime

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\0" + b"\0\0\0\0" + b"\0\0\0\0"  # signature, flags, header extension length
TRAILER = b"\xff\xff"
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PG_EPOCH_US = int(PG_EPOCH.timestamp()) * 1_000_000
# Wire format (big-endian) of each type; timestamptz is microseconds since 2000-01-01 UTC.
WIRE = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float4": ">f4", "float8": ">f8", "timestamptz": ">i8"}


def encode(types, columns, present=None):
    """COPY BINARY data of len(columns[0]) rows.

    types: PostgreSQL type per column; columns: arrays of equal length (values of NULL fields are ignored);
    present: per column a bool array (False = NULL) or None (never NULL)."""
    return SIGNATURE + tuples(types, columns, present) + TRAILER


def tuples(types, columns, present=None):
    """The rows alone, without signature and trailer: pieces of one COPY sent as they are made."""
    present = present or [None] * len(columns)
    count = len(columns[0]) if columns else 0
    masked = [i for i, mask in enumerate(present) if mask is not None and not mask.all()]
    if not masked:
        return _tuples(types, columns, [True] * len(columns))
    pattern = np.zeros(count, dtype=np.int64)
    for bit, i in enumerate(masked):
        pattern |= present[i].astype(np.int64) << bit
    parts = []
    for code in np.unique(pattern):
        rows = np.flatnonzero(pattern == code)
        fields = [True] * len(columns)
        for bit, i in enumerate(masked):
            fields[i] = bool(code >> bit & 1)
        parts.append(_tuples(types, [c[rows] for c in columns], fields))
    return b"".join(parts)


def _tuples(types, columns, fields):
    layout = [("count", ">i2")]
    for i, (kind, has_value) in enumerate(zip(types, fields, strict=True)):
        layout.append((f"len{i}", ">i4"))
        if has_value:
            layout.append((f"val{i}", WIRE[kind]))
    out = np.empty(len(columns[0]), dtype=np.dtype(layout))
    out["count"] = len(columns)
    for i, (kind, has_value) in enumerate(zip(types, fields, strict=True)):
        if has_value:
            out[f"len{i}"] = np.dtype(WIRE[kind]).itemsize
            out[f"val{i}"] = columns[i]
        else:
            out[f"len{i}"] = -1
    return out.tobytes()
