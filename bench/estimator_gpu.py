"""Time prefill and decode steps of random-weight models of real architectures on one GPU, for
checking the throughput estimator's curve shapes (tests/unit/planner/test_estimator_device.py).

    python bench/estimator_gpu.py --out h100.json
    python bench/estimator_gpu.py --smoke --device cpu --out /tmp/smoke.json   # 2 layers, tiny grid

Needs PyTorch and transformers on the GPU machine (not project dependencies). Models are built
from their published config.json values (written out below: nothing is downloaded) with random
weights in BF16: Llama-3.1-8B (dense, GQA) and Qwen3-30B-A3B (128 experts, top 8) cut to 24 of
its 48 layers so it fits 80 GB with its cache. Eager PyTorch (no CUDA graphs), so per-kernel
launch cost is part of every step; the baselines measured in the same run are the device's copy
bandwidth and BF16 matmul rate. Each model's section records errors instead of aborting the run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

LLAMA_3_1_8B = dict(  # meta-llama/Llama-3.1-8B config.json
    vocab_size=128256,
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    max_position_embeddings=131072,
    rope_theta=500000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
)
QWEN3_30B_A3B = dict(  # Qwen/Qwen3-30B-A3B config.json, 24 of 48 layers
    vocab_size=151936,
    hidden_size=2048,
    intermediate_size=6144,
    moe_intermediate_size=768,
    num_hidden_layers=24,
    num_attention_heads=32,
    num_key_value_heads=4,
    head_dim=128,
    num_experts=128,
    num_experts_per_tok=8,
    norm_topk_prob=True,
    decoder_sparse_step=1,
    max_position_embeddings=40960,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
)


DEVICE = "cuda"


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed_ms(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def kernel_ms(fn, repeat: int = 3) -> float | None:
    """GPU busy time of one call: the sum of its kernels' durations from the profiler. Eager
    PyTorch launches kernels from Python, so a small step's wall time is the CPU's launch time;
    the kernels' sum is the work the roofline estimates. None on a CPU."""
    if DEVICE != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile

    fn()
    sync()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(repeat):
            fn()
        sync()
    total_us = sum(
        getattr(e, "self_device_time_total", 0) or getattr(e, "self_cuda_time_total", 0) for e in prof.key_averages()
    )
    return total_us / repeat / 1e3


def baselines(copy_bytes: int, matmul_n: int) -> dict:
    x = torch.empty(copy_bytes, dtype=torch.uint8, device=DEVICE)
    y = torch.empty_like(x)
    timed_ms(lambda: y.copy_(x), 3)
    copy_ms = statistics.median(timed_ms(lambda: y.copy_(x), 10))
    x = y = None  # free before the matmul
    a = torch.randn(matmul_n, matmul_n, dtype=torch.bfloat16, device=DEVICE)
    b = torch.randn_like(a)
    timed_ms(lambda: a @ b, 3)
    mm_ms = statistics.median(timed_ms(lambda: a @ b, 10))
    return {
        "copy_tb_s": 2 * copy_bytes / (copy_ms / 1e3) / 1e12,  # bytes read + written
        "bf16_matmul_tflops": 2 * matmul_n**3 / (mm_ms / 1e3) / 1e12,
    }


def empty_cache() -> None:
    if DEVICE == "cuda":
        torch.cuda.empty_cache()


def build(kind: str, overrides: dict):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM

    config, cls = (
        (LlamaConfig(**(LLAMA_3_1_8B | overrides)), LlamaForCausalLM)
        if kind == "llama"
        else (Qwen3MoeConfig(**(QWEN3_30B_A3B | overrides)), Qwen3MoeForCausalLM)
    )
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)  # build in BF16: no FP32 copy of the weights
    with torch.device(DEVICE):
        model = cls(config).eval()
    torch.set_default_dtype(torch.float32)
    return model, config


def decode_ms(model, vocab: int, batch: int, context: int, steps: int) -> tuple[float, float | None]:
    """(median wall time, GPU kernel time) of one decode step for `batch` sequences holding
    `context` tokens."""
    ids = torch.randint(0, vocab, (batch, context), device=DEVICE)
    with torch.inference_mode():
        cache = model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values
        nxt = torch.randint(0, vocab, (batch, 1), device=DEVICE)

        def step():
            return model(input_ids=nxt, past_key_values=cache, use_cache=True)

        times = timed_ms(step, steps + 2)[2:]
        gpu = kernel_ms(step)
    return statistics.median(times), gpu


def prefill_ms(model, vocab: int, tokens: int, repeat: int = 3) -> tuple[float, float | None]:
    ids = torch.randint(0, vocab, (1, tokens), device=DEVICE)
    with torch.inference_mode():

        def run():
            return model(input_ids=ids, use_cache=False, logits_to_keep=1)

        times = timed_ms(run, repeat + 1)[1:]
        gpu = kernel_ms(run, 2)
    return statistics.median(times), gpu


def run_model(kind: str, decode_grid, prefill_grid, deadline: float, overrides: dict) -> dict:
    out: dict = {"decode": [], "prefill": [], "errors": []}
    try:
        model, config = build(kind, overrides)
    except Exception as exc:  # record and go on with the next model
        out["errors"].append(f"build: {exc!r}")
        return out
    out["params"] = sum(p.numel() for p in model.parameters())
    out["config"] = {k: v for k, v in config.to_dict().items() if isinstance(v, int | float | str | bool)}
    for tokens in prefill_grid:
        if time.time() > deadline:
            out["errors"].append("deadline reached")
            break
        try:
            wall, gpu = prefill_ms(model, config.vocab_size, tokens)
            out["prefill"].append({"input_tokens": tokens, "ms": wall, "gpu_ms": gpu})
        except Exception as exc:
            out["errors"].append(f"prefill {tokens}: {exc!r}")
    for context, batches in decode_grid:
        for batch in batches:
            if time.time() > deadline:
                out["errors"].append("deadline reached")
                break
            try:
                ms, gpu = decode_ms(model, config.vocab_size, batch, context, steps=6)
                empty_cache()
                out["decode"].append({"batch": batch, "context": context, "ms": ms, "gpu_ms": gpu})
                print(kind, "decode", batch, context, round(ms, 2), gpu, flush=True)
            except Exception as exc:
                out["errors"].append(f"decode {batch}x{context}: {exc!r}")
                empty_cache()
    del model
    empty_cache()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--budget-s", type=float, default=420, help="stop timing new points after this")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="2 layers and a tiny grid, to check the script")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    t0 = time.time()
    import transformers

    small = {"num_hidden_layers": 2} if args.smoke else {}
    grid = {
        "llama": ([(64, (1, 2))], (32,))
        if args.smoke
        else (
            [(1024, (1, 4, 16, 32, 64, 128)), (4096, (1, 8, 16, 32))],
            (512, 1024, 2048, 4096, 8192),
        ),
        "qwen3moe": ([(32, (1, 2))], (32,))
        if args.smoke
        else ([(256, (1, 2, 4, 8, 16, 32, 64, 128))], (512, 2048, 4096)),
    }
    result = {
        "device": torch.cuda.get_device_name() if DEVICE == "cuda" else platform.processor() or DEVICE,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "baselines": baselines(2**24 if args.smoke else 2**31, 512 if args.smoke else 8192),
    }
    print(result, flush=True)
    result["llama-3.1-8b"] = run_model("llama", *grid["llama"], t0 + args.budget_s * 0.5, small)
    result["qwen3-30b-a3b-24l"] = run_model("qwen3moe", *grid["qwen3moe"], t0 + args.budget_s, small)
    result["wall_s"] = time.time() - t0
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
