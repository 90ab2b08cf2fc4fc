"""Prometheus remote write 1.0, encoded by hand: a WriteRequest protobuf, snappy block-compressed.

    message WriteRequest { repeated TimeSeries timeseries = 1; }
    message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    message Label        { string name = 1; string value = 2; }
    message Sample       { double value = 1; int64 timestamp = 2; }   // Unix milliseconds

Samples are encoded with numpy, all series of a request at once: a sample is a fixed 11 bytes plus its
timestamp's varint, so the per-series Python work is only its labels. Django-free.
"""

import cramjam
import numpy as np

CONTENT_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
_VARINT_MAX = 10  # bytes of the longest varint (a uint64)


def varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): a string or an embedded message."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _labels(labels: dict) -> bytes:
    """Label fields in name order, as Prometheus requires."""
    return b"".join(
        _field(1, _field(1, name.encode()) + _field(2, str(labels[name]).encode())) for name in sorted(labels)
    )


def _samples(stamps_ms: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every sample as its encoded TimeSeries.samples field, concatenated: (bytes as uint8, each one's length)."""
    n = len(stamps_ms)
    shifts = np.arange(_VARINT_MAX, dtype=np.uint64) * np.uint64(7)
    groups = (stamps_ms.astype(np.uint64)[:, None] >> shifts) & np.uint64(0x7F)
    used = np.maximum(1, _VARINT_MAX - np.argmax(groups[:, ::-1] != 0, axis=1))  # bytes of each varint
    used[~groups.any(axis=1)] = 1
    column = np.arange(_VARINT_MAX)
    stamp_bytes = groups.astype(np.uint8) | np.where(column < (used - 1)[:, None], 0x80, 0).astype(np.uint8)
    # field 2 (sample), its length, field 1 (double) and 8 bytes, field 2 (varint) and the timestamp
    record = np.empty((n, 3 + 8 + 1 + _VARINT_MAX), np.uint8)
    record[:, 0] = 2 << 3 | 2
    record[:, 1] = 1 + 8 + 1 + used
    record[:, 2] = 1 << 3 | 1
    record[:, 3:11] = np.ascontiguousarray(values, dtype="<f8").view(np.uint8).reshape(n, 8)
    record[:, 11] = 2 << 3 | 0
    record[:, 12:] = stamp_bytes
    keep = np.concatenate([np.ones((n, 12), bool), column < used[:, None]], axis=1)
    return record[keep], 12 + used


def write_request(series: list[tuple[dict, np.ndarray, np.ndarray]]) -> bytes:
    """The WriteRequest protobuf of [(labels incl. __name__, Unix ms int64, float64 values)], each series'
    samples in the order given (Prometheus wants them in time order)."""
    if not series:
        return b""
    stamps = np.concatenate([s[1] for s in series]).astype(np.int64)
    if len(stamps) and stamps.min() < 0:
        raise ValueError("remote write: timestamps before 1970 cannot be sent")
    flat, lengths = _samples(stamps, np.concatenate([s[2] for s in series]).astype(np.float64))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).tolist()  # where each sample's bytes start
    data = flat.tobytes()
    out, first = [], 0
    for labels, series_stamps, _ in series:
        last = first + len(series_stamps)
        out.append(_field(1, _labels(labels) + data[offsets[first] : offsets[last]]))
        first = last
    return b"".join(out)


def compress(body: bytes) -> bytes:
    """Snappy block format (not the framed stream), what remote write specifies."""
    return bytes(cramjam.snappy.compress_raw(body))
