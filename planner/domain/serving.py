"""Serving configuration recommendation: enumerate (GPU, quantization, TP, memory fraction, max concurrent
sequences, replicas) for one model and its traffic, predict memory, p95 TTFT/TPOT at that traffic and cost,
rank them, keep the Pareto front of cost vs latency, and write the launch flags for vLLM, SGLang and
TensorRT-LLM.

Per replica the decode step time is linear in the running batch, s(b) = a + k*b, fitted through two operating
points of planner.domain.throughput.estimate_throughput (so the recommendation follows the estimator and its
calibration); prefill time per request is the estimator's; a deployment's measurements scale decode and
add the TTFT the model lacks (Calibration). Queueing is Erlang C over the max_num_seqs slots plus an M/M/1
tail for the prefill work; see docs/serving.md "## Recommendation".

`python -m planner.domain.serving --compare` prints the comparison with the size-table heuristic in the docs.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

from planner.domain.throughput import (
    PP_SIZES,
    TP_SIZES,
    Precision,
    ThroughputError,
    estimate_throughput,
)
from reference.catalog import (
    GpuSpec,
    InvalidInputError,
    LlmSpec,
    check_fraction,
    check_positive,
    load_cloud_prices,
    load_gpus,
    load_llms,
)

MEMORY_FRACTIONS = (0.85, 0.90, 0.95)
MAX_NUM_SEQS = (16, 32, 64, 128, 256, 512, 1024)
# CUDA context and allocator (~1 GB) plus captured CUDA graphs (~0.5 GB) per GPU; NCCL buffers with TP > 1.
OVERHEAD_GB = 1.5
NCCL_GB = 0.5
# Live activations per batched token in the profiling forward pass, in units of hidden size (BF16): residual +
# norm (2h) on every GPU, QKV, attention out and the gated MLP (~3.5h intermediate) split by TP (~10.5h).
ACTIVATION_HIDDEN_UNITS = (2.0, 10.5)
VOCAB_SIZE = 128_256  # Llama 3 tokenizer; logits are FP32 for the last token of each running sequence
P95_Z = 1.645
TAIL = 0.05
HF_REPOS = {
    "Llama-3.1-8B": "meta-llama/Llama-3.1-8B-Instruct",
    "Llama-3.3-70B": "meta-llama/Llama-3.3-70B-Instruct",
    "Llama-3.1-405B": "meta-llama/Llama-3.1-405B-Instruct",
    "Llama-4-Scout-17B-16E": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "Llama-4-Maverick-17B-128E": "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
    "Qwen3-30B-A3B": "Qwen/Qwen3-30B-A3B",
    "Qwen3-235B-A22B": "Qwen/Qwen3-235B-A22B",
    "GPT-J-6B": "EleutherAI/gpt-j-6b",
}
# Engine names of each weight precision (the checkpoint must match for AWQ / compressed-tensors).
# None: the engine reads the scheme from the pre-quantized checkpoint's config (W8A16, or BF16 unquantized).
VLLM_QUANTIZATION = {"FP8": "fp8", "INT8": "compressed-tensors", "INT4": "awq", "FP4": "modelopt_fp4"}
SGLANG_QUANTIZATION = {"FP8": "fp8", "INT8": "w8a8_int8", "INT4": "awq", "FP4": "modelopt_fp4"}


def kv_cache_dtype(precision: Precision) -> str | None:
    """KV cache dtype served with a weight precision: FP8 where the weights are 8-bit or less with 8-bit
    math (FP8, INT8, FP4), else the 16-bit default (None). Every engine here supports an FP8 KV cache."""
    return "FP8" if precision.kv_bytes <= 1 else None


def _kv_bytes(precision: Precision) -> float:
    return 1.0 if kv_cache_dtype(precision) else 2.0


@dataclass(frozen=True)
class Traffic:
    """Peak-hour traffic: mean request rate (requests/s) and token lengths (mean and p95, tokens)."""

    requests_per_s: float
    mean_input_tokens: int
    mean_output_tokens: int
    p95_input_tokens: int | None = None  # None = the mean
    p95_output_tokens: int | None = None

    def __post_init__(self) -> None:
        check_positive("requests_per_s", self.requests_per_s)
        check_positive("mean_input_tokens", self.mean_input_tokens)
        check_positive("mean_output_tokens", self.mean_output_tokens)
        for name, mean in (("input", self.mean_input_tokens), ("output", self.mean_output_tokens)):
            p95 = getattr(self, f"p95_{name}_tokens")
            if p95 is not None and (not isinstance(p95, int) or p95 < mean):
                raise InvalidInputError(f"p95_{name}_tokens must be an integer >= the mean ({mean}), got {p95!r}")

    @classmethod
    def from_tokens_per_day(cls, tokens_per_day: float, peak_to_mean: float, mean_input: int, mean_output: int, **kw):
        """Peak-hour rate from daily input+output tokens and the busiest hour's share over the mean."""
        check_positive("tokens_per_day", tokens_per_day)
        check_positive("peak_to_mean", peak_to_mean)
        return cls(tokens_per_day / (mean_input + mean_output) / 86_400 * peak_to_mean, mean_input, mean_output, **kw)

    @property
    def input_p95(self) -> int:
        return self.p95_input_tokens or self.mean_input_tokens

    @property
    def output_p95(self) -> int:
        return self.p95_output_tokens or self.mean_output_tokens


