"""NVML collector: read every GPU of this host through ``pynvml`` (NVIDIA's nvidia-ml-py).

This package runs on GPU hosts, so it stays plain Python: no Django. Every function takes the
NVML binding as its first argument (normally the ``pynvml`` module itself) so that tests can pass
a :class:`ReplayNvml` built from a recording of a real GPU instead.

Where things are
    binding.py    which NVML errors mean "not reported here"; text, optional calls, versions
    fields.py     field mapping: read_gpus(nvml, ts, problems=None) -> list[GpuReading]
    inventory.py  read_inventory(nvml) -> list[GpuInventory]; match_catalog_model
    events.py     open_event_set(nvml) -> NvmlEventSet; poll_events(nvml, event_set, timeout_ms)
    sampling.py   NvmlSession (one per worker process) and collect(source), the collector entry point
    replay.py     RecordingNvml(nvml), NvmlRecording.load(path), ReplayNvml(recording, round=0)
    recording.py  record(nvml, rounds=..., interval=..., out=...): a JSON-lines recording
    trace.py      read_trace_csv(path, start=..., gpu_uuid=...): the h100-nvml-trace format
    __main__.py   the command line below

Command line (run on a GPU host)
    python -m telemetry.collectors.nvml read
    python -m telemetry.collectors.nvml record --seconds 60 --interval 1 --out rec.jsonl [--redact]

A field the board or driver does not report (NVMLError_NotSupported, FunctionNotFound,
NoPermission, NoData, ...) is left out of ``GpuReading.values``; it is never an error. Any other
NVML error (GPU lost, uninitialized, unknown) propagates to the caller.
"""

from .events import open_event_set, poll_events
from .fields import read_gpus
from .inventory import GpuInventory, match_catalog_model, read_inventory
from .recording import REDACTED_UUID_PREFIX, record
from .replay import SETUP, NvmlRecording, RecordingNvml, ReplayMissError, ReplayNvml
from .sampling import NvmlSession, collect
from .trace import read_trace_csv

__all__ = [
    "REDACTED_UUID_PREFIX",
    "SETUP",
    "GpuInventory",
    "NvmlRecording",
    "NvmlSession",
    "RecordingNvml",
    "ReplayMissError",
    "ReplayNvml",
    "collect",
    "match_catalog_model",
    "open_event_set",
    "poll_events",
    "read_gpus",
    "read_inventory",
    "read_trace_csv",
    "record",
]
