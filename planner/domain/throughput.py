"""LLM serving throughput per GPU from a roofline estimate (prefill compute-bound, decode
memory-bandwidth-bound), calibrated on published TensorRT-LLM figures; a measured figure wins.

`python -m planner.domain.throughput --error-table` prints the estimator's error on each
calibration row (the table in docs/planner.md); `--fit` refits the efficiency factors.
"""

from __future__ import annotations

import argparse
import itertools
import math
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from planner.domain.reference import (
    GpuSpec,
    InvalidInputError,
    LlmSpec,
    ThroughputMeasurement,
    check_positive,
    load_gpus,
    load_llms,
    load_throughput_calibration,
)

TP_SIZES = (1, 2, 4, 8)
# Share of HBM kept for activations, CUDA context and runtime workspace; TensorRT-LLM by
# default hands the KV cache 90% of what is left after weights.
HBM_RESERVE_FRACTION = 0.10
# In-flight batching engines cap concurrent sequences (TensorRT-LLM's default max batch).
MAX_BATCH = 2048


class Precision(Enum):
    """Weight precision; also sets KV-cache bytes and which tensor-core rate is used."""

    BF16 = ("FP16/BF16", 2.0, 2.0, False)
    FP8 = ("FP8", 1.0, 1.0, True)
    INT8 = ("INT8", 1.0, 1.0, True)  # INT8 tensor cores run at the FP8 rate on Hopper/Ada
    INT4 = ("INT4 weights", 0.5, 2.0, False)  # W4A16: math and KV cache stay 16-bit

    def __init__(self, label: str, weight_bytes: float, kv_bytes: float, fp8_math: bool):
        self.label = label
        self.weight_bytes = weight_bytes
        self.kv_bytes = kv_bytes
        self.fp8_math = fp8_math

    @classmethod
    def parse(cls, text: str) -> Precision:
        for p in cls:
            if text.upper() in (p.name, p.label.upper()) or text.upper() in p.label.split("/"):
                return p
        raise InvalidInputError(f"precision must be BF16, FP16, FP8, INT8 or INT4; got {text!r}")


@dataclass(frozen=True)
class Efficiency:
    """Achieved share of peak bandwidth and peak dense tensor FLOP/s."""

    bandwidth: float
    compute: float


# Fitted by `python -m planner.domain.throughput --fit`: grid search (step 0.01) minimising
# the sum of squared log errors over planner/data/trtllm-throughput-calibration.csv.
EFFICIENCY = Efficiency(bandwidth=0.94, compute=0.57)


class ThroughputError(InvalidInputError):
    """The model cannot be served as asked."""


class ModelDoesNotFitError(ThroughputError):
    pass


class LatencyTargetError(ThroughputError):
    pass


@dataclass(frozen=True)
class Throughput:
    """Steady-state output tokens/s of one replica (tp GPUs) at the chosen batch size."""

    model: str
    gpu: str
    precision: str
    tp: int
    output_tokens_per_s_per_replica: float
    batch_size: int
    limited_by: str  # "memory", "latency target", "max batch" or "measured"
    ms_per_output_token: float
    prefill_ms_per_request: float
    weights_gb_per_gpu: float
    kv_bytes_per_token: float
    measured: bool = False

    @property
    def output_tokens_per_s_per_gpu(self) -> float:
        return self.output_tokens_per_s_per_replica / self.tp


def _tflops(gpu: GpuSpec, precision: Precision) -> float:
    if precision is Precision.FP8 and gpu.fp8_dense_tflops is None:
        raise ThroughputError(f"{gpu.name} has no FP8 tensor cores; use BF16, INT8 or INT4")
    if precision.fp8_math and gpu.fp8_dense_tflops is not None:
        return gpu.fp8_dense_tflops
    return gpu.bf16_dense_tflops


