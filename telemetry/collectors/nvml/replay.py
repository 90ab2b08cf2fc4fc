"""Record and replay NVML at the level of raw binding calls.

``RecordingNvml`` passes every ``nvml*`` call through to pynvml and logs its arguments and answer;
``NvmlRecording`` is such a log as a file; ``ReplayNvml`` answers the same calls from it, strictly,
so tests run the collector's own code against what a real GPU said.
"""

from __future__ import annotations

import ctypes
import functools
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from telemetry.vocabulary import GpuReading

RECORDING_FORMAT = "headroom-nvml-recording/1"
SETUP = "setup"  # ReplayNvml.select(SETUP): the calls made before the first sample round


class ReplayMissError(LookupError):
    """ReplayNvml was asked for a call the recording does not hold (never an NVMLError)."""


@dataclass(frozen=True)
class _Handle:
    """A device or event-set handle in a replay; recorded as {"$h": token}."""

    token: str

    def __repr__(self) -> str:
        return f"<nvml handle {self.token}>"


class _Struct:
    """An NVML result structure in a replay: attributes as recorded."""

    def __init__(self, type_name: str, fields: dict):
        self._type_name = type_name
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "_type_name")
        return f"{self._type_name}({inner})"


def _pointer_address(obj) -> int | None:
    return ctypes.cast(obj, ctypes.c_void_p).value


class _Codec:
    """Turns pynvml arguments and results into JSON and back; handles become stable tokens."""

    def __init__(self):
        self.tokens: dict[int, str] = {}  # pointer address -> token

    def token_for(self, ptr, hint: str) -> str:
        addr = _pointer_address(ptr)
        if addr is None:
            return "null"
        if addr not in self.tokens:
            token = hint if hint not in self.tokens.values() else f"{hint}.{len(self.tokens)}"
            self.tokens[addr] = token
        return self.tokens[addr]

    def encode(self, obj, hint: str = "h"):
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        if isinstance(obj, _Handle):
            return {"$h": obj.token}
        if isinstance(obj, _Struct):
            return {"$s": obj._type_name, "f": {k: self.encode(v) for k, v in vars(obj).items() if k != "_type_name"}}
        if isinstance(obj, bytes):
            return {"$b": obj.decode("latin-1")}
        if isinstance(obj, ctypes._Pointer):
            return {"$h": self.token_for(obj, hint)}
        if isinstance(obj, ctypes.Structure | ctypes.Union):
            return {
                "$s": type(obj).__name__,
                "f": {f[0]: self.encode(getattr(obj, f[0]), hint=f[0]) for f in obj._fields_},
            }
        if isinstance(obj, ctypes.Array):
            return [self.encode(x) for x in obj]
        if isinstance(obj, ctypes._SimpleCData):
            return self.encode(obj.value)
        if isinstance(obj, list | tuple):
            return [self.encode(x) for x in obj]
        if isinstance(obj, dict):
            return {"$d": {str(k): self.encode(v) for k, v in obj.items()}}
        return {"$repr": repr(obj)}

    @staticmethod
    def decode(obj):
        if isinstance(obj, list):
            return [_Codec.decode(x) for x in obj]
        if isinstance(obj, dict):
            if "$h" in obj:
                return _Handle(obj["$h"])
            if "$s" in obj:
                return _Struct(obj["$s"], {k: _Codec.decode(v) for k, v in obj["f"].items()})
            if "$b" in obj:
                return obj["$b"].encode("latin-1")
            if "$d" in obj:
                return {k: _Codec.decode(v) for k, v in obj["$d"].items()}
            if "$repr" in obj:
                return obj["$repr"]
        return obj


def _call_key(fn: str, encoded_args: list) -> str:
    return json.dumps([fn, encoded_args], sort_keys=True)


