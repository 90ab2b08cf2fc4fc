"""Compressed blocks of one GPU's raw samples (e.g. one hour): a few hundred bytes where rows take tens of KB.

Plain numpy and zlib, no Django. A block holds the timestamps (Unix microseconds, increasing) and, per metric,
its values and where they are present. Each column becomes integers: timestamps and counters as
delta-of-delta, the others as deltas; floats quantised to the metric's real resolution (RESOLUTION: NVML
reports whole percent, degrees and MHz, milliwatts, millijoules) when every value of the block round-trips
exactly through it at its stored precision (float4, or float8 for `double` metrics), else their bit
patterns, delta-coded as integers. Integers are zigzagged, cut to the narrowest width that holds them,
byte-shuffled (all first bytes, then all second bytes...) and the whole block deflated. Decoding gives
back exactly what a query of the rows gives (float4 columns: the shortest decimal of the float4, as
PostgreSQL prints it), so moving stored rows into blocks loses nothing.
"""

import struct
import zlib

import numpy as np

# Values are whole multiples of 1/RESOLUTION[metric] when they come from NVML/DCGM (others fall back).
RESOLUTION = {
    "gpu_util": 1,
    "gpu_power": 1000,
    "gpu_energy": 1000,
    "gpu_temp": 1,
    "gpu_mem_temp": 1,
}
COUNTERS = frozenset({"gpu_energy", "gpu_mem_used", "gpu_ecc_sbe", "gpu_pcie_replay"})
VERSION = 1
_HEADER = struct.Struct("<BI")  # version, rows
_COLUMN = struct.Struct("<BBB")  # kind, difference order, width (then the order's first values)
INTEGER, QUANTISED, QUANTISED_FLOAT4, FLOAT32_BITS, FLOAT64_BITS = range(5)
_WIDTHS = (np.uint8, np.uint16, np.uint32, np.uint64)


def encode(micros, columns, *, integer, double=frozenset()):
    """Bytes of one block. micros: int64 array; columns: {metric: (values, present bool array)};
    integer: the metrics stored as integers; double: the float metrics stored as float8 (others float4)."""
    micros = np.asarray(micros, np.int64)
    parts = [_HEADER.pack(VERSION, micros.size), _ints(micros, 2), struct.pack("<H", len(columns))]
    for metric, (values, present) in columns.items():
        name = metric.encode()
        present = np.asarray(present, bool)
        parts += [struct.pack("<B", len(name)), name, _present(present)]
        kept = np.asarray(values)[present]
        order = 2 if metric in COUNTERS else 1
        if metric in integer:
            parts.append(_ints(kept.astype(np.int64), order, INTEGER))
        elif metric in double:
            parts.append(_floats(kept.astype(np.float64), RESOLUTION.get(metric), order, np.float64, np.int64))
        else:
            parts.append(_floats(kept.astype(np.float32), RESOLUTION.get(metric), order, np.float32, np.int32))
    return zlib.compress(b"".join(parts), 6)


def decode(data):
    """(micros, {metric: (values, present)}): values int64 for integer metrics, else float64, zero where not
    present."""
    buffer = memoryview(zlib.decompress(data))
    version, rows = _HEADER.unpack_from(buffer)
    if version != VERSION:
        raise ValueError(f"unknown block version {version}")
    offset = _HEADER.size
    micros, offset = _read_ints(buffer, offset, rows)
    (count,) = struct.unpack_from("<H", buffer, offset)
    offset += 2
    columns = {}
    for _ in range(count):
        size = buffer[offset]
        metric = bytes(buffer[offset + 1 : offset + 1 + size]).decode()
        offset += 1 + size
        present, offset = _read_present(buffer, offset, rows)
        kind = buffer[offset]
        kept, offset = _read_ints(buffer, offset, int(present.sum()))
        if kind in (QUANTISED, QUANTISED_FLOAT4):
            (scale,) = struct.unpack_from("<q", buffer, offset)
            offset += 8
            kept = kept / scale
        elif kind == FLOAT32_BITS:
            kept = shortest_decimals(kept.astype(np.int32).view(np.float32))
        elif kind == FLOAT64_BITS:
            kept = kept.view(np.float64)
        values = np.zeros(rows, np.int64 if kind == INTEGER else np.float64)
        values[present] = kept
        columns[metric] = (values, present)
    return micros, columns


def _floats(values, scale, order, float_type, bits_type):
    # Below 2**24 / scale a float4's spacing is finer than 1 / scale: a float4 that is some q / scale is
    # printed by PostgreSQL as that decimal, which decode gives back.
    limit = (2.0**24 if float_type is np.float32 else 2.0**52) / scale if scale else 0
    if values.size and np.all(np.abs(values) < limit):
        quantised = np.rint(values.astype(np.float64) * scale).astype(np.int64)
        if np.array_equal((quantised / scale).astype(float_type), values):
            kind = QUANTISED_FLOAT4 if float_type is np.float32 else QUANTISED
            return _ints(quantised, order, kind) + struct.pack("<q", scale)
    bits = values.view(bits_type).astype(np.int64)
    return _ints(bits, 1, FLOAT32_BITS if float_type is np.float32 else FLOAT64_BITS)


def _ints(values, order, kind=INTEGER):
    """kind, order, width, the first value of each difference order, then the zigzagged differences of that
    order, byte-shuffled at the narrowest width. int64 arithmetic wraps, so any values come back exactly."""
    order = min(order, max(values.size - 1, 0))
    starts, diffs = [], values
    for _ in range(order):
        starts.append(int(diffs[0]))
        diffs = np.diff(diffs)
    zigzag = (diffs << 1 ^ diffs >> 63).view(np.uint64)
    top = int(zigzag.max()) if zigzag.size else 0
    width = next(i for i, t in enumerate(_WIDTHS) if top <= np.iinfo(t).max)
    packed = zigzag.astype(_WIDTHS[width]).view(np.uint8).reshape(-1, 1 << width).T.tobytes()
    return _COLUMN.pack(kind, order, width) + struct.pack(f"<{order}q", *starts) + packed


def _read_ints(buffer, offset, count):
    _kind, order, width = _COLUMN.unpack_from(buffer, offset)
    starts = struct.unpack_from(f"<{order}q", buffer, offset + _COLUMN.size)
    offset += _COLUMN.size + 8 * order
    size = (count - order) << width if count else 0
    shuffled = np.frombuffer(buffer, np.uint8, size, offset).reshape(1 << width, -1)
    zigzag = np.ascontiguousarray(shuffled.T).view(_WIDTHS[width]).reshape(-1).astype(np.uint64)
    values = (zigzag >> np.uint64(1)).view(np.int64) ^ -(zigzag & np.uint64(1)).view(np.int64)
    for first in reversed(starts):
        values = np.cumsum(np.concatenate([np.array([first], np.int64), values]), dtype=np.int64)
    return values, offset + size


def shortest_decimals(floats):
    """float4 values as PostgreSQL prints them (the shortest decimal that reads back as the same float4), as
    float64: what a query of a real column returns."""
    return np.array([float(str(v)) for v in floats], np.float64)


def _present(present):
    if present.all():
        return b"\1"
    return b"\0" + np.packbits(present).tobytes()


def _read_present(buffer, offset, rows):
    if buffer[offset]:
        return np.ones(rows, bool), offset + 1
    size = (rows + 7) // 8
    bits = np.frombuffer(buffer, np.uint8, size, offset + 1)
    return np.unpackbits(bits, count=rows).astype(bool), offset + 1 + size
