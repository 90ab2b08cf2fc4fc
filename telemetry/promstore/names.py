"""Headroom's GPU metrics as Prometheus series: dcgm-exporter's names and units, one series per GPU labelled
with its UUID, so a Prometheus that scrapes dcgm-exporter itself holds what Headroom reads. Django-free."""

from telemetry.collectors.prometheus import DCGM_FIELDS
from telemetry.vocabulary import GPU_METRICS

UUID_LABEL = "UUID"
# dcgm-exporter reports retired pages per cause (SBE, DBE); Headroom keeps their sum, under its own name.
OWN_NAMES = {"gpu_retired_pages": "headroom_gpu_retired_pages"}


def _names():
    names = {metric: [] for metric in GPU_METRICS}
    scale = {}
    for name, (metric, factor, _) in DCGM_FIELDS.items():
        names[metric].append(name)  # the first is the one written (DCGM < 3.3's, before a rename)
        scale[metric] = factor
    for metric, name in OWN_NAMES.items():
        names[metric], scale[metric] = [name], 1.0
    return {m: tuple(n) for m, n in names.items()}, scale


# metric -> its series names (any is read, the first written); Headroom's unit per stored unit (MiB -> bytes)
NAMES, SCALE = _names()
METRIC_OF = {name: metric for metric, names in NAMES.items() for name in names}
VALUE_TYPE = {name: kind for name, (_, _, kind) in DCGM_FIELDS.items()}  # which DCGM blanks apply


def alternatives(values) -> str:
    """A PromQL regex matching exactly these strings (RE2 metacharacters escaped, inside a double-quoted
    PromQL string)."""
    special = set(r"\.+*?()|[]{}^$")
    escaped = ("".join("\\\\" + c if c in special else c for c in str(v)) for v in sorted(set(values)))
    return "|".join(v.replace('"', '\\"') for v in escaped)


def selector(metrics, uuids=None) -> str:
    """The series selector of these metrics, of these GPUs (None: of every GPU)."""
    names = alternatives(name for metric in metrics for name in NAMES[metric])
    gpus = "" if uuids is None else f',{UUID_LABEL}=~"{alternatives(uuids)}"'
    return f'{{__name__=~"{names}"{gpus}}}'
