"""Ingest's GPU write in Prometheus mode: the valid readings (GpuRows pieces) as one remote-write request."""

import numpy as np

from ..models import Gpu
from ..vocabulary import GPU_METRICS
from .client import remote_write
from .names import NAMES, SCALE, UUID_LABEL


def write_gpu(pieces):
    """Remote-write GpuRows pieces; returns (rows written, rows new). Timestamps go at Prometheus's millisecond
    resolution; a second reading of a GPU in the same millisecond of a batch is a duplicate, as in the table.
    Readings sent again in a later batch are written again (Prometheus keeps one sample of equal ones)."""
    parts = [rows for rows in pieces if len(rows)]
    if not parts:
        return 0, 0
    ids = np.concatenate([p.ids for p in parts])
    millis = np.concatenate([p.micros for p in parts]) // 1000
    order = np.lexsort((millis, ids))
    first = np.ones(len(order), bool)  # the first reading of each (GPU, millisecond), in time order per GPU
    first[1:] = (np.diff(ids[order]) != 0) | (np.diff(millis[order]) != 0)
    rows = order[first]
    uuid_of = dict(Gpu.objects.filter(id__in=np.unique(ids).tolist()).values_list("id", "uuid"))
    series = []
    for metric in GPU_METRICS:
        values, present = (np.concatenate(c) for c in zip(*(p.column(metric) for p in parts), strict=True))
        kept = rows[present[rows]]
        if not len(kept):
            continue
        gpu_ids = ids[kept]
        bounds = np.flatnonzero(np.diff(gpu_ids)) + 1
        for chunk in np.split(np.arange(len(kept)), bounds):
            labels = {"__name__": NAMES[metric][0], UUID_LABEL: uuid_of[int(gpu_ids[chunk[0]])]}
            series.append((labels, millis[kept[chunk]], values[kept[chunk]] / SCALE[metric]))
    remote_write(series)
    return len(ids), len(rows)
