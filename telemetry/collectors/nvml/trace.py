"""The h100-nvml-trace CSV (t_s relative seconds; NVML units as returned) as vocabulary readings."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from telemetry.vocabulary import EventReading, GpuReading

TRACE_COLUMNS = {  # column -> (metric, divisor to vocabulary units)
    "gpu_util_pct": ("gpu_util", 1),
    "mem_used_bytes": ("gpu_mem_used", 1),
    "power_mw": ("gpu_power", 1000),
    "energy_mj": ("gpu_energy", 1000),
    "temp_gpu_c": ("gpu_temp", 1),
    "temp_mem_c": ("gpu_mem_temp", 1),
    "sm_clock_mhz": ("gpu_sm_clock", 1),
    "clocks_event_reasons": ("gpu_throttle_reasons", 1),
    "ecc_sbe_volatile": ("gpu_ecc_sbe", 1),
    "ecc_dbe_volatile": ("gpu_ecc_dbe", 1),
    "remap_pending": ("gpu_remap_pending", 1),
    "remap_failure": ("gpu_remap_failure", 1),
}


class TraceImport(NamedTuple):
    readings: list[GpuReading]
    events: list[EventReading]


def read_trace_csv(path, *, start: datetime, gpu_uuid: str) -> TraceImport:
    """Parse an NVML trace CSV (as in tests/fixtures/h100-nvml-trace) into vocabulary readings.

    ``t_s`` is seconds after ``start``; empty cells are absent values; a non-empty ``xid`` cell
    (codes separated by ';' or spaces) becomes xid EventReadings.
    """
    readings, events = [], []
    with Path(path).open(newline="") as fh:
        for row in csv.DictReader(fh):
            ts = start + timedelta(seconds=float(row["t_s"]))
            values = {}
            for column, (metric, divisor) in TRACE_COLUMNS.items():
                cell = (row.get(column) or "").strip()
                if cell:
                    values[metric] = float(cell) / divisor if divisor != 1 else float(cell)
            readings.append(GpuReading(gpu_uuid=gpu_uuid, ts=ts, values=values))
            for code in (row.get("xid") or "").replace(";", " ").split():
                events.append(EventReading(kind="xid", ts=ts, gpu_uuid=gpu_uuid, code=int(code), detail="from trace"))
    return TraceImport(readings, events)
