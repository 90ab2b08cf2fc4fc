"""LLM serving throughput per GPU from a roofline estimate: decode reads weights and KV cache
(memory-bound), prefill multiplies (compute-bound), tensor parallelism adds two all-reduces a
layer, pipeline parallelism a bubble, and MoE reads only the experts a batch touches.
Efficiency factors are fitted on published rows (planner/domain/throughput_validation.py
reports cross-validated errors); a measured figure wins.

`python -m planner.domain.throughput --error-table` prints the error on each calibration row.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from planner.domain.moe import expert_share_read
from planner.domain.parallelism import (
    ACTIVATION_BYTES,
    all_to_all_s,
    allreduce_s,
    bubble_fraction,
    link_for,
    pipeline_time_s,
)
from reference.catalog import (
    GpuSpec,
    InvalidInputError,
    LlmSpec,
    ThroughputMeasurement,
    check_positive,
    close_matches,
    load_calibration_sources,
    load_gpus,
    load_llms,
)

TP_SIZES = (1, 2, 4, 8)
PP_SIZES = (1, 2, 4, 8)
# In-flight batching engines cap concurrent sequences (TensorRT-LLM's default max batch).
MAX_BATCH = 2048
HARNESSES = ("offline", "online burst")


class Precision(Enum):
    """Weight precision and the tensor-core rate the math runs at; also the default KV dtype."""

    BF16 = ("FP16/BF16", 2.0, 2.0, "bf16")
    FP8 = ("FP8", 1.0, 1.0, "fp8")
    INT8 = ("INT8", 1.0, 1.0, "int8")  # W8A8 (SmoothQuant): INT8 tensor cores
    W8A16 = ("INT8 weights (W8A16)", 1.0, 2.0, "bf16")  # weight-only: dequantised to 16-bit math
    INT4 = ("INT4 weights", 0.5, 2.0, "bf16")  # AWQ/GPTQ W4A16: math and KV cache stay 16-bit
    # NVFP4: 4-bit values + one FP8 scale per 16 (4.5 bits); MXFP4 one E8M0 per 32 (4.25).
    FP4 = ("FP4 (NVFP4/MXFP4)", 0.5625, 1.0, "fp4")

    def __init__(self, label: str, weight_bytes: float, kv_bytes: float, math: str):
        self.label = label
        self.weight_bytes = weight_bytes
        self.kv_bytes = kv_bytes
        self.math = math

    @classmethod
    def parse(cls, text: str) -> Precision:
        key = text.strip().upper()
        for p in cls:
            if key in (p.name, p.label.upper()) or key in p.label.upper().split("/"):
                return p
        aliases = {"FP16": cls.BF16, "NVFP4": cls.FP4, "MXFP4": cls.FP4, "AWQ": cls.INT4, "GPTQ": cls.INT4}
        if key in aliases:
            return aliases[key]
        names = [p.name for p in cls]
        near = close_matches(text, names)
        raise InvalidInputError(
            f"precision must be one of {', '.join(names)} (or FP16, NVFP4, MXFP4, AWQ, GPTQ); got {text!r}"
            + (f"; did you mean {', '.join(near)}?" if near else "")
        )


KV_DTYPE_BYTES = {"BF16": 2.0, "FP16": 2.0, "FP8": 1.0, "INT8": 1.0, "FP4": 0.5625, "NVFP4": 0.5625}


def kv_dtype_bytes(kv_dtype: str | None, precision: Precision, fp4_math: bool) -> float:
    """Bytes per cached value: the KV dtype asked for, else the precision's default (16-bit
    when FP4 weights run as weight-only on a GPU without FP4 tensor cores)."""
    if kv_dtype is None:
        return precision.kv_bytes if precision is not Precision.FP4 or fp4_math else 2.0
    try:
        return KV_DTYPE_BYTES[kv_dtype.strip().upper()]
    except KeyError:
        raise InvalidInputError(f"kv_dtype must be one of {', '.join(KV_DTYPE_BYTES)}; got {kv_dtype!r}") from None


@dataclass(frozen=True)
class Efficiency:
    """Achieved shares of peak: memory bandwidth and dense tensor FLOP/s; `moe` multiplies
    the compute share for routed-expert matmuls (grouped GEMMs of small per-expert batches);
    `online` is the throughput an HTTP server under a burst of requests keeps of the offline
    figure (request handling, ramp-up and tail)."""

    bandwidth: float
    compute: float
    moe: float = 1.0
    online: float = 1.0
    # Share of the shorter of a decode step's memory and math times not hidden under the longer:
    # 1 adds them, 0 is the roofline max.
    overlap: float = 1.0
    # Fixed time per layer of a tensor-parallel decode step (tp > 1) beyond the all-reduce model:
    # the devices synchronising at each layer's all-reduces, which no batch size amortises (us).
    tp_layer_us: float = 0.0
    # Share of the compute factor the ROCm stack reaches on AMD Instinct (vLLM's decode GEMMs).
    rocm: float = 1.0


# Fitted by planner/domain/throughput_validation.py (`python -m
# planner.domain.throughput_validation --fit`) on every calibration row; docs/planner.md has
# the cross-validated errors.
EFFICIENCY = Efficiency(bandwidth=0.974, compute=0.828, moe=0.715, online=0.485, tp_layer_us=81.5, rocm=0.551)
# No published rows to fit for CPUs and Apple silicon: decode on CPUs reaches about 75% of
# theoretical DDR bandwidth (STREAM-class), and the CPU check on the development machine
# (tests/fixtures/device-cpu-decode) measured decode at the ratio of STREAM recorded there.
# Compute factors are of the sustained rate (peak x the default sustained share 0.79): 0.3 and 0.4 of peak.
DEVICE_EFFICIENCY = {
    "cpu": Efficiency(bandwidth=0.6, compute=0.38),
    "apple": Efficiency(bandwidth=0.65, compute=0.51),
}


class ThroughputError(InvalidInputError):
    """The model cannot be served as asked."""


class ModelDoesNotFitError(ThroughputError):
    pass


class LatencyTargetError(ThroughputError):
    pass


@dataclass(frozen=True)
class Throughput:
    """Steady-state output tokens/s of one replica (tp x pp GPUs) at the chosen batch size."""

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
    pp: int = 1
    comm_ms_per_step: float = 0.0  # tensor/expert-parallel communication in the chosen step
    kv_dtype_bytes: float = 2.0
    notes: tuple[str, ...] = ()

    @property
    def gpus_per_replica(self) -> int:
        return self.tp * self.pp

    @property
    def output_tokens_per_s_per_gpu(self) -> float:
        return self.output_tokens_per_s_per_replica / self.gpus_per_replica


def math_tflops(gpu: GpuSpec, precision: Precision) -> tuple[float, str | None]:
    """(sustained dense TFLOP/s the math runs at, a note when it falls back)."""
    rate, note = _peak_tflops(gpu, precision)
    share = gpu.sustained_8bit_share if precision.math in ("fp8", "int8") else None
    return rate * (share or gpu.sustained_compute_share), note


def _peak_tflops(gpu: GpuSpec, precision: Precision) -> tuple[float, str | None]:
    if precision.math == "fp8":
        if gpu.fp8_dense_tflops is None:
            raise ThroughputError(f"{gpu.name} has no FP8 tensor cores; use BF16, INT8 or INT4 weights")
        return gpu.fp8_dense_tflops, None
    if precision.math == "int8":
        rate = gpu.int8_dense_tops or gpu.fp8_dense_tflops
        if rate is None:
            raise ThroughputError(f"{gpu.name} has no INT8 tensor-core rate in the catalog; use W8A16 or BF16")
        return rate, None
    if precision.math == "fp4":
        if gpu.fp4_dense_tflops is not None:
            return gpu.fp4_dense_tflops, None
        return gpu.bf16_dense_tflops, (
            f"{gpu.name} has no FP4 tensor cores: FP4 weights are dequantised to 16-bit math "
            "(weight-only, as vLLM runs MXFP4 on Hopper); memory traffic still shrinks"
        )
    return gpu.bf16_dense_tflops, None


def accuracy_notes(model: LlmSpec, precision: Precision, kv_bytes: float) -> tuple[str, ...]:
    notes = []
    if precision.weight_bytes < 1:
        notes.append(
            "4-bit weights lose some accuracy; calibrated schemes (AWQ, GPTQ, NVFP4) recover most of it: "
            "check the task's own evaluation"
        )
        if model.quantization_note == "llama3":
            notes.append(
                f"{model.name}: Llama 3 models degrade more under low-bit quantization than Llama 2 "
                "(Huang et al. 2024, 'How Good Are Low-bit Quantized LLaMA3 Models?')"
            )
    elif precision in (Precision.FP8, Precision.INT8):
        notes.append("8-bit weights and activations: typically within about 1% of BF16 on standard benchmarks")
    if kv_bytes < 1:
        notes.append("FP4 KV cache: accuracy on long contexts is not established; validate before serving")
    return tuple(notes)


@dataclass(frozen=True)
class _Replica:
    """Fixed quantities of one configuration, per replica of tp x pp devices."""

    model: LlmSpec
    gpu: GpuSpec
    precision: Precision
    tp: int
    pp: int
    weights: float  # bytes
    kv_free: float  # bytes
    kv_bytes: float  # per cached value
    tflops: float


def _check_fit(
    model: LlmSpec, gpu: GpuSpec, precision: Precision, tp: int, context_tokens: int, kv_bytes: float, pp: int = 1
) -> tuple[float, float]:
    """(bytes of weights, bytes left for KV cache) per replica, or ModelDoesNotFitError
    saying by how many GB it misses and what would fit."""
    weights = model.total_params_b * 1e9 * precision.weight_bytes
    devices = tp * pp
    memory = gpu.memory_gb * 1e9 * devices
    usable = memory * gpu.usable_memory_fraction
    layout = f"{gpu.name} x TP={tp}" + (f" x PP={pp}" if pp > 1 else "")
    where = f"{layout} has {memory / 1e9:.0f} GB"
    reserve = 1 - gpu.usable_memory_fraction
    if weights > usable:
        per_device = gpu.memory_gb * gpu.usable_memory_fraction
        need = next((n for n in (1, 2, 4, 8, 16, 32, 64, 72) if n * per_device * 1e9 > weights), None)
        hint = f"; {need} devices would hold the weights" if need else ""
        raise ModelDoesNotFitError(
            f"{model.name} in {precision.label} needs {weights / 1e9:.0f} GB of weights; {where}"
            f" ({usable / 1e9:.0f} GB after the {reserve:.0%} runtime reserve), "
            f"{(weights - usable) / 1e9:.0f} GB short{hint}"
        )
    seq_kv = model.kv_bytes_per_token(kv_bytes, context_tokens) * context_tokens
    if usable - weights < seq_kv:
        fits = int((usable - weights) / max(model.kv_bytes_per_token(kv_bytes), 1))
        raise ModelDoesNotFitError(
            f"{model.name} in {precision.label} leaves {(usable - weights) / 1e9:.1f} GB for KV "
            f"cache on {layout}; one {context_tokens:,}-token sequence needs "
            f"{seq_kv / 1e9:.1f} GB ({(seq_kv - usable + weights) / 1e9:.1f} GB short; about "
            f"{fits:,} tokens of context would fit)"
        )
    return weights, usable - weights


def _attention_flops_per_token(model: LlmSpec, context, prefill: bool = False) -> np.ndarray:
    """Score and value products of one new token against `context` cached tokens, all layers."""
    context = np.asarray(context, dtype=float)
    full = model.layers - model.sliding_layers
    windowed = model.sliding_layers * (np.minimum(context, model.sliding_window) if model.sliding_window else context)
    return 4 * model.attention_width(prefill) * (full * context + windowed)


def _is_rocm(gpu: GpuSpec) -> bool:
    return gpu.kind == "gpu" and gpu.name.startswith("MI")


def _compute_s(r: _Replica, dense_flops, expert_flops, efficiency: Efficiency):
    share = efficiency.compute * (efficiency.rocm if _is_rocm(r.gpu) else 1.0)
    rate = r.tp * r.pp * r.tflops * 1e12 * share
    return dense_flops / rate + expert_flops / (rate * efficiency.moe)


def _layer_comm_s(r: _Replica, tokens, expert_parallel: bool):
    """Communication of one forward pass over `tokens` tokens, whole model, one TP group:
    two all-reduces a layer (after attention and after the MLP), or with expert parallelism
    an all-to-all dispatch and combine in place of the MoE layers' second all-reduce."""
    link = link_for(r.gpu, r.tp)
    message = np.asarray(tokens, dtype=float) * r.model.hidden_size * ACTIVATION_BYTES
    per_layer = 2 * allreduce_s(message, r.tp, link)
    if expert_parallel and r.model.is_moe:
        routed = message * r.model.experts_per_token / r.tp
        per_layer = allreduce_s(message, r.tp, link) + 2 * all_to_all_s(routed, r.tp, link)
    return r.model.layers * per_layer


