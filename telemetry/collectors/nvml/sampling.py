"""Live sampling on a GPU host: one NVML session per worker process and the collector entry point."""

from __future__ import annotations

import fcntl
import tempfile
from datetime import datetime
from pathlib import Path

from telemetry.vocabulary import Batch

from .binding import utcnow
from .events import NvmlEventSet, open_event_set, poll_events
from .fields import read_gpus


class NvmlSession:
    """NVML initialised once per worker process, with one event set kept open so that XID and
    ECC events queue between collections instead of being missed.

    Every event set on a host receives every event, so with several worker processes on the host each
    XID would be stored once per process. Only the process holding ``event_lock`` (an exclusive flock,
    released by the kernel when its holder dies) opens the event set; the others read samples alone and
    try for the lock again at each collection, so a successor takes over when the holder exits."""

    def __init__(self, nvml, event_lock: str | None = None):
        self.nvml = nvml
        self.event_lock = event_lock
        self._lock_file = None
        self.event_set: NvmlEventSet | None = None
        nvml.nvmlInit()

    def _hold_event_lock(self) -> bool:
        if self.event_lock is None:
            return True
        if self._lock_file is None:
            lock_file = open(self.event_lock, "a")  # noqa: SIM115 - held open for the process's life
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock_file.close()
                return False
            self._lock_file = lock_file
        return True

    def collect(self, ts: datetime, poll_timeout_ms: int = 0) -> Batch:
        if self.event_set is None and self._hold_event_lock():
            self.event_set = open_event_set(self.nvml)
        events = [] if self.event_set is None else poll_events(self.nvml, self.event_set, poll_timeout_ms)
        return Batch(gpu_readings=read_gpus(self.nvml, ts), events=events)


_session: NvmlSession | None = None
EVENT_LOCK = Path(tempfile.gettempdir()) / "headroom-nvml-events.lock"


def collect(source) -> Batch:
    """Collector entry point (kind "nvml"), run by a worker on the GPU host's own queue."""
    global _session
    if _session is None:
        import pynvml

        _session = NvmlSession(pynvml, event_lock=source.options.get("event_lock", str(EVENT_LOCK)))
    return _session.collect(utcnow(), poll_timeout_ms=int(source.options.get("poll_timeout_ms", 0)))