class RecordingNvml:
    """Pass-through proxy around pynvml that logs every ``nvml*`` call and its result or error.

    ``take_calls()`` returns and clears the log. A function the binding lacks is logged as
    ``{"fn": name, "missing": true}`` so that the replay lacks it too.
    """

    def __init__(self, nvml):
        self._nvml = nvml
        self._calls: list[dict] = []
        self._codec = _Codec()

    def take_calls(self) -> list[dict]:
        calls, self._calls = self._calls, []
        return calls

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            value = getattr(self._nvml, name)
        except AttributeError:
            if name.startswith("nvml"):
                self._calls.append({"fn": name, "missing": True})
            raise
        if name.startswith("nvml") and callable(value):
            return functools.partial(self._call, name, value)
        return value

    def _call(self, name, fn, *args):
        entry: dict[str, Any] = {"fn": name, "args": [self._codec.encode(a) for a in args]}
        try:
            result = fn(*args)
        except self._nvml.NVMLError as exc:
            entry["err"] = exc.value
            entry["err_name"] = type(exc).__name__
            self._calls.append(entry)
            raise
        hint = (
            f"gpu{args[0]}"
            if name.startswith("nvmlDeviceGetHandleByIndex")
            else ("evset" if name == "nvmlEventSetCreate" else "h")
        )
        entry["ok"] = self._codec.encode(result, hint=hint)
        self._calls.append(entry)
        return result


class NvmlRecording:
    """A recording file: a header (inventory, versions, setup calls) and one line per round."""

    def __init__(self, header: dict, rounds: list[dict], source: str = "<memory>"):
        if header.get("format") != RECORDING_FORMAT:
            raise ValueError(f"{source}: not a {RECORDING_FORMAT} recording")
        self.header = header
        self.rounds = rounds
        self.source = source

    @classmethod
    def load(cls, path) -> NvmlRecording:
        lines = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
        return cls.from_lines(lines, source=str(path))

    @classmethod
    def from_lines(cls, lines: list[dict], source: str = "<memory>") -> NvmlRecording:
        if not lines or lines[0].get("type") != "header":
            raise ValueError(f"{source}: first line must be the header")
        return cls(lines[0], [x for x in lines[1:] if x.get("type") == "round"], source)

    def round_ts(self, i: int) -> datetime:
        return datetime.fromisoformat(self.rounds[i]["ts"])

    def recorded_readings(self, i: int) -> list[GpuReading]:
        ts = self.round_ts(i)
        return [GpuReading(gpu_uuid=r["gpu_uuid"], ts=ts, values=r["values"]) for r in self.rounds[i]["readings"]]


class ReplayNvml:
    """Answers pynvml calls from a recording, exactly as the driver answered them.

    Calls are answered from the selected record: a sample round (``round=i``, default 0) or the
    setup record (``round=SETUP``: nvmlInit, inventory, event registration). Repeated identical
    calls get the recorded answers in order, the last one repeating. A call the selected record
    does not hold raises ReplayMissError. Constants and the NVMLError classes come from pynvml.
    """

    def __init__(self, recording, round: int | str = 0, pynvml_module=None):
        if pynvml_module is None:
            import pynvml as pynvml_module
        self._pynvml = pynvml_module
        self._recording = recording if isinstance(recording, NvmlRecording) else NvmlRecording.load(recording)
        self._codec = _Codec()
        self.select(round)

    @property
    def recording(self) -> NvmlRecording:
        return self._recording

    def select(self, which: int | str) -> ReplayNvml:
        if which == SETUP:
            record = self._recording.header
        else:
            record = self._recording.rounds[which]
        self._selected = which
        self._answers: dict[str, list[dict]] = {}
        self._missing: set[str] = set()
        self._recorded_fns: set[str] = set()
        for call in record.get("calls", []):
            if call.get("missing"):
                self._missing.add(call["fn"])
                continue
            self._recorded_fns.add(call["fn"])
            self._answers.setdefault(_call_key(call["fn"], call["args"]), []).append(call)
        self._next: dict[str, int] = {}
        return self

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._missing:
            raise AttributeError(f"{name}: absent from the binding when this was recorded")
        value = getattr(self._pynvml, name, None)
        if name.startswith("nvml") and (callable(value) or name in self._recorded_fns):
            return functools.partial(self._answer, name)
        if value is None:
            raise AttributeError(name)
        return value

    def _answer(self, name, *args):
        encoded = [self._codec.encode(a) for a in args]
        key = _call_key(name, encoded)
        entries = self._answers.get(key)
        if not entries:
            raise ReplayMissError(
                f"ReplayNvml: {name}({', '.join(map(json.dumps, encoded))}) is not in record "
                f"{self._selected!r} of {self._recording.source}; that record holds calls to: "
                f"{', '.join(sorted(self._recorded_fns)) or 'nothing'}"
            )
        i = self._next.get(key, 0)
        self._next[key] = i + 1
        entry = entries[min(i, len(entries) - 1)]
        if "err" in entry:
            raise self._pynvml.NVMLError(entry["err"])
        return self._codec.decode(entry["ok"])