def _decode_step_s(r: _Replica, batch, mean_context: float, expert_parallel: bool, efficiency: Efficiency):
    """(time of one decode step of `batch` sequences through the whole model on one TP
    group's share of the work, its communication part)."""
    m = r.model
    wb = r.precision.weight_bytes
    if m.is_moe:
        experts_read = m.expert_params_b * 1e9 * wb * expert_share_read(m.experts, m.experts_per_token, batch)
        weights_read = m.always_read_params_b * 1e9 * wb + experts_read
    else:
        weights_read = np.full_like(batch, r.weights)
    kv_read = batch * mean_context * m.kv_bytes_per_token(r.kv_bytes, mean_context)
    t_memory = (weights_read + kv_read) / (r.tp * r.pp * r.gpu.bandwidth_tb_s * 1e12 * efficiency.bandwidth)
    dense = batch * (2 * m.always_read_params_b * 1e9 + _attention_flops_per_token(m, mean_context))
    expert = batch * 2 * (m.active_params_b - m.always_read_params_b) * 1e9
    t_compute = _compute_s(r, dense, expert, efficiency)
    comm = _layer_comm_s(r, batch, expert_parallel)
    if r.tp > 1:
        comm = comm + m.layers / r.pp * efficiency.tp_layer_us * 1e-6
    # overlap 1 adds memory and math time (what the published rows support out of sample); a
    # single GPU replaying a CUDA graph hides the math under the reads (overlap 0, Device checks).
    hidden = efficiency.overlap * np.minimum(t_memory, t_compute)
    return np.maximum(t_memory, t_compute) + hidden + comm, comm