@dataclass(frozen=True)
class Slo:
    """p95 time to first token and p95 time per output token, in ms; None = no target."""

    p95_ttft_ms: float | None = None
    p95_tpot_ms: float | None = None

    def __post_init__(self) -> None:
        for name in ("p95_ttft_ms", "p95_tpot_ms"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))

    def violation(self, ttft_ms: float, tpot_ms: float) -> float:
        """Worst ratio of predicted to target (<= 1 meets every target)."""
        ratios = [v / t for v, t in ((ttft_ms, self.p95_ttft_ms), (tpot_ms, self.p95_tpot_ms)) if t is not None]
        return max(ratios, default=0.0)


@dataclass(frozen=True)
class GpuPrices:
    """USD per GPU-hour; None where unknown (the cost column stays empty)."""

    owned_usd_per_gpu_hour: float | None = None
    rented_usd_per_gpu_hour: float | None = None


@dataclass(frozen=True)
class Calibration:
    """A deployment's measurements against the model at its measured load: decode time per output token,
    measured over predicted (1 = the model), and the time to first token the model does not account for
    (seconds added to every TTFT: tokenization, scheduling, the API server, from requests that did not queue)."""

    decode_factor: float = 1.0
    source: str = ""
    ttft_overhead_s: float = 0.0

    def __post_init__(self) -> None:
        check_positive("decode_factor", self.decode_factor)
        if not 0 <= self.ttft_overhead_s < math.inf:
            raise InvalidInputError(f"ttft_overhead_s must be zero or more, not {self.ttft_overhead_s}")


@dataclass(frozen=True)
class ReplicaModel:
    """Fitted performance of one replica: decode step s(b) = a + k*b seconds, prefill seconds per request."""

    llm: str
    gpu: str
    precision: str  # Precision name
    tp: int
    pp: int
    step_base_s: float
    step_per_seq_s: float
    prefill_s: float  # at the traffic's mean input length
    mean_input_tokens: int
    calibrated: bool = False
    ttft_overhead_s: float = 0.0  # measured TTFT beyond the model's (Calibration)

    def step_s(self, batch: float) -> float:
        return self.step_base_s + self.step_per_seq_s * batch


def replica_model(
    llm: LlmSpec,
    gpu: GpuSpec,
    precision: Precision,
    tp: int,
    traffic: Traffic,
    calibration: Calibration | None = None,
    pp: int = 1,
) -> ReplicaModel:
    """Fit s(b) through the estimator's memory-limited operating point and one at half its time per token.

    The estimator's time per output token is s(b) + b*prefill/output tokens (prefills interleaved), so the
    prefill share is removed before fitting. Raises ThroughputError when the model does not fit."""
    isl, osl = traffic.mean_input_tokens, traffic.mean_output_tokens
    kv = kv_cache_dtype(precision)
    full = estimate_throughput(llm, gpu, precision, tp, isl, osl, kv_dtype=kv, pp=pp)
    prefill = full.prefill_ms_per_request / 1e3

    def step(t) -> float:
        return t.ms_per_output_token / 1e3 - t.batch_size * prefill / osl

    base, per_seq = step(full), 0.0
    for share in (0.5, 0.75, 0.9):
        try:
            other = estimate_throughput(
                llm, gpu, precision, tp, isl, osl, full.ms_per_output_token * share, kv_dtype=kv, pp=pp
            )
        except ThroughputError:
            continue
        if other.batch_size < full.batch_size:
            per_seq = max((step(full) - step(other)) / (full.batch_size - other.batch_size), 0.0)
            base = step(full) - per_seq * full.batch_size
            break
    factor = calibration.decode_factor if calibration else 1.0
    return ReplicaModel(
        llm.name,
        gpu.name,
        precision.name,
        tp,
        pp,
        max(base, 1e-6) * factor,
        per_seq * factor,
        prefill,
        isl,
        calibrated=calibration is not None,
        ttft_overhead_s=calibration.ttft_overhead_s if calibration else 0.0,
    )


@dataclass(frozen=True)
class MemoryBreakdown:
    """Per GPU, GB: what the engine takes (weights + KV cache + activations + overhead = budget) and what it
    leaves (free); budget + free = the GPU's memory."""

    weights_gb: float
    kv_cache_gb: float
    activations_gb: float
    overhead_gb: float
    free_gb: float

    @property
    def total_gb(self) -> float:
        return self.weights_gb + self.kv_cache_gb + self.activations_gb + self.overhead_gb + self.free_gb


