"""NVML events: XID critical errors and double-bit ECC as EventReadings; single-bit ECC only counted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telemetry.vocabulary import EventReading

from .binding import as_text, call_optional, is_missing_error, utcnow


@dataclass
class NvmlEventSet:
    handle: Any  # the raw nvmlEventSet_t
    registered: dict[str, int] = field(default_factory=dict)  # gpu uuid -> event-type mask
    unsupported: dict[str, str] = field(default_factory=dict)  # gpu uuid -> why none registered
    sbe_events: int = 0  # single-bit ECC events seen (counted, not emitted: gpu_ecc_sbe has them)


def _wanted_event_types(nvml) -> int:
    return (
        nvml.nvmlEventTypeXidCriticalError | nvml.nvmlEventTypeDoubleBitEccError | nvml.nvmlEventTypeSingleBitEccError
    )


def open_event_set(nvml) -> NvmlEventSet:
    """Create an event set and register XID (+ DBE, SBE where supported) on every device.

    A device that supports none of them is listed in ``unsupported``; that is not an error.
    """
    es = NvmlEventSet(handle=nvml.nvmlEventSetCreate())
    xid = nvml.nvmlEventTypeXidCriticalError
    wanted = _wanted_event_types(nvml)
    for index in range(nvml.nvmlDeviceGetCount()):
        h = nvml.nvmlDeviceGetHandleByIndex(index)
        uuid = as_text(nvml.nvmlDeviceGetUUID(h))
        supported = call_optional(nvml, nvml.nvmlDeviceGetSupportedEventTypes, h, default=xid)
        mask = wanted & supported
        if not mask:
            es.unsupported[uuid] = f"supported event types 0x{supported:x} include none wanted"
            continue
        for attempt in dict.fromkeys((mask, mask & xid)):  # all wanted, then XID alone
            if not attempt:
                continue
            try:
                nvml.nvmlDeviceRegisterEvents(h, attempt, es.handle)
            except nvml.NVMLError as exc:
                if not is_missing_error(nvml, exc):
                    raise
                es.unsupported[uuid] = type(exc).__name__
                continue
            es.registered[uuid] = attempt
            es.unsupported.pop(uuid, None)
            break
    return es


def poll_events(
    nvml,
    event_set: NvmlEventSet,
    timeout_ms: int,
    clock: Callable[[], datetime] = utcnow,
    max_events: int = 1024,
) -> list[EventReading]:
    """Wait up to ``timeout_ms`` for the first event, then drain what is queued (no wait).

    XID -> EventReading(kind="xid", code=XID number); double-bit ECC -> kind "ecc_dbe".
    Single-bit ECC events are only counted in ``event_set.sbe_events``. At most ``max_events``
    are taken per call (an error storm cannot hold the collector); the rest wait for the next.
    """
    events: list[EventReading] = []
    wait = int(timeout_ms)
    for _ in range(max_events):
        try:
            data = nvml.nvmlEventSetWait(event_set.handle, wait)
        except nvml.NVMLError as exc:
            if exc.value == nvml.NVML_ERROR_TIMEOUT:
                return events
            raise
        wait = 0
        ts = clock()
        uuid = as_text(nvml.nvmlDeviceGetUUID(data.device))
        etype = int(data.eventType)
        if etype & nvml.nvmlEventTypeXidCriticalError:
            events.append(
                EventReading(
                    kind="xid", ts=ts, gpu_uuid=uuid, code=int(data.eventData), detail="NVML XID critical error"
                )
            )
        elif etype & nvml.nvmlEventTypeDoubleBitEccError:
            events.append(EventReading(kind="ecc_dbe", ts=ts, gpu_uuid=uuid, detail="NVML double-bit ECC error event"))
        elif etype & nvml.nvmlEventTypeSingleBitEccError:
            event_set.sbe_events += 1
    return events
