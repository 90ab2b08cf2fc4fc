"""Serving-engine exposition parsing (tests/fixtures/serving-metrics, built from each engine's metric
definitions): gauges, counter deltas, restarts, interval percentiles from bucket deltas, renamed metrics."""

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telemetry.collectors.common import CollectorError
from telemetry.collectors.serving import EngineReading, derive_sample, histogram_quantile, parse_metrics

FIXTURES = Path(__file__).parents[2] / "fixtures" / "serving-metrics"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=15)
CASES = [
    ("vllm-0.6", "vllm"),
    ("vllm-0.10", "vllm"),
    ("vllm-0.11", "vllm"),
    ("sglang-0.5", "sglang"),
    ("triton-trtllm-25.03", "trtllm"),
]


def scrape_pair(first, second, engine):
    r0 = parse_metrics((FIXTURES / first).read_text(), engine, T0)
    r1 = parse_metrics((FIXTURES / second).read_text(), engine, T1)
    _, state = derive_sample({}, r0)
    row, _ = derive_sample(state, r1)
    return row


def within_bucket(value, truth, bounds):
    """The interpolated percentile lies in the bucket that holds the true one."""
    finite = [b for b in bounds if math.isfinite(b)]
    upper = next((b for b in finite if b >= truth), finite[-1])
    lower = max((b for b in finite if b < upper), default=0.0)
    return lower - 1e-9 <= value <= upper + 1e-9


@pytest.mark.parametrize(("fixture", "engine"), CASES)
def test_gauges_and_token_deltas_match_what_was_served(fixture, engine):
    row = scrape_pair(f"{fixture}-t0.prom", f"{fixture}-t1.prom", engine)
    truth = EXPECTED[fixture]
    assert row["interval_s"] == 15
    for name, value in truth["gauges_t1"].items():
        assert row[name] == pytest.approx(value), name
    assert row["prompt_tokens"] == truth["t0_to_t1"]["prompt_tokens"]
    assert row["generation_tokens"] == truth["t0_to_t1"]["generation_tokens"]
    assert row["requests_finished"] == truth["t0_to_t1"]["requests"]


@pytest.mark.parametrize(("fixture", "engine"), CASES)
def test_interval_percentiles_fall_in_the_true_percentiles_bucket(fixture, engine):
    r1 = parse_metrics((FIXTURES / f"{fixture}-t1.prom").read_text(), engine, T1)
    row = scrape_pair(f"{fixture}-t0.prom", f"{fixture}-t1.prom", engine)
    truth = EXPECTED[fixture]["t0_to_t1"]
    checked = 0
    for name, hist in r1.histograms.items():
        for p in (50, 95, 99):
            assert within_bucket(row[f"{name}_p{p}"], truth[f"{name}_p{p}"], hist.bounds), (name, p)
            checked += 1
    assert checked >= (3 if engine == "trtllm" else 9)


def test_vllm_aborted_requests_count_as_failed():
    row = scrape_pair("vllm-0.11-t0.prom", "vllm-0.11-t1.prom", "vllm")
    assert row["requests_failed"] == EXPECTED["vllm-0.11"]["t0_to_t1"]["aborted"] > 0


def test_restart_counts_from_zero_instead_of_going_negative():
    row = scrape_pair("vllm-0.11-before-restart.prom", "vllm-0.11-after-restart.prom", "vllm")
    truth = EXPECTED["vllm-0.11-restart"]["t0_to_t1"]
    assert row["generation_tokens"] == truth["generation_tokens"]
    assert row["requests_finished"] == truth["requests"]
    assert 0 < row["ttft_p50"] < 10


def test_renamed_kv_cache_gauge_reads_the_same_value_in_every_vllm_version():
    values = {
        version: parse_metrics((FIXTURES / f"vllm-{version}-t1.prom").read_text(), "vllm", T1).gauges["kv_cache_usage"]
        for version in ("0.6", "0.10", "0.11")
    }
    assert set(values.values()) == {EXPECTED["vllm-0.11"]["gauges_t1"]["kv_cache_usage"]}


def test_first_scrape_has_gauges_but_no_deltas():
    row, state = derive_sample({}, parse_metrics((FIXTURES / "sglang-0.5-t0.prom").read_text(), "sglang", T0))
    assert "interval_s" not in row and "generation_tokens" not in row and "ttft_p50" not in row
    assert row["requests_running"] == 12 and json.dumps(state)  # the state must be JSON


def test_model_filter_keeps_only_that_models_series():
    text = (FIXTURES / "vllm-0.11-t1.prom").read_text()
    assert parse_metrics(text, "vllm", T1, model="meta-llama/Llama-3.1-8B-Instruct").gauges["requests_running"] == 30
    with pytest.raises(CollectorError, match="no vllm serving metrics"):
        parse_metrics(text, "vllm", T1, model="other-model")


