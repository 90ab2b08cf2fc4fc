"""Raw GPU samples read back from the store through PromQL, in the columns telemetry.query works on."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from ..collectors.prometheus import is_dcgm_blank
from ..models import Gpu
from .client import query
from .names import METRIC_OF, SCALE, UUID_LABEL, VALUE_TYPE, selector

_blank = np.frompyfunc(is_dcgm_blank, 2, 1)
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_raw(gpu_ids, metrics, start, end):
    """Every raw sample of these GPUs in [start, end) as (gpu ids, Unix microseconds, {metric: float64 values,
    NaN where the GPU did not report it}), one row per GPU and instant, sorted by (GPU, time). One instant
    query of a range selector: the samples themselves, not a resampling. DCGM's blank sentinels are dropped."""
    metrics = list(metrics)
    uuids = dict(Gpu.objects.filter(id__in=[int(i) for i in gpu_ids]).values_list("uuid", "id"))
    parts = []
    if uuids and metrics and end > start:
        # [end - range, end] holds every sample from `start` on (a left-open range too, as in Prometheus 3)
        range_ms = math.ceil((end - start) / timedelta(milliseconds=1)) + 1
        for series in query(f"{selector(metrics, uuids)}[{range_ms}ms]", time=end):
            labels = series["metric"]
            name = labels.get("__name__", "")
            metric, gpu_id = METRIC_OF.get(name), uuids.get(labels.get(UUID_LABEL, ""))
            if metric not in metrics or gpu_id is None:
                continue
            points = np.array(series["values"], dtype=np.float64)  # [[seconds, "value"], ...]
            kept = ~_blank(points[:, 1], VALUE_TYPE.get(name, "f64")).astype(bool)
            micros = np.rint(points[kept, 0] * 1000).astype(np.int64) * 1000
            parts.append(pd.DataFrame({"gpu_id": gpu_id, "micros": micros, metric: points[kept, 1] * SCALE[metric]}))
    low, high = ((t - UNIX_EPOCH) // timedelta(microseconds=1) for t in (start, end))
    frame = pd.concat(parts) if parts else pd.DataFrame(columns=["gpu_id", "micros"])
    frame = frame[(frame["micros"] >= low) & (frame["micros"] < high)]
    # One row per (GPU, instant); a second series of one GPU and metric (relabelled) keeps its last value.
    wide = frame.groupby(["gpu_id", "micros"]).last().reindex(columns=metrics)
    ids = wide.index.get_level_values("gpu_id").to_numpy(np.int64)
    micros = wide.index.get_level_values("micros").to_numpy(np.int64)
    return ids, micros, {m: wide[m].to_numpy(np.float64) for m in metrics}


def latest_values(gpu_ids, metrics, start, end):
    """{gpu_id: (ts, *values)} of each GPU's latest sample in [start, end], None where it lacks a metric."""
    ids, micros, values = read_raw(gpu_ids, metrics, start, end + timedelta(microseconds=1))
    last = np.flatnonzero(np.append(np.diff(ids) != 0, True)) if len(ids) else []  # each GPU's last row
    return {
        int(ids[i]): (
            UNIX_EPOCH + timedelta(microseconds=int(micros[i])),
            *(None if np.isnan(values[m][i]) else float(values[m][i]) for m in metrics),
        )
        for i in last
    }
