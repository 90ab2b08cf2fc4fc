"""The remote-write encoder: what it produces decodes, by an independent protobuf wire reader and cramjam's
snappy decompressor, to the series it was given; known byte vectors from the protobuf and snappy specs."""

import struct

import cramjam
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.promstore import remote_write


def read_varint(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def fields(data):
    """[(field number, value)] of one protobuf message: ints for varints, bytes for fixed64 and
    length-delimited fields."""
    out, at = [], 0
    while at < len(data):
        key, at = read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = read_varint(data, at)
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 2:
            length, at = read_varint(data, at)
            value, at = data[at : at + length], at + length
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((number, value))
    return out


def decode(body):
    """WriteRequest bytes -> [(labels as (name, value) pairs in wire order, [(ms, value)])]."""
    series = []
    for number, message in fields(body):
        assert number == 1
        labels, samples = [], []
        for inner, payload in fields(message):
            if inner == 1:
                label = dict(fields(payload))
                labels.append((label[1].decode(), label[2].decode()))
            else:
                sample = dict(fields(payload))
                samples.append((sample.get(2, 0), struct.unpack("<d", sample[1])[0]))
        series.append((labels, samples))
    return series


def snappy_decompress(body):
    return bytes(cramjam.snappy.decompress_raw(body))


def test_known_vectors():
    assert remote_write.varint(1) == b"\x01"
    assert remote_write.varint(300) == b"\xac\x02"  # the protobuf encoding guide's example
    assert remote_write.compress(b"hello") == b"\x05\x10hello"  # snappy: length, then one literal of 5
    body = remote_write.write_request([({"__name__": "up"}, np.array([300]), np.array([1.0]))])
    label = b"\x0a\x08\x5f\x5f\x6e\x61\x6d\x65\x5f\x5f\x12\x02up"  # name "__name__", value "up"
    sample = b"\x09" + struct.pack("<d", 1.0) + b"\x10\xac\x02"
    series = b"\x0a" + bytes([len(label)]) + label + b"\x12" + bytes([len(sample)]) + sample
    assert body == b"\x0a" + bytes([len(series)]) + series


def test_labels_sorted_and_timestamps_of_every_length():
    stamps = np.array([0, 127, 128, 16_383, 16_384, 1_700_000_000_123, 2**62], np.int64)
    values = np.array([0.0, -1.5, 1e300, float("nan"), float("inf"), 42.0, 2.0**-1074])
    labels = {"UUID": "GPU-1", "__name__": "DCGM_FI_DEV_GPU_UTIL", "a": "ü"}
    ((got_labels, samples),) = decode(
        snappy_decompress(remote_write.compress(remote_write.write_request([(labels, stamps, values)])))
    )
    assert got_labels == sorted(labels.items())
    assert [t for t, _ in samples] == stamps.tolist()
    np.testing.assert_array_equal([v for _, v in samples], values)  # NaN == NaN here


def test_negative_timestamps_refused():
    with pytest.raises(ValueError, match="before 1970"):
        remote_write.write_request([({"__name__": "x"}, np.array([-1]), np.array([1.0]))])


series_strategy = st.lists(
    st.tuples(
        st.dictionaries(st.text("abc_", min_size=1, max_size=5), st.text(max_size=8), max_size=3),
        st.lists(st.tuples(st.integers(0, 2**63 - 1), st.floats(allow_nan=False, width=64)), min_size=0, max_size=20),
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(series_strategy)
def test_any_series_decode_to_what_was_sent(generated):
    series = [
        (
            {"__name__": "m", **labels},
            np.array([t for t, _ in points], np.int64),
            np.array([v for _, v in points], np.float64),
        )
        for labels, points in generated
    ]
    got = decode(snappy_decompress(remote_write.compress(remote_write.write_request(series))))
    assert got == [(sorted(labels.items()), list(zip(t.tolist(), v.tolist(), strict=True))) for labels, t, v in series]