def _check_fit(model: LlmSpec, gpu: GpuSpec, precision: Precision, tp: int, context_tokens: int) -> tuple[float, float]:
    """(bytes of weights, bytes left for KV cache) per replica, or ModelDoesNotFitError."""
    weights = model.total_params_b * 1e9 * precision.weight_bytes
    hbm = gpu.memory_gb * 1e9 * tp
    usable = hbm * (1 - HBM_RESERVE_FRACTION)
    where = f"{gpu.name} x TP={tp} has {hbm / 1e9:.0f} GB"
    if weights > usable:
        raise ModelDoesNotFitError(
            f"{model.name} in {precision.label} needs {weights / 1e9:.0f} GB of weights; {where}"
            f" ({usable / 1e9:.0f} GB after the {HBM_RESERVE_FRACTION:.0%} runtime reserve)"
        )
    seq_kv = model.kv_bytes_per_token(precision.kv_bytes) * context_tokens
    if usable - weights < seq_kv:
        raise ModelDoesNotFitError(
            f"{model.name} in {precision.label} leaves {(usable - weights) / 1e9:.1f} GB for KV "
            f"cache on {gpu.name} x TP={tp}; one {context_tokens:,}-token sequence needs "
            f"{seq_kv / 1e9:.1f} GB"
        )
    return weights, usable - weights


