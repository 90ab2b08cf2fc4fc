"""``record``: sample a host's GPUs through a RecordingNvml and write a recording file, optionally
with GPU UUIDs and serials replaced by stable hashed aliases."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from telemetry.vocabulary import GpuReading

from .binding import as_text, binding_version, is_missing_error, utcnow
from .events import open_event_set, poll_events
from .fields import read_gpus
from .inventory import GpuInventory, read_inventory
from .replay import RECORDING_FORMAT, RecordingNvml

REDACTED_UUID_PREFIX = "GPU-00000000-0000-0000-0000-"


def redactor(inventory: Iterable[GpuInventory]) -> Callable[[str], str]:
    """Replace each UUID and serial (4+ characters) by a stable hashed alias, everywhere. UUID aliases keep
    NVML's format (all-zero leading groups, hash in the last) so the inventory still accepts them."""
    pairs = []
    for g in inventory:
        for secret, prefix, length in ((g.uuid, REDACTED_UUID_PREFIX, 12), (g.serial, "serial-redacted-", 8)):
            if len(secret) >= 4:
                pairs.append((secret, prefix + hashlib.sha256(secret.encode()).hexdigest()[:length]))

    def redact(line: str) -> str:
        for secret, alias in pairs:
            line = line.replace(secret, alias)
        return line

    return redact


def _summary_line(reading: GpuReading) -> str:
    v = reading.values

    def f(metric, fmt):
        return format(v[metric], fmt) if metric in v else "-"

    reasons = f"0x{int(v['gpu_throttle_reasons']):x}" if "gpu_throttle_reasons" in v else "-"
    return (
        f"util={f('gpu_util', '.0f')}% mem={f('gpu_mem_used', '.3g')}B "
        f"P={f('gpu_power', '.1f')}W E={f('gpu_energy', '.1f')}J T={f('gpu_temp', '.0f')}C "
        f"Tmem={f('gpu_mem_temp', '.0f')}C sm={f('gpu_sm_clock', '.0f')}MHz reasons={reasons}"
    )


def record(
    nvml,
    *,
    rounds: int,
    interval: float,
    out,
    note: str = "",
    redact: bool = False,
    poll_timeout_ms: int = 0,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    echo: Callable[[str], None] = print,
) -> Path:
    """Sample ``rounds`` times every ``interval`` s through ``nvml``, logging every raw call.

    Line 1 is the header (versions, inventory, event registration and the calls that made them);
    each further line is one round: its raw calls, the readings and events derived from them.
    """
    out = Path(out)
    rec = RecordingNvml(nvml)
    rec.nvmlInit()
    inventory = read_inventory(rec)
    versions = {}
    for key, fn in (("driver", "nvmlSystemGetDriverVersion"), ("nvml", "nvmlSystemGetNVMLVersion")):
        try:
            versions[key] = as_text(getattr(rec, fn)())
        except (AttributeError, nvml.NVMLError):
            versions[key] = None
    try:
        event_set = open_event_set(rec)
    except nvml.NVMLError as exc:
        if not is_missing_error(nvml, exc):
            raise
        event_set = None
        echo(f"events: not available ({type(exc).__name__})")
    scrub = redactor(inventory) if redact else (lambda s: s)
    header = {
        "type": "header",
        "format": RECORDING_FORMAT,
        "recorded_at": clock().isoformat(),
        "pynvml": binding_version(nvml),
        **versions,
        "interval_s": interval,
        "rounds": rounds,
        "poll_timeout_ms": poll_timeout_ms,
        "note": note,
        "redacted": redact,
        "inventory": [asdict(g) for g in inventory],
        "event_set": None
        if event_set is None
        else {"registered": event_set.registered, "unsupported": event_set.unsupported},
        "calls": rec.take_calls(),
    }
    echo(
        scrub(
            f"driver {versions['driver']} nvml {versions['nvml']} pynvml {header['pynvml']}; "
            f"{len(inventory)} GPU(s): " + ", ".join(f"{g.index}:{json.dumps(g.uuid)} {g.name}" for g in inventory)
        )
    )
    if event_set is not None:
        echo(
            scrub(
                f"events registered {json.dumps(event_set.registered)} unsupported {json.dumps(event_set.unsupported)}"
            )
        )
    start = time.monotonic()
    with out.open("w") as fh:
        fh.write(scrub(json.dumps(header)) + "\n")
        for i in range(rounds):
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                sleep(delay)
            ts = clock()
            readings = read_gpus(rec, ts)
            events = [] if event_set is None else poll_events(rec, event_set, poll_timeout_ms, clock=clock)
            line = {
                "type": "round",
                "i": i,
                "ts": ts.isoformat(),
                "calls": rec.take_calls(),
                "readings": [{"gpu_uuid": r.gpu_uuid, "values": r.values} for r in readings],
                "events": [
                    {"kind": e.kind, "ts": e.ts.isoformat(), "gpu_uuid": e.gpu_uuid, "code": e.code, "detail": e.detail}
                    for e in events
                ],
            }
            fh.write(scrub(json.dumps(line)) + "\n")
            fh.flush()
            for index, r in enumerate(readings):
                echo(f"{i:4d} {ts:%H:%M:%S} gpu{index} {_summary_line(r)}")
            for e in events:
                echo(
                    scrub(f"{i:4d} {ts:%H:%M:%S} EVENT {e.kind} code={e.code} gpu={json.dumps(e.gpu_uuid)} {e.detail}")
                )
    if event_set is not None:
        try:
            nvml.nvmlEventSetFree(event_set.handle)
        except nvml.NVMLError:
            pass
    nvml.nvmlShutdown()
    return out