def _replica(model: LlmSpec, gpu: GpuSpec, precision: Precision, tp: int, kv_dtype: str | None) -> _Replica:
    tflops, fallback = math_tflops(gpu, precision)
    kv_bytes = kv_dtype_bytes(kv_dtype, precision, fp4_math=fallback is None)
    weights = model.total_params_b * 1e9 * precision.weight_bytes
    return _Replica(model, gpu, precision, tp, 1, weights, 0, kv_bytes, tflops)


def decode_step_ms(
    model: LlmSpec,
    gpu: GpuSpec,
    precision: Precision,
    tp: int,
    batch: int,
    context_tokens: int,
    efficiency: Efficiency | None = None,
    kv_dtype: str | None = None,
) -> float:
    """Estimated time of one decode step of `batch` sequences holding `context_tokens` each
    (no prefill interleaved): what the device recordings are checked against."""
    eff = efficiency or DEVICE_EFFICIENCY.get(gpu.kind, EFFICIENCY)
    r = _replica(model, gpu, precision, tp, kv_dtype)
    step, _ = _decode_step_s(r, np.array([float(batch)]), context_tokens, False, eff)
    return float(step[0] * 1e3)


def prefill_ms(
    model: LlmSpec, gpu: GpuSpec, precision: Precision, tp: int, input_tokens: int, efficiency: Efficiency | None = None
) -> float:
    """Estimated time of one request's prefill of `input_tokens` tokens."""
    eff = efficiency or DEVICE_EFFICIENCY.get(gpu.kind, EFFICIENCY)
    return _prefill_s(_replica(model, gpu, precision, tp, None), input_tokens, False, eff) * 1e3