def memory_breakdown(
    llm: LlmSpec,
    gpu: GpuSpec,
    precision: Precision,
    tp: int,
    gpu_memory_utilization: float,
    max_num_batched_tokens: int,
    max_num_seqs: int,
    pp: int = 1,
) -> MemoryBreakdown:
    """Memory per GPU as vLLM sizes it: the KV cache gets the budget (utilization x HBM) left after weights,
    the profiled activation peak and fixed overhead. kv_cache_gb <= 0 means it does not fit."""
    check_fraction("gpu_memory_utilization", gpu_memory_utilization, allow_zero=False)
    weights = llm.total_params_b * precision.weight_bytes / (tp * pp)
    per_token = 2 * llm.hidden_size * (ACTIVATION_HIDDEN_UNITS[0] + ACTIVATION_HIDDEN_UNITS[1] / tp)
    activations = (max_num_batched_tokens * per_token + max_num_seqs * VOCAB_SIZE * 4) / 1e9
    overhead = OVERHEAD_GB + (NCCL_GB if tp * pp > 1 else 0.0)
    budget = gpu.memory_gb * gpu_memory_utilization
    return MemoryBreakdown(
        weights_gb=weights,
        kv_cache_gb=budget - weights - activations - overhead,
        activations_gb=activations,
        overhead_gb=overhead,
        free_gb=gpu.memory_gb - budget,
    )


