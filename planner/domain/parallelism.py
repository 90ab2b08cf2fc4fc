"""Communication cost of splitting a model over devices: tensor-parallel all-reduces,
expert-parallel all-to-alls and the pipeline-parallel bubble. Pure arithmetic on byte counts
and link figures from the catalog (reference/data/gpu-models.csv), vectorised over numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.catalog import GpuSpec, load_gpus

# Achieved collective bandwidth over the nominal per-direction link rate: NCCL all-reduce of
# 1 GiB on 8x H100 SXM (NVSwitch, 450 GB/s a direction) reaches about 360 GB/s bus bandwidth.
LINK_EFFICIENCY = 0.80
# Per-call latency of a small all-reduce (launch + synchronisation of the ring): a few
# microseconds over NVLink/Infinity Fabric with engines' one-shot kernels, more through the host.
FAST_LINK_LATENCY_S = 8e-6
HOST_LINK_LATENCY_S = 25e-6
# Devices with no figure in the catalog talk through PCIe Gen4 x16 (about 25 GB/s achieved).
DEFAULT_HOST_LINK_GB_S = 25.0
ACTIVATION_BYTES = 2  # activations cross devices in 16-bit even for FP8/FP4 weights


@dataclass(frozen=True)
class Link:
    name: str
    gb_s: float  # per device and direction, nominal
    latency_s: float


def link_for(gpu: GpuSpec, devices: int) -> Link:
    """The link `devices` devices of this model share: the fast link (NVLink, Infinity
    Fabric, on-chip RoCE) within its domain, else the host link (PCIe)."""
    spec = gpu if gpu.interconnect_gb_s is not None else load_gpus().get(gpu.name, gpu)
    if spec.interconnect_gb_s is not None and devices <= spec.fast_link_devices:
        return Link(spec.interconnect, spec.interconnect_gb_s, FAST_LINK_LATENCY_S)
    return Link("host link (PCIe)", spec.host_link_gb_s or DEFAULT_HOST_LINK_GB_S, HOST_LINK_LATENCY_S)


def allreduce_s(message_bytes, devices: int, link: Link):
    """Ring all-reduce: each device sends and receives 2(n-1)/n of the message."""
    if devices == 1:
        return np.zeros_like(np.asarray(message_bytes, dtype=float))
    wire = 2 * (devices - 1) / devices * np.asarray(message_bytes, dtype=float)
    return link.latency_s + wire / (link.gb_s * 1e9 * LINK_EFFICIENCY)


def all_to_all_s(bytes_per_device, devices: int, link: Link):
    """All-to-all (expert-parallel dispatch or combine): (n-1)/n of each device's tokens leave it."""
    if devices == 1:
        return np.zeros_like(np.asarray(bytes_per_device, dtype=float))
    wire = (devices - 1) / devices * np.asarray(bytes_per_device, dtype=float)
    return link.latency_s + wire / (link.gb_s * 1e9 * LINK_EFFICIENCY)


def pipeline_time_s(stage_s, stages: int, microbatches: int):
    """GPipe schedule: m micro-batches through p stages take (m + p - 1) stage times, so the
    bubble is (p - 1) / (m + p - 1) of the step."""
    return (microbatches + stages - 1) * np.asarray(stage_s, dtype=float)


def bubble_fraction(stages: int, microbatches: int) -> float:
    return (stages - 1) / (microbatches + stages - 1)
