"""Published reference figures (reference/data/*.csv) as catalog dataclasses, plus the input
checks every planner module shares, so a bad input fails the same way everywhere."""

from __future__ import annotations

import csv
import difflib
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


class InvalidInputError(ValueError):
    """An input the user can fix; the message names the field."""


def check_positive(field: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise InvalidInputError(f"{field} must be a number > 0, got {value!r}")


def check_non_negative(field: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"{field} must be a number >= 0, got {value!r}")


def check_fraction(field: str, value: float, *, allow_zero: bool = True) -> None:
    """0 <= value <= 1 (0 < value <= 1 when allow_zero is False)."""
    check_non_negative(field, value)
    if value > 1 or (not allow_zero and value == 0):
        low = "0 <=" if allow_zero else "0 <"
        raise InvalidInputError(f"{field} must be a fraction with {low} value <= 1, got {value!r}")


class UnknownNameError(InvalidInputError):
    """A model or GPU name not in the catalog; the message lists the nearest entries."""


def close_matches(name: str, names) -> list[str]:
    """Catalog names nearest to `name` (case-insensitive), best first."""
    by_lower = {n.lower(): n for n in names}
    found = difflib.get_close_matches(name.lower(), by_lower, n=3, cutoff=0.4)
    found += [low for low in by_lower if name.lower() in low and low not in found]
    return [by_lower[low] for low in found][:5]


def lookup(catalog: dict, name: str, what: str):
    """catalog[name], or UnknownNameError naming the close matches."""
    try:
        return catalog[name]
    except KeyError:
        near = close_matches(name, catalog)
        hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
        raise UnknownNameError(f"unknown {what} {name!r}{hint} ({len(catalog)} in the catalog)") from None


@dataclass(frozen=True)
class GpuSpec:
    """Dense tensor throughput (vendors often print sparse figures, twice as large).

    Also CPUs (kind "cpu": one socket, DDR bandwidth, AMX/AVX-512 rate) and Apple silicon
    (kind "apple": unified memory). Interconnect figures are per device and per direction;
    None means "look the name up in the catalog", else a PCIe default (see parallelism.py)."""

    name: str
    memory_gb: float
    bandwidth_tb_s: float
    bf16_dense_tflops: float
    fp8_dense_tflops: float | None
    tdp_w: float
    fp4_dense_tflops: float | None = None
    int8_dense_tops: float | None = None
    kind: str = "gpu"
    interconnect: str = ""
    interconnect_gb_s: float | None = None
    fast_link_devices: int = 8  # devices the fast link joins (NVL pairs 2, HGX 8, NVL72 72)
    host_link_gb_s: float | None = None
    usable_memory_fraction: float = 0.9  # share of memory the runtime may take
    # Share of the printed dense peak a large matmul sustains (clocks under the power cap, the vendor's
    # GEMM library): 0.79 measured on an H100 (tests/fixtures/device-h100-steps), the default for devices
    # with no measurement; MI300X about 0.45. The fitted compute factor is the engine's share of this rate.
    sustained_compute_share: float = 0.79
    # 8-bit matmuls sustain less of their (twice as high) peak: FP8 0.712 on the H100 at 8192^3 against BF16's
    # 0.787 (tests/fixtures/device-h100-steps/h100-matmul.json); INT8 is taken to do the same (not measured).
    # None: the BF16 share, for want of a measurement.
    sustained_8bit_share: float | None = None

    def __post_init__(self) -> None:
        for field in ("memory_gb", "bandwidth_tb_s", "bf16_dense_tflops", "tdp_w"):
            check_positive(f"{self.name}.{field}", getattr(self, field))
        check_fraction(f"{self.name}.usable_memory_fraction", self.usable_memory_fraction, allow_zero=False)
        check_fraction(f"{self.name}.sustained_compute_share", self.sustained_compute_share, allow_zero=False)
        if self.sustained_8bit_share is not None:
            check_fraction(f"{self.name}.sustained_8bit_share", self.sustained_8bit_share, allow_zero=False)


@dataclass(frozen=True)
class LlmSpec:
    """Architecture from the model's published config.json.

    MoE: `experts` routed experts per MoE layer, `experts_per_token` of them per token, and
    `expert_params_b` the parameters of all routed experts together (the rest, attention,
    embeddings, shared experts and dense layers, is read every step). MLA (DeepSeek) caches
    `kv_lora_rank + qk_rope_head_dim` values per token and layer instead of K and V per head.
    Sliding-window attention keeps at most `sliding_window` tokens in `sliding_layers` layers."""

    name: str
    total_params_b: float
    active_params_b: float  # equals total for dense models; the routed subset for MoE
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    experts: int = 0
    experts_per_token: int = 0
    shared_experts: int = 0
    expert_params_b: float = 0.0
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    sliding_window: int = 0
    sliding_layers: int = 0
    quantization_note: str = ""

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def always_read_params_b(self) -> float:
        """Parameters every token uses: active minus the routed experts' share."""
        if not self.is_moe:
            return self.active_params_b
        return self.active_params_b - self.expert_params_b * self.experts_per_token / self.experts

    def __post_init__(self) -> None:
        for field in (
            "total_params_b",
            "active_params_b",
            "layers",
            "hidden_size",
            "attention_heads",
            "kv_heads",
            "head_dim",
        ):
            check_positive(f"{self.name}.{field}", getattr(self, field))
        if self.active_params_b > self.total_params_b:
            raise InvalidInputError(
                f"{self.name}.active_params_b ({self.active_params_b}) exceeds total_params_b ({self.total_params_b})"
            )
        if self.is_moe and not (0 < self.experts_per_token <= self.experts and 0 < self.expert_params_b):
            raise InvalidInputError(
                f"{self.name}: an MoE model needs 0 < experts_per_token <= experts and expert_params_b > 0"
            )
        if self.is_moe and self.always_read_params_b <= 0:
            raise InvalidInputError(f"{self.name}: active_params_b is less than the routed experts' share")
        if self.sliding_layers > self.layers:
            raise InvalidInputError(f"{self.name}.sliding_layers exceeds layers")

    def kv_values_per_token_layer(self) -> int:
        """Cached values per token and layer: K and V per KV head, or MLA's compressed latent."""
        if self.kv_lora_rank:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return 2 * self.kv_heads * self.head_dim

    def kv_bytes_per_token(self, bytes_per_element: float, context_tokens: float | None = None) -> float:
        """KV cache bytes per token of a sequence (mean over its `context_tokens`, where
        sliding-window layers stop growing); without a context, every layer counts fully."""
        full = self.layers - self.sliding_layers
        windowed = self.sliding_layers
        if context_tokens and self.sliding_window and context_tokens > self.sliding_window:
            windowed *= self.sliding_window / context_tokens
        return (full + windowed) * self.kv_values_per_token_layer() * bytes_per_element

    def attention_width(self, prefill: bool = False) -> int:
        """Per-layer width of the score and value products (heads x mean of the two dims) for
        attention FLOPs. MLA decodes in absorbed form against the 576-wide latent for scores and
        512 for values; its prefill expands K and V per head (head_dim + rope for scores)."""
        if self.kv_lora_rank and not prefill:
            return self.attention_heads * (2 * self.kv_lora_rank + self.qk_rope_head_dim) // 2
        if self.kv_lora_rank:
            return self.attention_heads * (2 * self.head_dim + self.qk_rope_head_dim) // 2
        return self.attention_heads * self.head_dim


@dataclass(frozen=True)
class CloudPrice:
    """A published rental price; `as_of` is kept as printed ("2024-12", "2025")."""

    provider: str
    offer: str
    gpu: str
    gpus_per_instance: int
    term: str  # on-demand, spot, capacity-block, 3-year, ...
    usd_per_gpu_hour_low: float
    usd_per_gpu_hour_high: float
    as_of: str
    source: str

    @property
    def usd_per_gpu_hour(self) -> float:
        return (self.usd_per_gpu_hour_low + self.usd_per_gpu_hour_high) / 2


@dataclass(frozen=True)
class ThroughputMeasurement:
    """A published benchmark row: total output tokens/s of `gpus` GPUs.

    `harness`: "offline" (max-throughput, all requests queued: trtllm-bench, vLLM
    benchmark_throughput) or "online burst" (an HTTP server sent every request at once)."""

    model: str
    gpu: str
    precision: str
    tp: int
    input_tokens: int
    output_tokens: int
    total_output_tokens_per_s: float
    gpus: int
    source: str
    engine: str = "TensorRT-LLM"
    harness: str = "offline"
    as_of: str = ""
    max_batch: int = 2048  # the engine's cap on concurrent sequences (vLLM's max_num_seqs)

    @property
    def output_tokens_per_s_per_gpu(self) -> float:
        return self.total_output_tokens_per_s / self.gpus


@dataclass(frozen=True)
class TokenPrice:
    """A published per-token API price (USD per 1M tokens), dated."""

    provider: str
    model: str  # catalog model name
    offer: str  # the provider's model id
    usd_per_million_input: float
    usd_per_million_output: float
    as_of: str
    source: str

    def __post_init__(self) -> None:
        check_non_negative(f"{self.provider} {self.offer}: usd_per_million_input", self.usd_per_million_input)
        check_non_negative(f"{self.provider} {self.offer}: usd_per_million_output", self.usd_per_million_output)


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _opt_float(text: str) -> float | None:
    return float(text) if text.strip() else None


@cache
def load_gpus() -> dict[str, GpuSpec]:
    """GPUs, CPUs and Apple silicon by name (reference/data/gpu-models.csv)."""
    return {
        r["model"]: GpuSpec(
            name=r["model"],
            memory_gb=float(r["memory_gb"]),
            bandwidth_tb_s=float(r["bandwidth_tb_s"]),
            bf16_dense_tflops=float(r["bf16_dense_tflops"]),
            fp8_dense_tflops=_opt_float(r["fp8_dense_tflops"]),
            tdp_w=float(r["tdp_w"]),
            fp4_dense_tflops=_opt_float(r["fp4_dense_tflops"]),
            int8_dense_tops=_opt_float(r["int8_dense_tops"]),
            kind=r["kind"],
            interconnect=r["interconnect"],
            interconnect_gb_s=_opt_float(r["interconnect_gb_s"]),
            fast_link_devices=int(r["fast_link_devices"]),
            host_link_gb_s=_opt_float(r["host_link_gb_s"]),
            usable_memory_fraction=float(r["usable_memory_fraction"]),
            **(
                {"sustained_compute_share": float(r["sustained_compute_share"])} if r["sustained_compute_share"] else {}
            ),
            sustained_8bit_share=_opt_float(r["sustained_8bit_share"]),
        )
        for r in _rows("gpu-models.csv")
    }


_LLM_INTS = ("layers", "hidden_size", "attention_heads", "kv_heads", "head_dim", "experts", "experts_per_token")
_LLM_INTS += ("shared_experts", "kv_lora_rank", "qk_rope_head_dim", "sliding_window", "sliding_layers")


@cache
def load_llms() -> dict[str, LlmSpec]:
    return {
        r["model"]: LlmSpec(
            name=r["model"],
            total_params_b=float(r["total_params_b"]),
            active_params_b=float(r["active_params_b"]),
            expert_params_b=float(r["expert_params_b"]),
            quantization_note=r["quantization_note"],
            **{f: int(r[f]) for f in _LLM_INTS},
        )
        for r in _rows("llm-models.csv")
    }


def gpu_named(name: str) -> GpuSpec:
    return lookup(load_gpus(), name, "GPU")


def llm_named(name: str) -> LlmSpec:
    return lookup(load_llms(), name, "model")


@cache
def load_cloud_prices() -> tuple[CloudPrice, ...]:
    prices = []
    for r in _rows("cloud-gpu-prices.csv"):
        low, _, high = r["usd_per_gpu_hour"].partition("-")  # spot rows print a range
        prices.append(
            CloudPrice(
                provider=r["provider"],
                offer=r["offer"],
                gpu=r["gpu"],
                gpus_per_instance=int(r["gpus"]),
                term=r["term"],
                usd_per_gpu_hour_low=float(low),
                usd_per_gpu_hour_high=float(high or low),
                as_of=r["as_of"],
                source=r["source"],
            )
        )
    return tuple(prices)


def _measurements(name: str) -> tuple[ThroughputMeasurement, ...]:
    rows, last_source = [], ""
    for r in _rows(name):
        # "same ..." repeats the row above's publication, with what differs after it.
        last_source = r["source"] if not r["source"].startswith("same") else last_source
        source = (
            last_source + r["source"].removeprefix("same").rstrip() if r["source"].startswith("same") else last_source
        )
        extra = {k: r[k] for k in ("engine", "harness", "as_of") if k in r}
        if "max_batch" in r:
            extra["max_batch"] = int(r["max_batch"])
        rows.append(
            ThroughputMeasurement(
                model=r["model"],
                gpu=r["gpu"],
                precision=r["precision"],
                tp=int(r["tp"]),
                input_tokens=int(r["isl"]),
                output_tokens=int(r["osl"]),
                total_output_tokens_per_s=float(r["total_output_tokens_per_s"]),
                gpus=int(r["gpus"]),
                source=source,
                **extra,
            )
        )
    return tuple(rows)


@cache
def load_throughput_calibration() -> tuple[ThroughputMeasurement, ...]:
    """The TensorRT-LLM perf-overview rows (kept apart: that table also judges the estimator)."""
    return _measurements("trtllm-throughput-calibration.csv")


@cache
def load_calibration_sources() -> tuple[ThroughputMeasurement, ...]:
    """Every calibration row: the TensorRT-LLM rows plus vLLM/SGLang/AMD publications."""
    return load_throughput_calibration() + _measurements("throughput-calibration-other.csv")


@cache
def load_token_prices() -> tuple[TokenPrice, ...]:
    """Cloud LLM APIs priced per token (reference/data/llm-api-prices.csv)."""
    return tuple(
        TokenPrice(
            provider=r["provider"],
            model=r["model"],
            offer=r["offer"],
            usd_per_million_input=float(r["usd_per_million_input"]),
            usd_per_million_output=float(r["usd_per_million_output"]),
            as_of=r["as_of"],
            source=r["source"],
        )
        for r in _rows("llm-api-prices.csv")
    )
