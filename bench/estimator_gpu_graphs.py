"""Time Llama-3.1-8B decode steps on one GPU eagerly and replayed as CUDA graphs, for checking the
throughput estimator's decode step without the CPU's launch time (tests/unit/planner/test_estimator_device.py).

    python bench/estimator_gpu_graphs.py --out h100-graphs.json
    python bench/estimator_gpu_graphs.py --smoke --device cpu --out /tmp/smoke.json   # 2 layers, eager only

Needs PyTorch on the GPU machine (not a project dependency). bench/estimator_gpu.py times transformers'
LlamaForCausalLM eagerly, where a decode step's wall time is the launch time of its ~700 kernels (52 ms
at batch 1 on an H100). Graphs need static shapes, so the step here is written in plain PyTorch ops with
the config's shapes and random BF16 weights: per layer RMSNorm, fused QKV projection, the new K/V written
into a preallocated cache, grouped-query SDPA over the context, output projection, RMSNorm, SwiGLU MLP;
then the final norm and LM head. Rotary embedding is left out (elementwise, a few microseconds a layer).
Each (batch, context) point is captured once and replayed; the baselines measured in the same run are the
device's copy bandwidth and BF16 matmul rate.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from estimator_gpu import LLAMA_3_1_8B  # the published config, shared with the eager harness

GRID = [(1024, (1, 4, 16, 32, 64, 128, 256)), (4096, (1, 8, 16, 32, 64))]
SMOKE_GRID = [(64, (1, 2))]


class Llama:
    """Random BF16 weights in nn.Linear layout (out x in), one tensor per projection."""

    def __init__(self, c: dict, device: str):
        torch.manual_seed(0)
        h, inter = c["hidden_size"], c["intermediate_size"]
        self.heads, self.kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
        self.head_dim, self.eps = h // self.heads, c["rms_norm_eps"]
        qkv = (self.heads + 2 * self.kv_heads) * self.head_dim

        def w(*shape):
            return torch.randn(*shape, dtype=torch.bfloat16, device=device) * 0.02

        self.layers = [
            dict(
                norm1=torch.ones(h, dtype=torch.bfloat16, device=device),
                qkv=w(qkv, h),
                o=w(h, self.heads * self.head_dim),
                norm2=torch.ones(h, dtype=torch.bfloat16, device=device),
                gate_up=w(2 * inter, h),
                down=w(h, inter),
            )
            for _ in range(c["num_hidden_layers"])
        ]
        self.embed = w(c["vocab_size"], h)
        self.final_norm = torch.ones(h, dtype=torch.bfloat16, device=device)
        self.lm_head = w(c["vocab_size"], h)

    def params(self) -> int:
        tensors = [t for layer in self.layers for t in layer.values()] + [self.embed, self.final_norm, self.lm_head]
        return sum(t.numel() for t in tensors)

    def cache(self, batch: int, context: int, device: str):
        """K and V for `context` tokens (random) plus the slot the step writes."""
        shape = (len(self.layers), batch, self.kv_heads, context + 1, self.head_dim)
        return torch.randn(shape, dtype=torch.bfloat16, device=device), torch.randn(
            shape, dtype=torch.bfloat16, device=device
        )

    def step(self, ids, k_cache, v_cache, position: int):
        """Logits of one decode step; writes each layer's new K/V at `position`."""
        x = self.embed[ids]  # (batch, hidden)
        b = x.shape[0]
        split = (self.heads * self.head_dim, self.kv_heads * self.head_dim, self.kv_heads * self.head_dim)
        for i, layer in enumerate(self.layers):
            q, k, v = F.linear(F.rms_norm(x, x.shape[-1:], layer["norm1"], self.eps), layer["qkv"]).split(split, -1)
            k_cache[i, :, :, position] = k.view(b, self.kv_heads, self.head_dim)
            v_cache[i, :, :, position] = v.view(b, self.kv_heads, self.head_dim)
            attn = F.scaled_dot_product_attention(
                q.view(b, self.heads, 1, self.head_dim),
                k_cache[i, :, :, : position + 1],
                v_cache[i, :, :, : position + 1],
                enable_gqa=True,
            )
            x = x + F.linear(attn.reshape(b, -1), layer["o"])
            gate, up = F.linear(F.rms_norm(x, x.shape[-1:], layer["norm2"], self.eps), layer["gate_up"]).chunk(2, -1)
            x = x + F.linear(F.silu(gate) * up, layer["down"])
        return F.linear(F.rms_norm(x, x.shape[-1:], self.final_norm, self.eps), self.lm_head)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def median_ms(fn, device: str, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def baselines(device: str, copy_bytes: int, matmul_n: int) -> dict:
    x = torch.empty(copy_bytes, dtype=torch.uint8, device=device)
    y = torch.empty_like(x)
    copy_ms = median_ms(lambda: y.copy_(x), device, 10)
    x = y = None
    a = torch.randn(matmul_n, matmul_n, dtype=torch.bfloat16, device=device)
    b = torch.randn_like(a)
    mm_ms = median_ms(lambda: a @ b, device, 10)
    return {
        "copy_tb_s": 2 * copy_bytes / (copy_ms / 1e3) / 1e12,  # bytes read + written
        "bf16_matmul_tflops": 2 * matmul_n**3 / (mm_ms / 1e3) / 1e12,
    }


def point(model: Llama, vocab: int, batch: int, context: int, device: str, repeat: int) -> dict:
    k_cache, v_cache = model.cache(batch, context, device)
    ids = torch.randint(0, vocab, (batch,), device=device)
    with torch.inference_mode():
        eager = median_ms(lambda: model.step(ids, k_cache, v_cache, context), device, repeat)
        graph_ms = None
        if device == "cuda":
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm-up outside the capture, as torch.cuda.graphs asks
                model.step(ids, k_cache, v_cache, context)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                model.step(ids, k_cache, v_cache, context)
            graph_ms = median_ms(graph.replay, device, repeat * 4)
    return {"batch": batch, "context": context, "eager_ms": eager, "graph_ms": graph_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--budget-s", type=float, default=300, help="stop timing new points after this")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="2 layers and a tiny grid, to check the script")
    args = parser.parse_args()
    t0 = time.time()
    config = LLAMA_3_1_8B | ({"num_hidden_layers": 2} if args.smoke else {})
    result = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or args.device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "baselines": baselines(args.device, 2**24 if args.smoke else 2**31, 512 if args.smoke else 8192),
        "config": config,
        "decode": [],
        "errors": [],
    }
    print(result["baselines"], flush=True)
    model = Llama(config, args.device)
    result["params"] = model.params()
    for context, batches in SMOKE_GRID if args.smoke else GRID:
        for batch in batches:
            if time.time() > t0 + args.budget_s:
                result["errors"].append("deadline reached")
                break
            try:
                result["decode"].append(point(model, config["vocab_size"], batch, context, args.device, 10))
                print(result["decode"][-1], flush=True)
            except Exception as exc:  # record and go on with the next point
                result["errors"].append(f"decode {batch}x{context}: {exc!r}")
            if args.device == "cuda":
                torch.cuda.empty_cache()  # the point's cache and graph are gone with its frame
    result["wall_s"] = time.time() - t0
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
