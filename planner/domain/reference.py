"""Published reference figures (planner/data/*.csv) as catalog dataclasses, plus the input
checks every planner module shares, so a bad input fails the same way everywhere."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


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


@dataclass(frozen=True)
class GpuSpec:
    """Dense tensor throughput (vendors often print sparse figures, twice as large)."""

    name: str
    memory_gb: float
    bandwidth_tb_s: float
    bf16_dense_tflops: float
    fp8_dense_tflops: float | None
    tdp_w: float

    def __post_init__(self) -> None:
        for field in ("memory_gb", "bandwidth_tb_s", "bf16_dense_tflops", "tdp_w"):
            check_positive(f"{self.name}.{field}", getattr(self, field))


@dataclass(frozen=True)
class LlmSpec:
    name: str
    total_params_b: float
    active_params_b: float  # equals total for dense models; the routed subset for MoE
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int

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

    def kv_bytes_per_token(self, bytes_per_element: float) -> float:
        """KV cache bytes per token: keys and values for every layer and KV head."""
        return 2 * self.layers * self.kv_heads * self.head_dim * bytes_per_element


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
    """A published benchmark row: total output tokens/s of `gpus` GPUs."""

    model: str
    gpu: str
    precision: str
    tp: int
    input_tokens: int
    output_tokens: int
    total_output_tokens_per_s: float
    gpus: int
    source: str

    @property
    def output_tokens_per_s_per_gpu(self) -> float:
        return self.total_output_tokens_per_s / self.gpus


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _opt_float(text: str) -> float | None:
    return float(text) if text.strip() else None


@cache
def load_gpus() -> dict[str, GpuSpec]:
    return {
        r["model"]: GpuSpec(
            name=r["model"],
            memory_gb=float(r["memory_gb"]),
            bandwidth_tb_s=float(r["bandwidth_tb_s"]),
            bf16_dense_tflops=float(r["bf16_dense_tflops"]),
            fp8_dense_tflops=_opt_float(r["fp8_dense_tflops"]),
            tdp_w=float(r["tdp_w"]),
        )
        for r in _rows("gpu-models.csv")
    }


@cache
def load_llms() -> dict[str, LlmSpec]:
    return {
        r["model"]: LlmSpec(
            name=r["model"],
            total_params_b=float(r["total_params_b"]),
            active_params_b=float(r["active_params_b"]),
            layers=int(r["layers"]),
            hidden_size=int(r["hidden_size"]),
            attention_heads=int(r["attention_heads"]),
            kv_heads=int(r["kv_heads"]),
            head_dim=int(r["head_dim"]),
        )
        for r in _rows("llm-models.csv")
    }


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


@cache
def load_throughput_calibration() -> tuple[ThroughputMeasurement, ...]:
    return tuple(
        ThroughputMeasurement(
            model=r["model"],
            gpu=r["gpu"],
            precision=r["precision"],
            tp=int(r["tp"]),
            input_tokens=int(r["isl"]),
            output_tokens=int(r["osl"]),
            total_output_tokens_per_s=float(r["total_output_tokens_per_s"]),
            gpus=int(r["gpus"]),
            source=r["source"],
        )
        for r in _rows("trtllm-throughput-calibration.csv")
    )
