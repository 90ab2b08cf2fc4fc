"""Measure this machine's memory bandwidth and BF16 matmul rate, and the decode and prefill step
times of a small random-weight Llama-architecture transformer on the CPU, for the estimator's
CPU check (tests/unit/planner/test_estimator_device.py).

    /work/venv-torch/bin/python bench/estimator_cpu.py --out tests/fixtures/device-cpu-decode/recording.json

Needs PyTorch (a local venv; not a project dependency). Bandwidth and decode are measured in
alternation, so load from other processes on a shared machine hits both alike; the grid is swept
several times and each point keeps its fastest sweep (the least disturbed), each sweep timing the
median of its repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

# Llama architecture (RMSNorm, GQA, SwiGLU, untied embeddings), sized so its ~190M BF16 weights
# (~0.38 GB) are far larger than the CPU's caches: decode reads them from DRAM every step.
CONFIG = dict(vocab=32000, hidden=1024, layers=8, heads=16, kv_heads=4, head_dim=64, intermediate=4096)


def ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


class Model:
    """Random weights; a preallocated KV cache of `max_tokens` per sequence."""

    def __init__(self, c: dict, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        h, kv = c["hidden"], c["kv_heads"] * c["head_dim"]

        def w(*shape):
            return (torch.randn(*shape, generator=g) * 0.02).to(torch.bfloat16)

        self.c = c
        self.embed = w(c["vocab"], h)
        self.head = w(c["vocab"], h)
        self.layers = [
            dict(qkv=w(h + 2 * kv, h), o=w(h, h), gate_up=w(2 * c["intermediate"], h), down=w(h, c["intermediate"]))
            for _ in range(c["layers"])
        ]
        self.params = sum(t.numel() for t in [self.embed, self.head] + [v for lay in self.layers for v in lay.values()])

    def new_cache(self, batch: int, max_tokens: int):
        shape = (batch, self.c["kv_heads"], max_tokens, self.c["head_dim"])
        return [
            (torch.zeros(shape, dtype=torch.bfloat16), torch.zeros(shape, dtype=torch.bfloat16)) for _ in self.layers
        ]

    def forward(self, ids: torch.Tensor, cache, pos: int) -> torch.Tensor:
        """Tokens `ids` (batch x n) at positions pos..pos+n-1; returns last-token logits."""
        c = self.c
        b, n = ids.shape
        hd, nh, nkv = c["head_dim"], c["heads"], c["kv_heads"]
        x = self.embed[ids]
        for lay, (kc, vc) in zip(self.layers, cache, strict=True):
            y = F.rms_norm(x, (c["hidden"],))
            q, k, v = (F.linear(y, lay["qkv"])).split([nh * hd, nkv * hd, nkv * hd], dim=-1)
            q = q.view(b, n, nh, hd).transpose(1, 2)
            kc[:, :, pos : pos + n] = k.view(b, n, nkv, hd).transpose(1, 2)
            vc[:, :, pos : pos + n] = v.view(b, n, nkv, hd).transpose(1, 2)
            keys, values = kc[:, :, : pos + n], vc[:, :, : pos + n]
            a = F.scaled_dot_product_attention(q, keys, values, is_causal=n > 1, enable_gqa=True)
            x = x + F.linear(a.transpose(1, 2).reshape(b, n, nh * hd), lay["o"])
            y = F.rms_norm(x, (c["hidden"],))
            gate, up = F.linear(y, lay["gate_up"]).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, lay["down"])
        return F.linear(F.rms_norm(x[:, -1], (c["hidden"],)), self.head)


def gemv_gb_s(weights: list[torch.Tensor], rows: int) -> float:
    """Weight bytes per second BF16 F.linear streams for `rows` tokens: the rate this PyTorch
    build's CPU kernels reach, below DRAM bandwidth when they convert BF16 as they go."""
    x = torch.randn(rows, weights[0].shape[1]).to(torch.bfloat16)
    total = sum(w.numel() * w.element_size() for w in weights)
    return total / (ms(lambda: [F.linear(x, w) for w in weights], 3) / 1e3) / 1e9


def read_bandwidth_gb_s(x: torch.Tensor) -> float:
    """Read-only bandwidth (what decode does with weights): a vectorised FP32 sum."""
    return x.numel() * x.element_size() / (ms(x.sum, 5) / 1e3) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--sweeps", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = Model(CONFIG)
    big = torch.ones(256 * 2**20)  # 1 GiB of FP32
    dst = torch.empty_like(big)
    a = torch.randn(2048, 2048).to(torch.bfloat16)
    mats = [torch.randn(8192, 1024).to(torch.bfloat16) for _ in range(20)]  # 320 MB, beyond the caches
    rec = {
        "machine": platform.processor() or platform.machine(),
        "cpu_model": next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if "model name" in ln), ""),
        "threads": args.threads,
        "torch": torch.__version__,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_1m": os.getloadavg()[0],
        "config": CONFIG,
        "params": model.params,
        "copy_gb_s": 2 * big.numel() * 4 / (ms(lambda: dst.copy_(big), 5) / 1e3) / 1e9,
        "decode": [],
        "prefill": [],
    }
    points: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
    prefills: dict[int, list[float]] = {}
    tflops: list[float] = []
    with torch.inference_mode():
        for _ in range(args.sweeps):
            for context, batches in ((256, (1, 4, 16, 64)), (1024, (1, 16))):
                for batch in batches:
                    cache = model.new_cache(batch, context + 16)
                    ids = torch.randint(0, CONFIG["vocab"], (batch, 1))
                    step = ms(lambda: model.forward(ids, cache, context), 5)  # noqa: B023 (timed at once)
                    # Beside each point, under the same load: DRAM read, BF16 GEMV and matmul rates.
                    bw, gemv = read_bandwidth_gb_s(big), gemv_gb_s(mats, 1)
                    tflops.append(2 * 2048**3 / (ms(lambda: a @ a, 3) / 1e3) / 1e12)
                    points.setdefault((batch, context), []).append((step, bw, gemv))
                    print("decode", batch, context, round(step, 2), "ms;", round(bw, 1), round(gemv, 2), "GB/s")
            for tokens in (128, 512):
                cache = model.new_cache(1, tokens)
                ids = torch.randint(0, CONFIG["vocab"], (1, tokens))
                prefills.setdefault(tokens, []).append(ms(lambda: model.forward(ids, cache, 0), 3))  # noqa: B023
    # Other processes share the machine: each point keeps its least-disturbed sweep.
    for (batch, context), runs in points.items():
        step, bw, gemv = min(runs)
        rec["decode"].append(
            {"batch": batch, "context": context, "ms": step, "read_gb_s_beside": bw, "gemv_gb_s_beside": gemv}
        )
    rec["prefill"] = [{"input_tokens": t, "ms": min(v)} for t, v in prefills.items()]
    rec["sweeps"] = args.sweeps
    rec["read_gb_s"] = max(r[1] for runs in points.values() for r in runs)
    rec["gemv_gb_s"] = max(r[2] for runs in points.values() for r in runs)
    rec["bf16_matmul_tflops"] = max(tflops)
    rec["load_average_1m_end"] = os.getloadavg()[0]
    with open(args.out, "w") as f:
        json.dump(rec, f, indent=1)
    print({k: v for k, v in rec.items() if k not in ("decode", "prefill")})


if __name__ == "__main__":
    main()