def _prefill_s(r: _Replica, input_tokens: int, expert_parallel: bool, efficiency: Efficiency) -> float:
    m = r.model
    dense = 2 * m.always_read_params_b * 1e9 * input_tokens
    dense += _attention_flops_per_token(m, input_tokens / 2, prefill=True) * input_tokens
    expert = 2 * (m.active_params_b - m.always_read_params_b) * 1e9 * input_tokens
    return float(_compute_s(r, dense, expert, efficiency)) + float(_layer_comm_s(r, input_tokens, expert_parallel))


def estimate_throughput(
    model: LlmSpec,
    gpu: GpuSpec,
    precision: Precision,
    tp: int,
    input_tokens: int,
    output_tokens: int,
    max_ms_per_output_token: float | None = None,
    measured_output_tokens_per_s_per_gpu: float | None = None,
    efficiency: Efficiency | None = None,
    *,
    pp: int = 1,
    microbatches: int | None = None,
    kv_dtype: str | None = None,
    expert_parallel: bool = False,
    max_batch: int = MAX_BATCH,
    harness: str = "offline",
) -> Throughput:
    """Output tokens/s per replica of `tp` x `pp` GPUs serving requests of fixed lengths.

    Batch size is the largest that fits the memory left after weights (each sequence holding
    its full input+output KV cache), `max_batch` and the latency target in ms per output
    token (decode step time plus the share of prefills interleaved with it). Pipeline
    parallelism splits the batch into `microbatches` (default pp) and pays the bubble. A
    measured figure (output tokens/s per GPU), when given, replaces the estimate.
    """
    if tp not in TP_SIZES:
        raise InvalidInputError(f"tp must be one of {TP_SIZES}, got {tp!r}")
    if pp not in PP_SIZES:
        raise InvalidInputError(f"pp must be one of {PP_SIZES}, got {pp!r}")
    if model.layers < pp:
        raise InvalidInputError(f"pp={pp} exceeds {model.name}'s {model.layers} layers")
    if harness not in HARNESSES:
        raise InvalidInputError(f"harness must be one of {HARNESSES}, got {harness!r}")
    check_positive("input_tokens", input_tokens)
    check_positive("output_tokens", output_tokens)
    check_positive("max_batch", max_batch)
    micro = microbatches or pp
    check_positive("microbatches", micro)
    if max_ms_per_output_token is not None:
        check_positive("max_ms_per_output_token", max_ms_per_output_token)
    if efficiency is None:
        efficiency = DEVICE_EFFICIENCY.get(gpu.kind, EFFICIENCY)
    tflops, fallback = math_tflops(gpu, precision)
    kv_bytes = kv_dtype_bytes(kv_dtype, precision, fp4_math=fallback is None)
    context = input_tokens + output_tokens
    weights, kv_free = _check_fit(model, gpu, precision, tp, context, kv_bytes, pp)
    r = _Replica(model, gpu, precision, tp, pp, weights, kv_free, kv_bytes, tflops)
    kv_seq = model.kv_bytes_per_token(kv_bytes, context) * context
    b_mem = int(kv_free // kv_seq)
    batch = np.arange(1, min(b_mem, max_batch) + 1, dtype=float)

    mean_context = input_tokens + output_tokens / 2
    if pp == 1:
        step_s, comm_s = _decode_step_s(r, batch, mean_context, expert_parallel, efficiency)
    else:
        # Each stage does 1/pp of the model on its tp devices per micro-batch of batch/m.
        stage_s, comm_s = _decode_step_s(r, batch / micro, mean_context, expert_parallel, efficiency)
        link = link_for(gpu, tp * pp)
        hop = link.latency_s + batch / micro * model.hidden_size * ACTIVATION_BYTES / (link.gb_s * 1e9)
        step_s = pipeline_time_s(stage_s + hop, pp, micro)
        comm_s = comm_s * (micro + pp - 1) / pp
    prefill_s = _prefill_s(r, input_tokens, expert_parallel, efficiency)
    # Each sequence's prefill is interleaved with the batch's decode steps (in-flight batching).
    s_per_token = step_s + batch * prefill_s / output_tokens
    served = efficiency.online if harness == "online burst" else 1.0
    tokens_per_s = served * batch / s_per_token

    ok = np.ones_like(batch, dtype=bool)
    if max_ms_per_output_token is not None:
        ok = s_per_token * 1e3 <= max_ms_per_output_token
        if not ok[0]:
            raise LatencyTargetError(
                f"{model.name} on {gpu.name} x TP={tp}{f' x PP={pp}' if pp > 1 else ''} in {precision.label} needs "
                f"{s_per_token[0] * 1e3:.1f} ms per output token even at batch 1; the target "
                f"is {max_ms_per_output_token:g} ms (try a larger TP or a faster GPU)"
            )
    i = int(np.flatnonzero(ok)[np.argmax(tokens_per_s[ok])])
    limited_by = (
        "latency target" if not ok.all() else "max batch" if batch.size == max_batch and b_mem > max_batch else "memory"
    )
    notes = ((fallback,) if fallback else ()) + accuracy_notes(model, precision, kv_bytes)
    if pp > 1:
        notes += (f"pipeline bubble {bubble_fraction(pp, micro):.0%} of each step ({micro} micro-batches)",)
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
        weights_gb_per_gpu=weights / (tp * pp) / 1e9,
        kv_bytes_per_token=model.kv_bytes_per_token(kv_bytes),
        pp=pp,
        comm_ms_per_step=float(np.asarray(comm_s)[i] * 1e3),
        kv_dtype_bytes=kv_bytes,
        notes=notes,
    )
    if measured_output_tokens_per_s_per_gpu is None:
        return result
    check_positive("measured_output_tokens_per_s_per_gpu", measured_output_tokens_per_s_per_gpu)
    return replace(
        result,
        measured=True,
        limited_by="measured",
        output_tokens_per_s_per_replica=measured_output_tokens_per_s_per_gpu * tp * pp,
    )


