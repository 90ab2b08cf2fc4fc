"""GPU inventory from NVML (UUID, serial, name, memory, power limit) and its match to the GPU catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .binding import as_text, call_optional


@dataclass(frozen=True, slots=True)
class GpuInventory:
    uuid: str
    index: int
    serial: str  # "" where the board does not report one
    name: str
    memory_total_bytes: int
    power_limit_w: float | None  # enforced limit; None where not reported


def read_inventory(nvml) -> list[GpuInventory]:
    out = []
    for index in range(nvml.nvmlDeviceGetCount()):
        h = nvml.nvmlDeviceGetHandleByIndex(index)
        limit_mw = call_optional(nvml, nvml.nvmlDeviceGetEnforcedPowerLimit, h)
        if limit_mw is None:
            limit_mw = call_optional(nvml, nvml.nvmlDeviceGetPowerManagementLimit, h)
        out.append(
            GpuInventory(
                uuid=as_text(nvml.nvmlDeviceGetUUID(h)),
                index=int(call_optional(nvml, nvml.nvmlDeviceGetIndex, h, default=index)),
                serial=as_text(call_optional(nvml, nvml.nvmlDeviceGetSerial, h, default="")),
                name=as_text(nvml.nvmlDeviceGetName(h)),
                memory_total_bytes=int(nvml.nvmlDeviceGetMemoryInfo(h).total),
                power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
            )
        )
    return out


def match_catalog_model(gpu: GpuInventory, catalog: Iterable[tuple[str, float, float]]) -> str:
    """The catalog model (name, memory_gb, tdp_w) that an NVML board is.

    NVML names boards by product ("NVIDIA H100 80GB HBM3"), the catalog by product and form factor
    ("H100 SXM 80GB"), so the family token must appear in the NVML name, the memory must agree within 5 %
    (the catalog's "80GB" is what NVML counts in GiB: 79.6 on an H100), and of what is left the TDP nearest
    the enforced power limit wins (700 W is SXM, 350-400 W PCIe/NVL). Raises LookupError naming the candidates
    when the board cannot be told apart."""
    words = set(gpu.name.upper().replace("-", " ").split())
    memory_gib = gpu.memory_total_bytes / 2**30
    fits = [
        (name, tdp_w)
        for name, catalog_gb, tdp_w in catalog
        if name.split()[0].upper() in words and abs(memory_gib - catalog_gb) <= 0.05 * catalog_gb
    ]
    if len(fits) > 1 and gpu.power_limit_w is not None:
        best = min(abs(tdp_w - gpu.power_limit_w) for _, tdp_w in fits)
        fits = [(name, tdp_w) for name, tdp_w in fits if abs(tdp_w - gpu.power_limit_w) == best]
    if len(fits) != 1:
        candidates = ", ".join(name for name, _ in fits) or "none"
        raise LookupError(
            f"GPU {gpu.index} ({gpu.name}, {memory_gib:.1f} GiB, power limit {gpu.power_limit_w} W) matches "
            f"{len(fits)} catalog models ({candidates}); name the model"
        )
    return fits[0][0]
