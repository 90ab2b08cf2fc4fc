"""Command line on a GPU host: ``python -m telemetry.collectors.nvml read|record`` (docs/collectors.md)."""

from __future__ import annotations

import argparse
import json
import sys

from telemetry.vocabulary import GPU_METRICS

from .binding import as_text, binding_version, utcnow
from .events import open_event_set, poll_events
from .fields import FIELD_METRICS, FieldProblem, read_gpus
from .inventory import read_inventory
from .recording import record, redactor


def _cmd_read(nvml, echo=print, redact: bool = False) -> int:
    nvml.nvmlInit()
    if redact:
        scrub = redactor(read_inventory(nvml))
        raw_echo = echo

        def echo(line):
            raw_echo(scrub(line))

    try:
        echo(
            f"driver {as_text(nvml.nvmlSystemGetDriverVersion())}  "
            f"NVML {as_text(nvml.nvmlSystemGetNVMLVersion())}  pynvml {binding_version(nvml)}"
        )
        inventory = read_inventory(nvml)
        for g in inventory:
            limit = "-" if g.power_limit_w is None else f"{g.power_limit_w:.0f} W"
            echo(
                f"GPU {g.index}: {g.name}  uuid {g.uuid}  serial {g.serial or '-'}  "
                f"memory {g.memory_total_bytes / 2**30:.1f} GiB  power limit {limit}"
            )
        try:
            es = open_event_set(nvml)
            echo(
                f"events: registered {json.dumps({k: hex(v) for k, v in es.registered.items()})}"
                f" unsupported {json.dumps(es.unsupported)}"
            )
        except nvml.NVMLError as exc:
            es = None
            echo(f"events: not available ({type(exc).__name__})")
        problems: list[FieldProblem] = []
        ts = utcnow()
        for r in read_gpus(nvml, ts, problems):
            echo(f"\nGPU {r.gpu_uuid} at {ts.isoformat()}")
            echo(f"  {'metric':22} {'value':>18}  unit")
            for name, metric in GPU_METRICS.items():
                if name in r.values:
                    echo(f"  {name:22} {r.values[name]:>18.6g}  {metric.unit}")
            for p in problems:
                if p.gpu_uuid == r.gpu_uuid:
                    echo(f"  absent: {p.group} ({', '.join(FIELD_METRICS[p.group])}): {p.error}")
        if es is not None:
            events = poll_events(nvml, es, 0)
            echo(f"\nevents pending: {len(events)}")
            for e in events:
                echo(f"  {e.kind} code={e.code} gpu={e.gpu_uuid}")
            nvml.nvmlEventSetFree(es.handle)
    finally:
        nvml.nvmlShutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telemetry.collectors.nvml")
    sub = parser.add_subparsers(dest="cmd", required=True)
    read = sub.add_parser("read", help="print inventory and one reading of every GPU")
    read.add_argument("--redact", action="store_true", help="hide GPU UUIDs and serials")
    rec = sub.add_parser("record", help="record raw NVML calls to a JSON-lines file")
    rec.add_argument("--seconds", type=float, default=60.0)
    rec.add_argument("--interval", type=float, default=1.0)
    rec.add_argument("--out", required=True)
    rec.add_argument("--note", default="", help="free text stored in the header (e.g. the load)")
    rec.add_argument(
        "--redact", action="store_true", help="replace GPU UUIDs and serials by hashed aliases, consistently"
    )
    args = parser.parse_args(argv)
    import pynvml

    if args.cmd == "read":
        return _cmd_read(pynvml, redact=args.redact)
    rounds = max(1, round(args.seconds / args.interval))
    record(pynvml, rounds=rounds, interval=args.interval, out=args.out, note=args.note, redact=args.redact)
    return 0


if __name__ == "__main__":
    sys.exit(main())
