"""Record a GPU's power and temperature under a random stepped load, for testing the thermal response
out of sample (tests/fixtures/h100-nvml-random, tests/unit/forecasts/test_thermal_backtest.py).

    python bench/thermal_gpu.py --out trace.csv            # on a machine with an NVIDIA GPU
    python bench/thermal_gpu.py --smoke --out /tmp/t.csv   # 6 s on CPU, no NVML: checks the plumbing

The load is BF16 8192x8192 matrix products run for a duty fraction of every 100 ms window; the
schedule starts and ends idle and between them holds random duties (0-100% in steps of 20%) for
15-45 s each, seeded so a rerun gives the same schedule. NVML (nvidia-ml-py) is sampled every 0.5 s
by a separate process, so the load's Python loop does not delay the samples. Needs PyTorch and
nvidia-ml-py on the GPU machine (not project dependencies). Columns: t_s, phase, duty, power_mw,
temp_gpu_c, temp_mem_c, sm_clock_mhz, clocks_event_reasons (NVML units, as the h100-nvml-trace).
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import random
import time

import torch

FIELDS = ("power_mw", "temp_gpu_c", "temp_mem_c", "sm_clock_mhz", "clocks_event_reasons")
WINDOW_S = 0.1


def schedule(total_s: float, idle_s: float, seed: int, phase_s=(15, 45)) -> list[tuple[str, float, float]]:
    """(phase, duty, seconds): idle, random duties held for phase_s seconds each, idle."""
    rng = random.Random(seed)
    phases, used = [("idle", 0.0, idle_s)], idle_s
    while used < total_s - 2 * idle_s:
        duty, seconds = rng.choice((0.0, 0.2, 0.4, 0.6, 0.8, 1.0)), rng.uniform(*phase_s)
        phases.append((f"duty{round(duty * 100)}", duty, seconds))
        used += seconds
    phases.append(("idle", 0.0, idle_s))
    return phases


def _nvml_reader():
    import pynvml

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)

    def read():
        try:
            mem = pynvml.nvmlDeviceGetTemperatureV(handle, pynvml.NVML_TEMPERATURE_MEMORY)
        except (pynvml.NVMLError, AttributeError):  # not answered on every driver
            mem = ""
        return (
            pynvml.nvmlDeviceGetPowerUsage(handle),
            pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU),
            mem,
            pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM),
            pynvml.nvmlDeviceGetCurrentClocksEventReasons(handle),
        )

    return read


def sample(path: str, start: float, stop: mp.Event, every_s: float) -> None:
    """Append (wall time since start, NVML fields) every `every_s` until `stop` is set."""
    read = _nvml_reader()
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["t_s", *FIELDS])
        tick = start
        while not stop.is_set():
            writer.writerow([round(time.time() - start, 3), *read()])
            tick += every_s
            time.sleep(max(0.0, tick - time.time()))


def load(phases, device: str, size: int, start: float) -> list[tuple[float, float, str, float]]:
    """Run the schedule; returns (start s, end s, phase, duty) per phase."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    spans = []
    for phase, duty, seconds in phases:
        begin = time.time() - start
        end = begin + seconds
        while time.time() - start < end:
            window = time.time()
            while time.time() - window < duty * WINDOW_S:
                torch.matmul(a, b)
                sync()
            time.sleep(max(0.0, WINDOW_S - (time.time() - window)))
        spans.append((begin, time.time() - start, phase, duty))
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=470.0)
    parser.add_argument("--idle", type=float, default=45.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--every", type=float, default=0.5)
    parser.add_argument("--smoke", action="store_true", help="6 s on CPU with small matrices, no NVML")
    args = parser.parse_args()
    device, size = ("cpu", 256) if args.smoke else ("cuda", 8192)
    phases = schedule(6.0, 1.0, args.seed, (0.5, 1.5)) if args.smoke else schedule(args.seconds, args.idle, args.seed)

    start = time.time()
    samples = args.out + ".samples"
    if args.smoke:
        spans = load(phases, device, size, start)
    else:
        spawn = mp.get_context("spawn")
        stop = spawn.Event()
        sampler = spawn.Process(target=sample, args=(samples, start, stop, args.every))
        sampler.start()
        spans = load(phases, device, size, start)
        stop.set()
        sampler.join()

    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["t_s", "phase", "duty", *FIELDS])
        if args.smoke:
            for begin, _, phase, duty in spans:
                writer.writerow([round(begin, 3), phase, duty, *[""] * len(FIELDS)])
            return
        with open(samples) as s:
            for row in csv.DictReader(s):
                t = float(row["t_s"])
                phase, duty = next(((p, d) for b, e, p, d in spans if b <= t < e), ("idle", 0.0))
                writer.writerow([row["t_s"], phase, duty, *(row[k] for k in FIELDS)])
    print(f"{len(spans)} phases, {spans[-1][1]:.0f} s, written to {args.out}")


if __name__ == "__main__":
    main()
