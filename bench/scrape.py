"""Benchmark of exposition parsing: prometheus_client's parser against ours on dcgm-exporter output.

Expositions follow dcgm-exporter 3.3's format with the failure-forecasting counters on (29 fields per GPU,
8 GPUs a host, and a 1,000-GPU text as one scrape of a large federation). Every figure is printed beside the
library parser timed in the same run on the same text, so the ratios hold across machines; the outputs of both
parsers are compared before timing. Run: .venv/bin/python bench/scrape.py
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telemetry.collectors.prometheus import (  # noqa: E402
    parse_exposition,
    parse_samples,
    parse_samples_library,
)

# (field, type, help) as dcgm-exporter prints them, with the counters failure forecasting needs turned on.
DCGM_COUNTERS = [
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", lambda r, u: 1980 if u else 345),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).", lambda r, u: 2619),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C).", lambda r, u: r.randint(38, 62)),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", lambda r, u: r.randint(31, 71)),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", lambda r, u: f"{70 + 6.1 * u + r.uniform(-8, 8):.6f}"),
    (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "counter",
        "Total energy consumption since boot (in mJ).",
        lambda r, u: r.randint(10**11, 9 * 10**12),
    ),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries.", lambda r, u: 0),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", lambda r, u: u),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).", lambda r, u: u // 3),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered.", lambda r, u: 0),
    ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "gauge", "Current clock event reasons.", lambda r, u: 0 if u else 1),
    (
        "DCGM_FI_DEV_POWER_VIOLATION",
        "counter",
        "Throttling duration due to power constraints (in us).",
        lambda r, u: r.randint(0, 10**8),
    ),
    (
        "DCGM_FI_DEV_THERMAL_VIOLATION",
        "counter",
        "Throttling duration due to thermal constraints (in us).",
        lambda r, u: 0,
    ),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", lambda r, u: 81559 - 800 * u),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", lambda r, u: 800 * u),
    ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter", "Total number of single-bit volatile ECC errors.", lambda r, u: 0),
    ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total number of double-bit volatile ECC errors.", lambda r, u: 0),
    (
        "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL",
        "counter",
        "Total number of single-bit persistent ECC errors.",
        lambda r, u: r.randint(0, 3),
    ),
    ("DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", "counter", "Total number of double-bit persistent ECC errors.", lambda r, u: 0),
    ("DCGM_FI_DEV_RETIRED_SBE", "counter", "Total number of retired pages due to single-bit errors.", lambda r, u: 0),
    ("DCGM_FI_DEV_RETIRED_DBE", "counter", "Total number of retired pages due to double-bit errors.", lambda r, u: 0),
    ("DCGM_FI_DEV_RETIRED_PENDING", "counter", "Total number of pages pending retirement.", lambda r, u: 0),
    (
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for uncorrectable errors",
        lambda r, u: 0,
    ),
    (
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for correctable errors",
        lambda r, u: r.randint(0, 2),
    ),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed", lambda r, u: 0),
    ("DCGM_FI_DEV_ROW_REMAP_PENDING", "gauge", "Whether remapping of rows is pending", lambda r, u: 0),
    (
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "gauge",
        "Ratio of time the graphics engine is active.",
        lambda r, u: f"{u / 102:.6f}",
    ),
    (
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "gauge",
        "Ratio of cycles the tensor (HMMA) pipe is active.",
        lambda r, u: f"{u / 240:.6f}",
    ),
    (
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "gauge",
        "Ratio of cycles the device memory interface is active.",
        lambda r, u: f"{u / 160:.6f}",
    ),
]


def dcgm_exposition(gpus: int, *, seed: int = 0, gpus_per_host: int = 8) -> str:
    """A dcgm-exporter 3.3 exposition for ``gpus`` H100s, ``gpus_per_host`` per Hostname."""
    rng = random.Random(seed)
    labels, utils = [], []
    for i in range(gpus):
        h = f"{rng.getrandbits(128):032x}"
        uuid = f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        local = i % gpus_per_host
        labels.append(
            f'gpu="{local}",UUID="{uuid}",pci_bus_id="00000000:{0x18 + 16 * local:02X}:00.0",device="nvidia{local}",'
            f'modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-{i // gpus_per_host:04d}",'
            'DCGM_FI_DRIVER_VERSION="550.90.07"'
        )
        utils.append(rng.choice([0, 76, 88, 93, 97, 99, 100, 100]))
    lines = []
    for name, typ, help_text, value in DCGM_COUNTERS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {typ}"]
        lines += [f"{name}{{{labels[i]}}} {value(rng, utils[i])}" for i in range(gpus)]
    return "\n".join(lines) + "\n"


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ts = datetime.now(UTC)
    print(f"{'exposition':<28}{'samples':>9}{'library':>16}{'fast':>16}{'ratio':>8}{'full map (fast)':>20}")
    for gpus, repeat in ((8, 200), (1000, 5)):
        text = dcgm_exposition(gpus)
        samples = parse_samples_library(text)
        assert parse_samples(text) == samples, "fast parser differs from prometheus_client"
        n = len(samples)
        library_s = best_of(lambda t=text: parse_samples_library(t), repeat)
        fast_s = best_of(lambda t=text: parse_samples(t), repeat)
        full_s = best_of(lambda t=text: parse_exposition(t, ts), repeat)
        print(
            f"{f'dcgm-exporter, {gpus} GPUs':<28}{n:>9}{n / library_s:>12,.0f} /s{n / fast_s:>12,.0f} /s"
            f"{library_s / fast_s:>7.1f}x{n / full_s:>16,.0f} /s"
        )


if __name__ == "__main__":
    main()
