"""1-minute GPU rollups from the raw samples in the store: min/max/sum/count/last_over_time per bucket.

A bucket [t, t + 60 s) is the range function's window evaluated at t + 60 s with `offset 1ms`: the window
(t - 1 ms, t + 60 s - 1 ms] holds exactly the bucket's millisecond samples (Prometheus 3, VictoriaMetrics; 2.x
closes the window on the left too, which would add a sample stamped 1 ms before the bucket). Series are
aggregated by UUID: a Prometheus that scrapes dcgm-exporter may hold several series of one GPU (Kubernetes pod
labels change with the job). The coarser levels and the hall rollups are built from these rows in the
database, as in postgres mode.
"""

from datetime import timedelta

import numpy as np
import pandas as pd

from ..collectors.prometheus_api import MAX_POINTS
from ..models import Gpu, Resolution
from ..vocabulary import GPU_METRICS
from .client import query
from .names import SCALE, UUID_LABEL, selector

STEP_S = int(Resolution.MINUTE)
POINTS_PER_QUERY = 2_000_000  # well below Prometheus's default --query.max-samples (50 M)


# PromQL function per statistic fetched; avg is sum / n, divided here as the database's avg does.
FUNCTIONS = {
    "min": "min_over_time",
    "max": "max_over_time",
    "sum": "sum_over_time",
    "n": "count_over_time",
    "last": "last_over_time",
}
# Several series of one GPU in a bucket: the lowest min, highest max, summed sums and counts (last: the highest)
COMBINE = {"min": "min", "max": "max", "sum": "sum", "n": "sum", "last": "max"}


def _promql(stat, uuids):
    """One query of a statistic for every metric, each under a `metric` label (a range function drops the
    name, and two metrics of one GPU would then collide)."""
    return " or ".join(
        f"label_replace({COMBINE[stat]} by ({UUID_LABEL}) ({FUNCTIONS[stat]}({selector([m], uuids)}"
        f'[{STEP_S}s] offset 1ms)), "metric", "{m}", "", "")'
        for m in GPU_METRICS
    )


def minute_rollups(start, end, org=None):
    """The 1-minute buckets in [start, end) (whole minutes) of one organization's GPUs (else all) as a
    DataFrame indexed by (entity = GPU id, t = bucket start in Unix seconds), columns `{metric}_{stat}` as
    telemetry.rollups writes them (n as int64; a metric without samples NaN, with n 0)."""
    gpus = Gpu.objects.all() if org is None else Gpu.objects.filter(node__rack__hall__site__organization_id=org)
    uuids = dict(gpus.values_list("uuid", "id"))
    buckets = int((end - start).total_seconds()) // STEP_S
    if not uuids or buckets <= 0:
        return pd.DataFrame()
    # Name the GPUs only when other organizations' share the store; foreign series are dropped below.
    wanted = list(uuids) if org is not None and len(uuids) < Gpu.objects.count() else None
    per_query = max(1, min(MAX_POINTS, POINTS_PER_QUERY // (len(uuids) * len(GPU_METRICS))))
    columns = {}
    for first in range(0, buckets, per_query):
        low = start + timedelta(seconds=(first + 1) * STEP_S)  # each bucket is evaluated at its end
        high = start + timedelta(seconds=min(buckets, first + per_query) * STEP_S)
        for stat in FUNCTIONS:
            for series in query(_promql(stat, wanted), start=low, end=high, step=STEP_S):
                metric, gpu_id = series["metric"]["metric"], uuids.get(series["metric"].get(UUID_LABEL))
                if gpu_id is None:
                    continue
                points = np.array(series["values"], dtype=np.float64)  # [[seconds, "value"], ...]
                index = pd.MultiIndex.from_arrays(
                    [np.full(len(points), gpu_id, np.int64), points[:, 0].astype(np.int64) - STEP_S],
                    names=["entity", "t"],
                )
                factor = 1.0 if stat == "n" else SCALE[metric]  # a sum scales like the values
                columns.setdefault(f"{metric}_{stat}", []).append(pd.Series(points[:, 1] * factor, index=index))
    if not columns:
        return pd.DataFrame()
    frame = pd.DataFrame({name: pd.concat(parts) for name, parts in columns.items()})
    for name in (f"{m}_{s}" for m in GPU_METRICS for s in FUNCTIONS):
        if name not in frame:
            frame[name] = np.nan
    for metric in GPU_METRICS:
        frame[f"{metric}_avg"] = frame.pop(f"{metric}_sum") / frame[f"{metric}_n"]
        frame[f"{metric}_n"] = frame[f"{metric}_n"].fillna(0).astype(np.int64)
    return frame
