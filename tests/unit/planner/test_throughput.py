import pytest

from planner.domain.throughput import (
    LatencyTargetError,
    ModelDoesNotFitError,
    Precision,
    ThroughputError,
    calibration_errors,
    error_table,
    estimate_throughput,
    smallest_tp,
)
from reference.catalog import InvalidInputError, load_gpus, load_llms

H100 = load_gpus()["H100 SXM 80GB"]
LLAMA70 = load_llms()["Llama-3.3-70B"]


def test_70b_bf16_does_not_fit_one_h100_but_fits_two():
    # 70.6e9 params x 2 bytes = 141 GB of weights > 80 GB of HBM.
    with pytest.raises(
        ModelDoesNotFitError,
        match=r"needs 141 GB of weights; H100 SXM 80GB x "
        r"TP=1 has 80 GB",
    ):
        estimate_throughput(LLAMA70, H100, Precision.BF16, 1, 1000, 200)
    t = estimate_throughput(LLAMA70, H100, Precision.BF16, 2, 1000, 200)
    assert t.tp == 2 and t.weights_gb_per_gpu == pytest.approx(70.6)
    assert smallest_tp(LLAMA70, H100, Precision.BF16, 1000, 200) == 2
    assert smallest_tp(LLAMA70, H100, Precision.FP8, 1000, 200) == 1


def test_405b_bf16_fits_no_tp_on_h100():
    with pytest.raises(ModelDoesNotFitError, match="TP=8"):
        smallest_tp(load_llms()["Llama-3.1-405B"], H100, Precision.BF16, 1000, 200)


def test_kv_bytes_per_token_by_hand():
    # 2 (K and V) x 80 layers x 8 KV heads x 128 head dim x 2 bytes
    assert LLAMA70.kv_bytes_per_token(2) == 327_680
    t = estimate_throughput(LLAMA70, H100, Precision.FP8, 2, 1000, 200)
    assert t.kv_bytes_per_token == 163_840


def test_latency_target_caps_batch_and_impossible_target_raises():
    free = estimate_throughput(LLAMA70, H100, Precision.FP8, 2, 1000, 300)
    capped = estimate_throughput(LLAMA70, H100, Precision.FP8, 2, 1000, 300, max_ms_per_output_token=40)
    assert capped.limited_by == "latency target" and capped.ms_per_output_token <= 40
    assert capped.batch_size < free.batch_size
    assert capped.output_tokens_per_s_per_gpu < free.output_tokens_per_s_per_gpu
    with pytest.raises(LatencyTargetError, match="ms per output token even at batch 1"):
        estimate_throughput(LLAMA70, H100, Precision.FP8, 2, 1000, 300, max_ms_per_output_token=1)


def test_measured_figure_wins():
    t = estimate_throughput(LLAMA70, H100, Precision.FP8, 2, 1000, 300, measured_output_tokens_per_s_per_gpu=1234.0)
    assert t.measured and t.output_tokens_per_s_per_gpu == 1234.0
    assert t.output_tokens_per_s_per_replica == 2468.0


def test_moe_reads_fewer_weights_than_dense_of_same_size():
    llms = load_llms()
    h200 = load_gpus()["H200 SXM 141GB"]
    moe = estimate_throughput(llms["Qwen3-30B-A3B"], h200, Precision.FP8, 1, 1000, 1000)
    assert (
        moe.output_tokens_per_s_per_gpu
        > estimate_throughput(llms["Llama-3.1-8B"], h200, Precision.FP8, 1, 1000, 1000).output_tokens_per_s_per_gpu
    )


def test_invalid_inputs_name_the_field():
    with pytest.raises(InvalidInputError, match="tp must be one of"):
        estimate_throughput(LLAMA70, H100, Precision.FP8, 3, 1000, 200)
    with pytest.raises(InvalidInputError, match="output_tokens"):
        estimate_throughput(LLAMA70, H100, Precision.FP8, 2, 1000, 0)
    with pytest.raises(ThroughputError, match="no FP8"):
        estimate_throughput(LLAMA70, load_gpus()["A100 SXM 80GB"], Precision.FP8, 2, 1000, 200)
    assert issubclass(ModelDoesNotFitError, ValueError)


def test_calibrated_estimate_tracks_published_rows():
    rows = [r for r, _ in calibration_errors()]
    errors = sorted(abs(est / r.output_tokens_per_s_per_gpu - 1) for r, est in calibration_errors())
    assert errors[len(errors) // 2] < 0.15  # in-sample median; cross-validated in test_throughput_validation
    assert error_table().count("\n| ") == len(rows)  # one line per row
