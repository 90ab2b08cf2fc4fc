"""Compressed GPU sample blocks give back exactly what the table stores, and are small for NVML data."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from telemetry import blocks

INTEGER = {"gpu_sm_clock", "gpu_mem_used", "gpu_ecc_sbe"}
DOUBLE = {"gpu_energy"}


def round_trip(micros, columns):
    got_micros, got = blocks.decode(blocks.encode(micros, columns, integer=INTEGER, double=DOUBLE))
    assert np.array_equal(got_micros, micros)
    assert set(got) == set(columns)
    for metric, (values, present) in columns.items():
        got_values, got_present = got[metric]
        assert np.array_equal(got_present, present), metric
        stored = np.asarray(values)[present]
        if metric not in INTEGER and metric not in DOUBLE:  # a float4 column reads as its shortest decimal
            stored = np.array([float(str(v)) for v in stored.astype(np.float32)])
        assert np.array_equal(got_values[present], stored.astype(got_values.dtype)), metric
        assert not got_values[~present].any()


def test_nvml_hour_round_trips_and_compresses():
    rng = np.random.default_rng(3)
    n = 240  # an hour at 15 s
    micros = 1_765_000_000_000_000 + np.arange(n, dtype=np.int64) * 15_000_000
    util = np.clip(np.rint(60 + rng.normal(0, 3, n)), 0, 100)
    power = np.round(70 + 6.2 * util + rng.normal(0, 8, n), 3)
    columns = {
        "gpu_util": (util, np.ones(n, bool)),
        "gpu_power": (power, np.ones(n, bool)),
        "gpu_energy": (np.round(1e9 + np.cumsum(power * 15), 3), np.ones(n, bool)),
        "gpu_temp": (np.rint(50 + rng.normal(0, 0.7, n)), np.ones(n, bool)),
        "gpu_sm_clock": (np.full(n, 1980), np.ones(n, bool)),
        "gpu_mem_used": (np.full(n, 60_000 * 2**20), np.ones(n, bool)),
    }
    round_trip(micros, columns)
    size = len(blocks.encode(micros, columns, integer=INTEGER, double=DOUBLE))
    assert size < n * len(columns) * 1.5  # under 1.5 bytes a value (rows: ~18)


def test_values_off_the_resolution_and_gaps_are_kept_exactly():
    micros = np.array([0, 10_000_000, 20_000_001, 35_000_000, 36_000_000], np.int64)
    present = np.array([True, False, True, True, True])
    columns = {
        "gpu_util": (np.array([12.5, 0, 99.25, 1e-7, 3.0]), present),  # not whole percent: bit patterns
        "gpu_power": (np.array([300.0, 0, -0.0, 4999.999, 1.0]), present),
        "gpu_energy": (np.array([1e15, 0, 1e15 + 0.1, 5e-324, 7.0]), present),  # float8, irregular
        "gpu_ecc_sbe": (np.array([2**62, 0, -(2**63), 2**63 - 1, 0]), present),  # wrapping differences
        "gpu_temp": (np.zeros(5), np.zeros(5, bool)),  # never present
    }
    round_trip(micros, columns)


def test_empty_and_single_row_blocks():
    round_trip(np.array([], np.int64), {"gpu_util": (np.array([]), np.array([], bool))})
    round_trip(np.array([5], np.int64), {"gpu_power": (np.array([123.456]), np.array([True]))})


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 300).flatmap(
        lambda n: st.tuples(
            arrays(np.int64, n, elements=st.integers(0, 10**6)),
            arrays(np.float64, n, elements=st.floats(-1e6, 1e6, allow_nan=False)),
            arrays(np.float64, n, elements=st.floats(0, 1e15, allow_nan=False)),
            arrays(np.int64, n, elements=st.integers(-(2**63), 2**63 - 1)),
            arrays(bool, n),
        )
    )
)
def test_any_block_round_trips(data):
    steps, power, energy, counts, present = data
    micros = 1_700_000_000_000_000 + np.cumsum(steps)
    round_trip(
        micros,
        {
            "gpu_power": (power, present),
            "gpu_energy": (energy, ~present),
            "gpu_ecc_sbe": (counts, present),
            "gpu_util": (np.rint(power) % 101, np.ones_like(present)),
        },
    )
