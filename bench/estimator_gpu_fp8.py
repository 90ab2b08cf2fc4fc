"""Sustained FP8 and BF16 dense matmul rates of one GPU, for the throughput estimator's sustained
compute share per precision (reference/data/gpu-models.csv, tests/unit/planner/test_estimator_device.py).

    python bench/estimator_gpu_fp8.py --out h100-matmul.json
    python bench/estimator_gpu_fp8.py --smoke --out /tmp/smoke.json   # small sizes, BF16 only on CPU

Needs PyTorch on the GPU machine (not a project dependency). FP8 runs through torch._scaled_mm (E4M3
operands, per-tensor scales, BF16 output), as FP8 serving engines call cuBLASLt; each size is timed
beside the BF16 matmul of the same shape, so the two rates share the machine's clocks and state.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

SIZES = (4096, 8192, 16384)
SMOKE_SIZES = (256,)


def median_ms(fn, device: str, repeat: int) -> float:
    """Median over `repeat` calls after 3 warm-ups; CUDA events time the GPU's work alone."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def rates(n: int, device: str, repeat: int) -> dict:
    a = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    b = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    flops = 2 * n**3
    out = {"n": n, "bf16_tflops": flops / (median_ms(lambda: a @ b, device, repeat) / 1e3) / 1e12}
    if device == "cuda":
        a8, b8 = a.to(torch.float8_e4m3fn), b.to(torch.float8_e4m3fn)
        one = torch.ones((), device=device)
        # cuBLASLt wants the second operand column-major: b8.t() of a row-major tensor is.
        ms = median_ms(lambda: torch._scaled_mm(a8, b8.t(), one, one, out_dtype=torch.bfloat16), device, repeat)
        out["fp8_tflops"] = flops / (ms / 1e3) / 1e12
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    record = {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "matmuls": [rates(n, device, args.repeat) for n in (SMOKE_SIZES if args.smoke else SIZES)],
    }
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