def kv_tokens_per_replica(llm: LlmSpec, precision: Precision, tp: int, kv_cache_gb: float, pp: int = 1) -> int:
    """Tokens the replica's KV cache holds; KV heads are split over TP (replicated beyond kv_heads GPUs)."""
    per_gpu_token = llm.kv_bytes_per_token(_kv_bytes(precision)) / (min(tp, llm.kv_heads) * pp)
    return max(int(kv_cache_gb * 1e9 // per_gpu_token), 0)


def erlang_c(servers: int, offered: float) -> float:
    """Probability an arrival waits in an M/M/c queue with `servers` slots and `offered` Erlangs (< servers)."""
    if offered < servers - 10 * math.sqrt(offered) - 10:
        return 0.0  # the Poisson tail beyond the slots is below 1e-12: nobody waits
    blocking = 1.0
    for n in range(1, servers + 1):  # Erlang B by its stable recursion
        blocking = offered * blocking / (n + offered * blocking)
    rho = offered / servers
    return blocking / (1 - rho + rho * blocking)


@dataclass(frozen=True)
class LoadPoint:
    """Predicted behaviour of one replica at a request rate (requests/s)."""

    requests_per_s: float
    concurrency: float  # mean running sequences
    slots: int  # sequences that can run at once (max_num_seqs or what the KV cache holds)
    ttft_p95_ms: float
    tpot_p95_ms: float
    stable: bool  # False: the queue grows without bound at this rate

    @property
    def utilization(self) -> float:
        return self.concurrency / self.slots


def predict_load(
    model: ReplicaModel, traffic: Traffic, requests_per_s: float, slots: int, max_num_batched_tokens: int
) -> LoadPoint:
    """p95 TTFT and TPOT of one replica at `requests_per_s`.

    Concurrency b solves Little's law b = rate x (prefill + output tokens x s(b) / (1 - prefill share)).
    TTFT p95 = wait for a slot (Erlang C, p95) + wait behind other prefills (M/M/1 tail, p95) + the p95
    prompt's own prefill in chunks of max_num_batched_tokens, each chunk sharing a step with the decodes.
    TPOT p95 = step time at the p95 of running sequences (Poisson around b, capped by the slots)."""
    lam, osl = requests_per_s, traffic.mean_output_tokens
    prefill_share = lam * model.prefill_s
    inf = LoadPoint(lam, float(slots), slots, math.inf, math.inf, False)
    if prefill_share >= 1:
        return inf
    decode_scale = 1 / (1 - prefill_share)
    denom = 1 - lam * osl * model.step_per_seq_s * decode_scale
    if denom <= 0:
        return inf
    b = (lam * osl * model.step_base_s * decode_scale + lam * model.prefill_s) / denom
    if b >= slots:
        return replace(inf, concurrency=b)
    slot_wait = 0.0
    if lam > 0:
        service_s = b / lam
        waits = erlang_c(slots, b)
        if waits > TAIL:
            slot_wait = math.log(waits / TAIL) / (slots / service_s - lam)
    prefill_wait = model.prefill_s / (1 - prefill_share) * math.log(prefill_share / TAIL) if prefill_share > TAIL else 0
    own_prefill = model.prefill_s * traffic.input_p95 / model.mean_input_tokens
    chunks = math.ceil(traffic.input_p95 / max_num_batched_tokens)
    ttft = slot_wait + prefill_wait + own_prefill + chunks * model.step_s(b) + model.ttft_overhead_s
    b95 = min(slots, b + P95_Z * math.sqrt(b))
    tpot = model.step_s(b95) * decode_scale
    return LoadPoint(lam, b, slots, ttft * 1e3, tpot * 1e3, True)


def max_rate(model: ReplicaModel, traffic: Traffic, slo: Slo, slots: int, max_num_batched_tokens: int) -> float:
    """Largest request rate (requests/s) one replica serves stably within the SLO; 0 when even an idle replica
    misses it. Without targets: the rate at 90% of the slots busy."""

    def ok(lam: float) -> bool:
        p = predict_load(model, traffic, lam, slots, max_num_batched_tokens)
        return p.stable and p.concurrency <= 0.9 * slots and slo.violation(p.ttft_p95_ms, p.tpot_p95_ms) <= 1

    if not ok(1e-9):
        return 0.0
    hi = 1.0
    while ok(hi) and hi < 1e6:
        hi *= 2
    lo = hi / 2 if hi > 1 else 0.0
    while hi - lo > 1e-3 * hi:  # 0.1%: well inside the model's own error
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


@dataclass(frozen=True)
class ServingConfig:
    gpu: str
    precision: str  # Precision name: BF16, FP8, INT8, INT4
    kv_cache_dtype: str  # "auto" (16-bit) or "fp8"
    tp: int
    pp: int
    replicas: int
    max_num_seqs: int
    max_num_batched_tokens: int
    max_model_len: int
    gpu_memory_utilization: float

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.replicas


@dataclass(frozen=True)
class Candidate:
    """One evaluated configuration at the peak traffic."""

    config: ServingConfig
    memory: MemoryBreakdown
    kv_cache_tokens: int  # per replica
    slots: int
    replica_capacity_requests_per_s: float  # within the SLO
    output_tokens_per_s: float  # served at the traffic
    capacity_output_tokens_per_s: float  # all replicas at their SLO capacity
    concurrency_per_replica: float
    ttft_p95_ms: float
    tpot_p95_ms: float
    latency_p95_ms: float  # TTFT + TPOT x (p95 output - 1)
    meets_slo: bool
    usd_per_million_tokens_owned: float | None
    usd_per_million_tokens_rented: float | None
    reason: str
    pareto: bool = False
    calibrated: bool = False

    def row(self) -> dict:
        """Flat dict for tables and exports (units in the names)."""
        memory = {f"{k}_per_gpu" if k.endswith("_gb") else k: v for k, v in asdict(self.memory).items()}
        memory = {k.replace("_gb_per_gpu", "_per_gpu_gb"): v for k, v in memory.items()}
        out = {**asdict(self.config), "gpus": self.config.gpus, **memory}
        out.update({k: v for k, v in asdict(self).items() if k not in ("config", "memory")})
        # An unstable queue has no finite latency; JSON (and PostgreSQL's jsonb) has no infinity.
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in out.items()}


@dataclass(frozen=True)
class Recommendation:
    model: str
    traffic: Traffic
    slo: Slo
    candidates: tuple[Candidate, ...]  # ranked, best first
    notes: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()  # (GPU, precision, TP) combinations that do not fit, with why

    @property
    def chosen(self) -> Candidate:
        return self.candidates[0]

    @property
    def pareto(self) -> tuple[Candidate, ...]:
        return tuple(sorted((c for c in self.candidates if c.pareto), key=lambda c: c.latency_p95_ms))


@dataclass(frozen=True)
class RecommendationRequest:
    model: LlmSpec
    gpus: tuple[GpuSpec, ...]  # one GPU model you have, or several to choose what to buy or rent
    traffic: Traffic
    slo: Slo = Slo()
    gpu_count: int | None = None  # GPUs available; None = as many as needed
    precisions: tuple[Precision, ...] = tuple(Precision)
    prices: Mapping[str, GpuPrices] = field(default_factory=dict)  # by GPU name
    # By GPU name: a deployment's measured factor (engine overheads the roofline lacks) applied to every
    # configuration on that GPU model.
    calibration: Mapping[str, Calibration] = field(default_factory=dict)
    max_replicas: int = 512  # search limit when gpu_count is None

    def __post_init__(self) -> None:
        if not self.gpus:
            raise InvalidInputError("gpus: give at least one GPU model")
        if not self.precisions:
            raise InvalidInputError("precisions: give at least one precision")
        if self.gpu_count is not None and (not isinstance(self.gpu_count, int) or self.gpu_count < 1):
            raise InvalidInputError(f"gpu_count must be a whole number >= 1, got {self.gpu_count!r}")


def _layout(tp: int, pp: int) -> str:
    return f"TP={tp}" + (f" x PP={pp}" if pp > 1 else "")


def max_model_len(traffic: Traffic) -> int:
    """Power of two >= the p95 prompt + p95 output (at least 2,048 tokens)."""
    need = traffic.input_p95 + traffic.output_p95
    return max(2048, 1 << (need - 1).bit_length())


def batched_tokens(traffic: Traffic) -> int:
    """Chunk size: the p95 prompt in one step where it is <= 16k tokens, and at least vLLM's 2,048."""
    return min(16_384, max(2048, 1 << (traffic.input_p95 - 1).bit_length()))


def _cost_per_mtok(price: float | None, gpus: int, tokens_per_s: float) -> float | None:
    return None if price is None else price * gpus / (tokens_per_s * 3600) * 1e6


def _reason(c: Candidate, slo: Slo, mem: MemoryBreakdown) -> str:
    cfg = c.config
    if not c.meets_slo:
        misses = []
        if slo.p95_ttft_ms and c.ttft_p95_ms > slo.p95_ttft_ms:
            misses.append(f"p95 TTFT {c.ttft_p95_ms:,.0f} > {slo.p95_ttft_ms:g} ms")
        if slo.p95_tpot_ms and c.tpot_p95_ms > slo.p95_tpot_ms:
            misses.append(f"p95 TPOT {c.tpot_p95_ms:,.1f} > {slo.p95_tpot_ms:g} ms")
        if not misses:
            misses.append(f"queue grows: {cfg.replicas} replicas of {c.slots} slots cannot carry the traffic")
        return "misses the SLO: " + "; ".join(misses)
    limit = "KV cache" if c.slots < cfg.max_num_seqs else "max_num_seqs"
    return (
        f"{cfg.replicas} x {_layout(cfg.tp, cfg.pp)} {cfg.precision}: {mem.weights_gb:.0f} GB weights/GPU leave "
        f"{mem.kv_cache_gb:.0f} GB KV ({c.kv_cache_tokens:,} tokens); {c.slots} slots ({limit}) carry "
        f"{c.replica_capacity_requests_per_s:.2f} req/s each within the SLO"
    )


def _pareto_flags(cands: Sequence[Candidate]) -> list[bool]:
    """Not dominated in (cost per 1M tokens, p95 latency); cost = rented, else owned, else GPUs."""

    def cost(c):
        return next(
            (v for v in (c.usd_per_million_tokens_rented, c.usd_per_million_tokens_owned) if v is not None),
            float(c.config.gpus),
        )

    # Sweep by cost: a point is on the front when it is faster than every point at most as costly before it
    # (ties: the best-ranked one, as candidates come ranked).
    order = sorted(
        (i for i, c in enumerate(cands) if c.meets_slo), key=lambda i: (cost(cands[i]), cands[i].latency_p95_ms, i)
    )
    flags, fastest = [False] * len(cands), math.inf
    for i in order:
        if cands[i].latency_p95_ms < fastest:
            flags[i], fastest = True, cands[i].latency_p95_ms
    return flags


def _evaluate(req: RecommendationRequest, gpu: GpuSpec, precision: Precision, tp: int, pp: int, gpu_limit: int | None):
    """Candidates for one (GPU, precision, TP); [] with the reason when it does not fit."""
    traffic, slo = req.traffic, req.slo
    if precision is Precision.FP8 and gpu.fp8_dense_tflops is None:
        return [], f"{gpu.name} {precision.name}: no FP8 tensor cores"
    cal = req.calibration.get(gpu.name)
    try:
        model = replica_model(req.model, gpu, precision, tp, traffic, cal, pp)
    except ThroughputError as exc:
        return [], f"{gpu.name} {precision.name} {_layout(tp, pp)}: {exc}"
    chunk, model_len = batched_tokens(traffic), max_model_len(traffic)
    seq_tokens = traffic.mean_input_tokens + traffic.mean_output_tokens
    out, why = (
        [],
        f"{gpu.name} {precision.name} {_layout(tp, pp)}: the KV cache cannot hold one {model_len:,}-token sequence",
    )
    caps: dict[int, float] = {}
    for util in MEMORY_FRACTIONS:
        for seqs in MAX_NUM_SEQS:
            mem = memory_breakdown(req.model, gpu, precision, tp, util, chunk, seqs, pp)
            kv_tokens = kv_tokens_per_replica(req.model, precision, tp, mem.kv_cache_gb, pp)
            if kv_tokens < model_len:
                continue
            slots = min(seqs, kv_tokens // seq_tokens)
            if slots < seqs and seqs > MAX_NUM_SEQS[0]:
                continue  # a larger max_num_seqs than the KV cache holds changes nothing but memory for logits
            if slots not in caps:  # capacity depends on the slots, not on the memory fraction that gave them
                caps[slots] = max_rate(model, traffic, slo, slots, chunk)
            cap = caps[slots]
            most = gpu_limit // (tp * pp) if gpu_limit else req.max_replicas
            if most < 1:
                continue
            if cap > 0 and math.ceil(traffic.requests_per_s / cap - 1e-9) <= most:
                fewest = max(1, math.ceil(traffic.requests_per_s / cap - 1e-9))
                # More replicas than the fewest buy latency with GPUs: the Pareto front's other points.
                counts = sorted({fewest, min(fewest + 1, most), min(2 * fewest, most)})
            else:  # best achievable: every replica allowed (or, unbounded, twice the stable minimum)
                stable = max_rate(model, traffic, Slo(), slots, chunk)
                counts = [
                    most if gpu_limit or stable == 0 else min(most, 2 * math.ceil(traffic.requests_per_s / stable))
                ]
            for replicas in counts:
                out.append(_candidate(req, model, gpu, precision, tp, util, seqs, replicas, slots, kv_tokens, mem, cap))
    return out, None if out else why


def _candidate(req, model, gpu, precision, tp, util, seqs, replicas, slots, kv_tokens, mem, cap) -> Candidate:
    traffic, slo = req.traffic, req.slo
    chunk = batched_tokens(traffic)
    point = predict_load(model, traffic, traffic.requests_per_s / replicas, slots, chunk)
    cfg = ServingConfig(
        gpu=gpu.name,
        precision=precision.name,
        kv_cache_dtype="fp8" if kv_cache_dtype(precision) else "auto",
        tp=tp,
        pp=model.pp,
        replicas=replicas,
        max_num_seqs=seqs,
        max_num_batched_tokens=chunk,
        max_model_len=max_model_len(traffic),
        gpu_memory_utilization=util,
    )
    prices = req.prices.get(gpu.name, GpuPrices())
    tokens = traffic.requests_per_s * traffic.mean_output_tokens
    cand = Candidate(
        config=cfg,
        memory=mem,
        kv_cache_tokens=kv_tokens,
        slots=slots,
        replica_capacity_requests_per_s=cap,
        output_tokens_per_s=tokens,
        capacity_output_tokens_per_s=cap * replicas * traffic.mean_output_tokens,
        concurrency_per_replica=point.concurrency,
        ttft_p95_ms=point.ttft_p95_ms,
        tpot_p95_ms=point.tpot_p95_ms,
        latency_p95_ms=point.ttft_p95_ms + point.tpot_p95_ms * (traffic.output_p95 - 1),
        meets_slo=point.stable and slo.violation(point.ttft_p95_ms, point.tpot_p95_ms) <= 1,
        usd_per_million_tokens_owned=_cost_per_mtok(prices.owned_usd_per_gpu_hour, cfg.gpus, tokens),
        usd_per_million_tokens_rented=_cost_per_mtok(prices.rented_usd_per_gpu_hour, cfg.gpus, tokens),
        reason="",
        calibrated=model.calibrated,
    )
    return replace(cand, reason=_reason(cand, slo, mem))


def _rank_key(c: Candidate, slo: Slo):
    # Priced configurations before unpriced ones (a GPU without a price must not look free).
    price = c.usd_per_million_tokens_rented
    price = c.usd_per_million_tokens_owned if price is None else price
    cost = (price is None, price or 0.0)
    if c.meets_slo:
        return (0, cost, c.config.gpus, -c.replica_capacity_requests_per_s, c.latency_p95_ms)
    violation = slo.violation(c.ttft_p95_ms, c.tpot_p95_ms) if math.isfinite(c.ttft_p95_ms) else math.inf
    return (1, violation, cost, c.config.gpus, c.latency_p95_ms)


def _search(req: RecommendationRequest, precisions, gpu_limit):
    cands, rejected = [], []
    for gpu in req.gpus:
        for precision in precisions:
            for tp in TP_SIZES:
                # Pipeline stages (PP > 1) only where TP=8 alone cannot hold it: across nodes of 8 GPUs.
                for pp in PP_SIZES if tp == TP_SIZES[-1] else (1,):
                    if gpu_limit is not None and tp * pp > gpu_limit:
                        continue
                    found, why = _evaluate(req, gpu, precision, tp, pp, gpu_limit)
                    cands += found
                    if why:
                        rejected.append(why)
                    if found:
                        break
    return cands, rejected


def recommend(req: RecommendationRequest) -> Recommendation:
    """Ranked configurations: those meeting the SLO first, cheapest first (cost per 1M output tokens, rented
    else owned, else GPUs), then lower p95 latency. When nothing fits the GPUs and precisions asked for, the
    smallest configuration that fits any precision and any TP x PP is returned, with a note; when
    no configuration meets the SLO, the closest (smallest worst ratio to a target) comes first, with a note."""
    notes = []
    cands, rejected = _search(req, req.precisions, req.gpu_count)
    if not cands:
        cands, more = _search(req, tuple(Precision), None)
        rejected += more
        if not cands:
            raise InvalidInputError(
                f"{req.model.name} fits no configuration on {', '.join(g.name for g in req.gpus)} "
                f"(up to TP={TP_SIZES[-1]} x PP={PP_SIZES[-1]}, any precision): " + "; ".join(rejected[-3:])
            )
        size = lambda c: c.config.tp * c.config.pp  # noqa: E731
        smallest = min(cands, key=lambda c: (size(c), _rank_key(c, req.slo)))
        cands = [c for c in cands if size(c) == size(smallest)]
        asked = f"{req.gpu_count} x " if req.gpu_count else ""
        notes.append(
            f"{req.model.name} does not fit {asked}{'/'.join(g.name for g in req.gpus)} in "
            f"{'/'.join(p.name for p in req.precisions)}; the smallest configuration that does is "
            f"{_layout(smallest.config.tp, smallest.config.pp)} "
            f"({'/'.join(sorted({c.config.precision for c in cands}))})."
        )
    cands.sort(key=lambda c: _rank_key(c, req.slo))
    cands = [replace(c, pareto=f) for c, f in zip(cands, _pareto_flags(cands), strict=True)]
    if not cands[0].meets_slo:
        best = cands[0]
        notes.append(
            f"No configuration meets the SLO; the best achievable is p95 TTFT {best.ttft_p95_ms:,.0f} ms and "
            f"p95 TPOT {best.tpot_p95_ms:,.1f} ms ({best.config.gpus} GPUs)."
        )
    if any(c.calibrated for c in cands):
        cal = next(iter(req.calibration.values()))
        what = "Decode times are" if not cal.ttft_overhead_s else "Decode times and TTFT are"
        notes.append(f"{what} calibrated on the deployment's measured serving metrics.")
    return Recommendation(req.model.name, req.traffic, req.slo, tuple(cands), tuple(notes), tuple(rejected))


def launch_commands(c: Candidate, model: str) -> dict[str, str]:
    """Ready-to-paste launch command per engine for one replica of a candidate configuration."""
    cfg, mem = c.config, c.memory
    repo = HF_REPOS.get(model, model)
    vllm = [
        f"vllm serve {repo}",
        f"--tensor-parallel-size {cfg.tp}",
        f"--max-num-seqs {cfg.max_num_seqs}",
        f"--gpu-memory-utilization {cfg.gpu_memory_utilization:.2f}",
        f"--max-model-len {cfg.max_model_len}",
        f"--max-num-batched-tokens {cfg.max_num_batched_tokens}",
    ]
    if cfg.pp > 1:
        vllm.append(f"--pipeline-parallel-size {cfg.pp}")
    if cfg.precision in VLLM_QUANTIZATION:
        vllm.append(f"--quantization {VLLM_QUANTIZATION[cfg.precision]}")
    if cfg.kv_cache_dtype != "auto":
        vllm.append(f"--kv-cache-dtype {cfg.kv_cache_dtype}")
    # SGLang's static fraction covers weights + KV pool; activations and overhead come out of the rest.
    sglang = [
        f"python -m sglang.launch_server --model-path {repo}",
        f"--tp {cfg.tp}",
        *([f"--pp-size {cfg.pp}"] if cfg.pp > 1 else []),
        f"--mem-fraction-static {(mem.weights_gb + mem.kv_cache_gb) / mem.total_gb:.2f}",
        f"--max-running-requests {cfg.max_num_seqs}",
        f"--context-length {cfg.max_model_len}",
        f"--chunked-prefill-size {cfg.max_num_batched_tokens}",
    ]
    if cfg.precision in SGLANG_QUANTIZATION:
        sglang.append(f"--quantization {SGLANG_QUANTIZATION[cfg.precision]}")
    if cfg.kv_cache_dtype != "auto":
        sglang.append("--kv-cache-dtype fp8_e4m3")
    # TensorRT-LLM gives the KV cache a fraction of the memory free after weights and activations.
    free = mem.total_gb - mem.weights_gb - mem.activations_gb - mem.overhead_gb
    trt = [
        f"trtllm-serve {repo}",
        "--backend pytorch",
        f"--tp_size {cfg.tp}",
        f"--pp_size {cfg.pp}",
        f"--max_batch_size {cfg.max_num_seqs}",
        f"--max_num_tokens {cfg.max_num_batched_tokens}",
        f"--max_seq_len {cfg.max_model_len}",
        f"--kv_cache_free_gpu_memory_fraction {min(mem.kv_cache_gb / free, 0.99):.2f}",
    ]
    return {
        engine: " \\\n  ".join(parts) for engine, parts in (("vllm", vllm), ("sglang", sglang), ("tensorrt_llm", trt))
    }


def calibration_from_measurement(
    model: ReplicaModel,
    running: float,
    output_tokens_per_s: float,
    requests_per_s: float,
    source: str = "",
    unqueued_ttft_s: float | None = None,
) -> Calibration:
    """Decode factor from one replica's measured load: mean running sequences, output tokens/s and requests/s;
    with `unqueued_ttft_s` (the median TTFT of requests that found no queue) the TTFT overhead too.

    Each running sequence emits a token per (step / (1 - prefill share)), so the measured time per output
    token is running / output tokens/s; the decode factor is that over the model's at the same running batch.
    A request that does not queue waits, in the model, for its prefill and the (calibrated) decode step it
    shares with the running batch; what the measured TTFT has beyond that is the overhead (never negative).
    It is latency, not GPU time: it does not change a replica's capacity, only what its TTFT target allows."""
    check_positive("running", running)
    check_positive("output_tokens_per_s", output_tokens_per_s)
    check_positive("requests_per_s", requests_per_s)
    prefill_share = min(requests_per_s * model.prefill_s, 0.9)
    predicted = model.step_s(running) / (1 - prefill_share)
    decode = running / output_tokens_per_s / predicted
    overhead = 0.0
    if unqueued_ttft_s is not None:
        check_positive("unqueued_ttft_s", unqueued_ttft_s)
        overhead = max(unqueued_ttft_s - model.prefill_s - decode * model.step_s(running), 0.0)
    return Calibration(decode_factor=decode, source=source, ttft_overhead_s=overhead)


def catalog_prices(gpu: str) -> GpuPrices:
    """Rented price from the published catalog (median of non-spot offers), owned unknown."""
    rows = sorted(p.usd_per_gpu_hour for p in load_cloud_prices() if p.gpu == gpu and p.term != "spot")
    return GpuPrices(rented_usd_per_gpu_hour=rows[len(rows) // 2] if rows else None)


# ENOVA-style heuristic (issue #11): a batch size from a model-size table, the default memory fraction, the
# smallest TP that holds the weights; replicas added reactively ("pending >= 50 for 3 min -> scale up").
SIZE_TABLE = ((13, 256), (34, 128), (80, 64), (math.inf, 32))  # (params up to, B) -> max_num_seqs
ENOVA_PENDING_SCALE_UP = 50


def size_table_config(llm: LlmSpec, gpu: GpuSpec, precision: Precision, traffic: Traffic) -> ServingConfig:
    """The heuristic's configuration for one replica (replicas decided later by the pending-queue rule)."""
    seqs = next(b for limit, b in SIZE_TABLE if llm.total_params_b <= limit)
    for tp in TP_SIZES:
        if llm.total_params_b * precision.weight_bytes / tp < gpu.memory_gb * 0.9 * 0.8:
            break
    return ServingConfig(
        gpu.name,
        precision.name,
        "fp8" if kv_cache_dtype(precision) else "auto",
        tp,
        1,
        1,
        seqs,
        batched_tokens(traffic),
        max_model_len(traffic),
        0.9,
    )


def _setup(llm: LlmSpec, gpu: GpuSpec, cfg: ServingConfig, traffic: Traffic):
    """(replica model, memory, KV tokens, slots) of a configuration chosen elsewhere."""
    precision = Precision[cfg.precision]
    model = replica_model(llm, gpu, precision, cfg.tp, traffic, pp=cfg.pp)
    mem = memory_breakdown(
        llm, gpu, precision, cfg.tp, cfg.gpu_memory_utilization, cfg.max_num_batched_tokens, cfg.max_num_seqs, cfg.pp
    )
    kv = kv_tokens_per_replica(llm, precision, cfg.tp, mem.kv_cache_gb, cfg.pp)
    slots = max(1, min(cfg.max_num_seqs, kv // (traffic.mean_input_tokens + traffic.mean_output_tokens)))
    return model, mem, kv, slots


def evaluate_config(
    llm: LlmSpec, gpu: GpuSpec, cfg: ServingConfig, traffic: Traffic, slo: Slo, prices: GpuPrices = GpuPrices()
) -> Candidate:
    """Our prediction for a configuration chosen elsewhere (e.g. by the size-table heuristic)."""
    req = RecommendationRequest(llm, (gpu,), traffic, slo, None, (Precision[cfg.precision],), {gpu.name: prices})
    model, mem, kv, slots = _setup(llm, gpu, cfg, traffic)
    cap = max_rate(model, traffic, slo, slots, cfg.max_num_batched_tokens)
    cand = _candidate(
        req,
        model,
        gpu,
        Precision[cfg.precision],
        cfg.tp,
        cfg.gpu_memory_utilization,
        cfg.max_num_seqs,
        cfg.replicas,
        slots,
        kv,
        mem,
        cap,
    )
    return replace(cand, config=cfg)


def replicas_by_pending_rule(llm: LlmSpec, gpu: GpuSpec, cfg: ServingConfig, traffic: Traffic) -> int:
    """Replicas the reactive rule settles at: it adds a replica while a replica's mean queue (Erlang C: waiting
    requests beyond its slots) would stay above the pending threshold."""
    model, _, _, slots = _setup(llm, gpu, cfg, traffic)
    for replicas in range(1, 10_000):
        p = predict_load(model, traffic, traffic.requests_per_s / replicas, slots, cfg.max_num_batched_tokens)
        if p.stable and erlang_c(slots, p.concurrency) * p.utilization / (1 - p.utilization) < ENOVA_PENDING_SCALE_UP:
            return replicas
    raise InvalidInputError("the pending-queue rule found no replica count up to 10,000")


def comparison_table(cases=None) -> str:
    """Markdown: our recommendation vs the size-table heuristic on the same cases (docs/serving.md)."""
    gpus, llms = load_gpus(), load_llms()
    cases = cases or (
        ("Llama-3.1-8B", "H100 SXM 80GB", Traffic(20, 1000, 250, 3000, 600), Slo(1000, 30)),
        ("Llama-3.3-70B", "H200 SXM 141GB", Traffic(6, 2000, 500, 6000, 1200), Slo(2000, 50)),
        ("Llama-3.3-70B", "H100 SXM 80GB", Traffic(3, 1500, 300, 4000, 800), Slo(1500, 40)),
    )
    lines = [
        "| case | method | precision | TP x replicas (GPUs) | max_num_seqs | memory fraction | p95 TTFT ms | "
        "p95 TPOT ms | meets SLO | $/1M output tokens (rented) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, gpu_name, traffic, slo in cases:
        llm, gpu = llms[model], gpus[gpu_name]
        prices = catalog_prices(gpu_name)
        ours = recommend(RecommendationRequest(llm, (gpu,), traffic, slo, prices={gpu_name: prices})).chosen
        bf16 = RecommendationRequest(llm, (gpu,), traffic, slo, precisions=(Precision.BF16,), prices={gpu_name: prices})
        ours_bf16 = recommend(bf16).chosen
        heur = size_table_config(llm, gpu, Precision.BF16, traffic)
        heur = replace(heur, replicas=replicas_by_pending_rule(llm, gpu, heur, traffic))
        theirs = evaluate_config(llm, gpu, heur, traffic, slo, prices)
        case = (
            f"{model} on {gpu_name}, {traffic.requests_per_s:g} req/s, {traffic.mean_input_tokens}/"
            f"{traffic.mean_output_tokens} tokens, SLO {slo.p95_ttft_ms:g}/{slo.p95_tpot_ms:g} ms"
        )
        for name, c in (("Headroom", ours), ("Headroom, BF16 only", ours_bf16), ("size table + pending rule", theirs)):
            cost = c.usd_per_million_tokens_rented
            lines.append(
                f"| {case} | {name} | {c.config.precision} | {c.config.tp} x {c.config.replicas} ({c.config.gpus}) | "
                f"{c.config.max_num_seqs} | {c.config.gpu_memory_utilization:.2f} | {c.ttft_p95_ms:,.0f} | "
                f"{c.tpot_p95_ms:,.1f} | {'yes' if c.meets_slo else 'no'} | "
                f"{'' if cost is None else f'{cost:.3f}'} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true", help="print the comparison with the size-table heuristic")
    parser.parse_args()
    print(comparison_table())
