"""Measured serving efficiency: tokens per GPU-hour and per kWh, and what a million tokens cost.

Plain Python, no Django: telemetry.serving.rollups gathers the measured sums and calls `efficiency`.
"""

from __future__ import annotations

from dataclasses import dataclass

HOURS_PER_YEAR = 8760.0
DEPRECIATION_YEARS = 4.0  # straight-line life of an owned GPU for the owned cost per GPU-hour


@dataclass(frozen=True)
class Efficiency:
    generation_tokens: float
    prompt_tokens: float
    gpu_hours: float
    energy_kwh: float | None  # None: the GPUs reported no power in the range
    tokens_per_gpu_hour: float | None
    tokens_per_kwh: float | None
    usd_per_million_tokens_energy: float | None
    usd_per_million_tokens_owned: float | None  # energy + depreciation of the GPUs
    usd_per_million_tokens_rented: float | None  # at the catalog's on-demand price per GPU-hour
    energy_coverage: float  # share of the GPU-hours for which power was measured


def efficiency(
    *,
    generation_tokens,
    prompt_tokens,
    gpu_hours,
    energy_kwh,
    energy_coverage,
    usd_per_kwh,
    gpu_list_price_usd=None,
    usd_per_gpu_hour_rented=None,
):
    """Figures per generated (output) token, the planner's unit. `energy_kwh` is the GPUs' measured energy
    over the part of the range they reported (`energy_coverage` of the GPU-hours); it is scaled up to the
    whole range, which assumes the unmeasured part drew the same."""

    def per_million(usd):
        return usd / generation_tokens * 1e6 if generation_tokens > 0 and usd is not None else None

    energy = energy_kwh / energy_coverage if energy_kwh is not None and energy_coverage > 0 else None
    energy_usd = energy * usd_per_kwh if energy is not None else None
    owned = None
    if gpu_list_price_usd and energy_usd is not None:
        owned = energy_usd + gpu_hours * gpu_list_price_usd / (DEPRECIATION_YEARS * HOURS_PER_YEAR)
    rented = gpu_hours * usd_per_gpu_hour_rented if usd_per_gpu_hour_rented else None
    return Efficiency(
        generation_tokens=generation_tokens,
        prompt_tokens=prompt_tokens,
        gpu_hours=gpu_hours,
        energy_kwh=energy,
        tokens_per_gpu_hour=generation_tokens / gpu_hours if gpu_hours > 0 else None,
        tokens_per_kwh=generation_tokens / energy if energy else None,
        usd_per_million_tokens_energy=per_million(energy_usd),
        usd_per_million_tokens_owned=per_million(owned),
        usd_per_million_tokens_rented=per_million(rented),
        energy_coverage=energy_coverage,
    )