def smallest_tp(model: LlmSpec, gpu: GpuSpec, precision: Precision, input_tokens: int, output_tokens: int) -> int:
    """Smallest tensor-parallel size in TP_SIZES whose memory holds the weights and one sequence."""
    _, fallback = math_tflops(gpu, precision)
    kv_bytes = kv_dtype_bytes(None, precision, fp4_math=fallback is None)
    for tp in TP_SIZES:
        try:
            _check_fit(model, gpu, precision, tp, input_tokens + output_tokens, kv_bytes)
            return tp
        except ModelDoesNotFitError as exc:
            last = exc
    raise last


def estimate_row(row: ThroughputMeasurement, efficiency: Efficiency | None = None) -> float:
    """Estimated output tokens/s per GPU for a published row's configuration."""
    return estimate_throughput(
        load_llms()[row.model],
        load_gpus()[row.gpu],
        Precision.parse(row.precision),
        row.tp,
        row.input_tokens,
        row.output_tokens,
        efficiency=efficiency,
        max_batch=row.max_batch,
        harness=row.harness,
    ).output_tokens_per_s_per_gpu


def calibration_errors(
    rows: tuple[ThroughputMeasurement, ...] | None = None, efficiency: Efficiency = EFFICIENCY
) -> list[tuple[ThroughputMeasurement, float]]:
    """(row, estimated output tokens/s per GPU) for each published row."""
    return [(r, estimate_row(r, efficiency)) for r in rows or load_calibration_sources()]


def error_table(efficiency: Efficiency = EFFICIENCY) -> str:
    """Markdown table of estimate vs published figure per calibration row (in-sample)."""
    lines = [
        "| model | GPU | precision | TP | ISL/OSL | engine, harness | published tok/s/GPU | estimate | error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    errors = []
    for r, est in calibration_errors(efficiency=efficiency):
        err = est / r.output_tokens_per_s_per_gpu - 1
        errors.append(abs(err))
        lines.append(
            f"| {r.model} | {r.gpu} | {r.precision} | {r.tp} | {r.input_tokens}/{r.output_tokens} | "
            f"{r.engine}, {r.harness} | {r.output_tokens_per_s_per_gpu:,.0f} | {est:,.0f} | {err:+.0%} |"
        )
    lines.append(
        f"\nIn-sample median absolute error {np.median(errors):.0%}, mean {np.mean(errors):.0%}, "
        f"worst {max(errors):.0%}."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--error-table", action="store_true")
    parser.parse_args()
    print(error_table())