def test_garbage_and_the_wrong_engine_are_clear_errors():
    with pytest.raises(CollectorError, match="not a Prometheus exposition"):
        parse_metrics("<html>502 Bad Gateway</html>\n", "vllm", T0)
    with pytest.raises(CollectorError, match="no sglang serving metrics"):
        parse_metrics((FIXTURES / "vllm-0.11-t1.prom").read_text(), "sglang", T0)


def test_histogram_quantile_interpolates_inside_the_bucket():
    bounds, counts = (0.1, 0.2, 0.4, math.inf), (0, 10, 20, 20)
    assert histogram_quantile(0.5, bounds, counts) == pytest.approx(0.2)
    assert histogram_quantile(0.75, bounds, counts) == pytest.approx(0.3)
    assert histogram_quantile(0.5, bounds, (0, 0, 0, 0)) is None
    assert histogram_quantile(0.99, (0.1, math.inf), (1, 10)) == 0.1  # in +Inf: the highest finite bound


def test_triton_tpot_is_the_little_law_mean_and_recovers_a_steady_decode():
    # 24 then 40 sequences running, each emitting a token every 20 ms: 32 x 15 s / 0.020 s tokens in 15 s.
    def reading(ts, running, tokens):
        gauges = {"requests_running": running, "requests_waiting": 0.0, "kv_cache_usage": 0.5}
        return EngineReading(ts, "trtllm", gauges, {"generation_tokens": tokens}, {}, {})

    _, state = derive_sample({}, reading(T0, 24.0, 1000.0))
    row, _ = derive_sample(state, reading(T1, 40.0, 1000.0 + 32 * 15 / 0.020))
    assert row["tpot_p50"] == pytest.approx(0.020)
    assert "tpot_p95" not in row  # a mean is no tail
    # From the fixture pair: the two scrapes' running gauges and the tokens generated between them.
    r0 = parse_metrics((FIXTURES / "triton-trtllm-25.03-t0.prom").read_text(), "trtllm", T0)
    triton = scrape_pair("triton-trtllm-25.03-t0.prom", "triton-trtllm-25.03-t1.prom", "trtllm")
    running = (r0.gauges["requests_running"] + triton["requests_running"]) / 2
    assert triton["tpot_p50"] == pytest.approx(running * 15 / triton["generation_tokens"])
    # Engines with a per-token histogram keep its percentiles.
    vllm = scrape_pair("vllm-0.11-t0.prom", "vllm-0.11-t1.prom", "vllm")
    assert vllm["tpot_p50"] != pytest.approx(vllm["requests_running"] * 15 / vllm["generation_tokens"])


GARBAGE_VALUES = """\
sglang:num_running_reqs{model_name="m"} +Inf
sglang:num_queue_reqs{model_name="m"} -3
sglang:token_usage{model_name="m"} 37
sglang:prompt_tokens_total{model_name="m"} +Inf
sglang:generation_tokens_total{model_name="m"} -1
sglang:num_requests_total{model_name="m"} 100
sglang:time_to_first_token_seconds_bucket{model_name="m",le="0.1"} 5
sglang:time_to_first_token_seconds_bucket{model_name="m",le="0.5"} 3
sglang:time_to_first_token_seconds_bucket{model_name="m",le="+Inf"} 9
"""


def test_impossible_values_are_dropped_and_named_instead_of_stored():
    reading = parse_metrics(GARBAGE_VALUES, "sglang", T0)
    assert reading.gauges == {} and reading.counters == {"requests_finished": 100, "requests_failed": 0.0}
    assert reading.histograms == {}  # cumulative bucket counts that go down are no histogram
    problems = dict(reading.problems)
    assert set(problems) == {
        "requests_running",
        "requests_waiting",
        "kv_cache_usage",
        "prompt_tokens",
        "generation_tokens",
        "ttft",
    }
    assert "37" in problems["kv_cache_usage"] and "0-1" in problems["kv_cache_usage"]
    assert "inf" in problems["requests_running"] and "sglang:num_running_reqs" in problems["requests_running"]
    _, state = derive_sample({}, reading)
    json.dumps(state, allow_nan=False)  # PostgreSQL's jsonb has no Infinity: the replica's state must save


def test_binary_garbage_is_a_printable_error():
    with pytest.raises(CollectorError) as info:
        parse_metrics("\x00\x01\x02garbage\n", "vllm", T0)
    assert str(info.value).isprintable() and "not a Prometheus exposition" in str(info.value)
    bad_le = 'vllm:time_to_first_token_seconds_bucket{le="soon"} 3\nvllm:num_requests_running 1\n'
    with pytest.raises(CollectorError, match="vllm:time_to_first_token_seconds.*le"):
        parse_metrics(bad_le, "vllm", T0)