def estimate_throughput(
    model: LlmSpec,
    gpu: GpuSpec,
    precision: Precision,
    tp: int,
    input_tokens: int,
    output_tokens: int,
    max_ms_per_output_token: float | None = None,
    measured_output_tokens_per_s_per_gpu: float | None = None,
    efficiency: Efficiency = EFFICIENCY,
) -> Throughput:
    """Output tokens/s per replica of `tp` GPUs serving requests of fixed lengths (tokens).

    Batch size is the largest that fits the HBM left after weights (each sequence holding its
    full input+output KV cache), the engine's MAX_BATCH and the latency target in ms per
    output token (decode step time plus the share of prefills interleaved with it). A measured
    figure (output tokens/s per GPU), when given, replaces the estimate.
    """
    if tp not in TP_SIZES:
        raise InvalidInputError(f"tp must be one of {TP_SIZES}, got {tp!r}")
    check_positive("input_tokens", input_tokens)
    check_positive("output_tokens", output_tokens)
    if max_ms_per_output_token is not None:
        check_positive("max_ms_per_output_token", max_ms_per_output_token)
    weights, kv_free = _check_fit(model, gpu, precision, tp, input_tokens + output_tokens)
    kv_tok = model.kv_bytes_per_token(precision.kv_bytes)
    b_mem = int(kv_free // (kv_tok * (input_tokens + output_tokens)))
    batch = np.arange(1, min(b_mem, MAX_BATCH) + 1, dtype=float)

    flops = tp * _tflops(gpu, precision) * 1e12 * efficiency.compute
    bandwidth = tp * gpu.bandwidth_tb_s * 1e12 * efficiency.bandwidth
    active = model.active_params_b * 1e9
    attn_width = model.attention_heads * model.head_dim
    mean_context = input_tokens + output_tokens / 2
    # MoE: a batch touches more experts as it grows; routing assumed uniform and independent.
    weights_read = weights * (1 - (1 - model.active_params_b / model.total_params_b) ** batch)
    t_memory = (weights_read + batch * mean_context * kv_tok) / bandwidth
    t_compute = batch * (2 * active + 4 * model.layers * attn_width * mean_context) / flops
    # Added, not max(): decode kernels overlap weight/KV reads and math poorly; the sum fits
    # the published rows better (RMS log error 0.081 vs 0.119 for the max with refitted factors).
    step_s = t_memory + t_compute
    prefill_s = (2 * active * input_tokens + 2 * model.layers * attn_width * input_tokens**2) / flops
    # Each sequence's prefill is interleaved with the batch's decode steps (in-flight batching).
    s_per_token = step_s + batch * prefill_s / output_tokens
    tokens_per_s = batch / s_per_token

    ok = np.ones_like(batch, dtype=bool)
    if max_ms_per_output_token is not None:
        ok = s_per_token * 1e3 <= max_ms_per_output_token
        if not ok[0]:
            raise LatencyTargetError(
                f"{model.name} on {gpu.name} x TP={tp} in {precision.label} needs "
                f"{s_per_token[0] * 1e3:.1f} ms per output token even at batch 1; the target "
                f"is {max_ms_per_output_token:g} ms (try a larger TP or a faster GPU)"
            )
    i = int(np.flatnonzero(ok)[np.argmax(tokens_per_s[ok])])
    limited_by = (
        "latency target" if not ok.all() else "max batch" if batch.size == MAX_BATCH and b_mem > MAX_BATCH else "memory"
    )
    result = Throughput(
        model=model.name,
        gpu=gpu.name,
        precision=precision.label,
        tp=tp,
        output_tokens_per_s_per_replica=float(tokens_per_s[i]),
        batch_size=int(batch[i]),
        limited_by=limited_by,
        ms_per_output_token=float(s_per_token[i] * 1e3),
        prefill_ms_per_request=float(prefill_s * 1e3),
        weights_gb_per_gpu=weights / tp / 1e9,
        kv_bytes_per_token=kv_tok,
    )
    if measured_output_tokens_per_s_per_gpu is None:
        return result
    check_positive("measured_output_tokens_per_s_per_gpu", measured_output_tokens_per_s_per_gpu)
    return replace(
        result,
        measured=True,
        limited_by="measured",
        output_tokens_per_s_per_replica=measured_output_tokens_per_s_per_gpu * tp,
    )


def smallest_tp(model: LlmSpec, gpu: GpuSpec, precision: Precision, input_tokens: int, output_tokens: int) -> int:
    """Smallest tensor-parallel size in TP_SIZES whose HBM holds the weights and one sequence."""
    for tp in TP_SIZES:
        try:
            _check_fit(model, gpu, precision, tp, input_tokens + output_tokens)
            return tp
        except ModelDoesNotFitError as exc:
            last = exc
    raise last


def calibration_errors(
    rows: tuple[ThroughputMeasurement, ...] | None = None, efficiency: Efficiency = EFFICIENCY
) -> list[tuple[ThroughputMeasurement, float]]:
    """(row, estimated output tokens/s per GPU) for each published row."""
    gpus, llms = load_gpus(), load_llms()
    return [
        (
            r,
            estimate_throughput(
                llms[r.model],
                gpus[r.gpu],
                Precision.parse(r.precision),
                r.tp,
                r.input_tokens,
                r.output_tokens,
                efficiency=efficiency,
            ).output_tokens_per_s_per_gpu,
        )
        for r in rows or load_throughput_calibration()
    ]


def fit_efficiency(step: float = 0.01) -> tuple[Efficiency, float]:
    """Grid search for the factors minimising the sum of squared log errors; (best, RMS log)."""
    grid = np.arange(0.2, 1.0 + step / 2, step)
    best = (math.inf, EFFICIENCY)
    for bw, fl in itertools.product(grid, grid):
        eff = Efficiency(round(float(bw), 4), round(float(fl), 4))
        sse = sum(math.log(est / r.output_tokens_per_s_per_gpu) ** 2 for r, est in calibration_errors(efficiency=eff))
        best = min(best, (sse, eff), key=lambda t: t[0])
    return best[1], math.sqrt(best[0] / len(load_throughput_calibration()))


def error_table() -> str:
    """Markdown table of estimate vs published figure per calibration row."""
    lines = [
        "| model | GPU | precision | TP | ISL/OSL | published tok/s/GPU | estimate | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    errors = []
    for r, est in calibration_errors():
        err = est / r.output_tokens_per_s_per_gpu - 1
        errors.append(abs(err))
        lines.append(
            f"| {r.model} | {r.gpu} | {r.precision} | {r.tp} | {r.input_tokens}/"
            f"{r.output_tokens} | {r.output_tokens_per_s_per_gpu:,.0f} | {est:,.0f} | "
            f"{err:+.0%} |"
        )
    lines.append(
        f"\nMean absolute error {np.mean(errors):.0%}, worst {max(errors):.0%} "
        f"(efficiency: bandwidth {EFFICIENCY.bandwidth}, compute {EFFICIENCY.compute})."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--error-table", action="store_true")
    parser.add_argument("--fit", action="store_true")
    args = parser.parse_args()
    if args.fit:
        print(fit_efficiency())
    if args.error_table or not args.fit:
        print(error_table())
