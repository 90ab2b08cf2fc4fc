"""GPU readings on their way in: checked per column with numpy, kept as columns (GpuRows), written by one
binary COPY in pieces (or bulk_create where there is no COPY)."""

from datetime import UTC, datetime, timedelta
from itertools import repeat

import numpy as np
from django.db import connection

from .. import pgcopy, promstore
from ..models import Gpu, GpuSample
from ..models.samples import INTEGER_METRICS
from ..validation import (
    gpu_metric_columns,
    gpu_reading_problems,
    gpu_value_columns,
    timestamp_column,
    unix_micros,
)
from ..vocabulary import GPU_METRICS, GpuReading
from .store import bulk_insert, copy_insert, utc_days

GPU_COLUMNS = ("gpu_id", "ts", *GPU_METRICS)
# Binary COPY needs each column's exact type.
_PG_TYPES = {"RealField": "float4", "FloatField": "float8", "BigIntegerField": "int8", "IntegerField": "int4"}
GPU_COPY_TYPES = [
    "int8",
    "timestamptz",
    *(_PG_TYPES.get(type(GpuSample._meta.get_field(m)).__name__, "int2") for m in GPU_METRICS),
]
# GPU readings are validated and encoded in pieces of this many, each sent as soon as it is ready: the
# server stores one piece while Python checks the next (two cores at work instead of one after the other).
GPU_PIECE = 2000


def gpu_ids(organization, uuids):
    if not uuids:
        return {}
    gpus = Gpu.objects.for_org(organization).order_by()  # a dict needs no order (the default sorts by hostname)
    if connection.vendor == "postgresql":  # one array parameter: binding 10,000 IN parameters took ~35 ms
        gpus = gpus.extra(where=[f"{Gpu._meta.db_table}.uuid = ANY(%s)"], params=[list(uuids)])
    else:
        gpus = gpus.filter(uuid__in=uuids)
    return dict(gpus.values_list("uuid", "id"))


class GpuReadingColumns:
    """GPU readings as parallel lists, for a caller that has them column-wise already (the push API): ingest
    takes it in place of a list of GpuReading, without building an object per reading. The values are either
    `values`, a dict per reading, or `metrics`, per metric a list with None where a reading lacks it (a
    columnar push). Indexing gives a GpuReading."""

    def __init__(self, uuids, stamps, values=None, *, metrics=None):
        self.uuids, self.stamps, self.values, self.metrics = uuids, stamps, values, metrics

    @classmethod
    def of(cls, readings):
        if isinstance(readings, cls):
            return readings
        return cls([r.gpu_uuid for r in readings], [r.ts for r in readings], [r.values for r in readings])

    def __len__(self):
        return len(self.uuids)

    def __getitem__(self, index):
        if self.metrics is None:
            values = self.values[index]
        else:
            values = {m: column[index] for m, column in self.metrics.items() if column[index] is not None}
        return GpuReading(self.uuids[index], self.stamps[index], values)

    def part(self, start, stop):
        if self.metrics is None:
            return GpuReadingColumns(self.uuids[start:stop], self.stamps[start:stop], self.values[start:stop])
        metrics = {m: column[start:stop] for m, column in self.metrics.items()}
        return GpuReadingColumns(self.uuids[start:stop], self.stamps[start:stop], metrics=metrics)


class Pieces:
    """The items of an iterator, made once as they are first asked for and kept, so that a write that has to
    start over (a re-sent batch, a missing partition) sends the same pieces again without redoing them."""

    def __init__(self, items):
        self._items, self._made = iter(items), []

    def __iter__(self):
        yield from self._made
        for item in self._items:
            self._made.append(item)
            yield item


class GpuRows:
    """Valid GPU readings as columns: GPU ids, Unix microseconds, and per metric its values and where present."""

    def __init__(self, ids, micros, values, present):
        self.ids, self.micros, self.values, self.present = ids, micros, values, present

    def __len__(self):
        return len(self.ids)

    def select(self, rows):
        return GpuRows(
            self.ids[rows],
            self.micros[rows],
            {m: v[rows] for m, v in self.values.items()},
            {m: p[rows] for m, p in self.present.items()},
        )

    @classmethod
    def concat(cls, parts):
        parts = [p for p in parts if len(p)]
        metrics = {m for p in parts for m in p.values}
        return cls(
            np.concatenate([p.ids for p in parts]),
            np.concatenate([p.micros for p in parts]),
            {m: np.concatenate([p.column(m)[0] for p in parts]) for m in metrics},
            {m: np.concatenate([p.column(m)[1] for p in parts]) for m in metrics},
        )

    def column(self, metric):
        """(values, present) of a metric; a metric no reading has is all NULL."""
        if metric in self.values:
            return self.values[metric], self.present[metric]
        return np.zeros(len(self), GPU_DTYPES[metric]), np.zeros(len(self), bool)

    def copy_tuples(self):
        """The rows as COPY BINARY tuples in GPU_COLUMNS order (telemetry.pgcopy.tuples)."""
        columns, present = [self.ids, self.micros - pgcopy.PG_EPOCH_US], [None, None]
        for metric in GPU_METRICS:
            values, mask = self.column(metric)
            columns.append(values)
            present.append(mask)
        return pgcopy.tuples(GPU_COPY_TYPES, columns, present)

    def tuples(self):
        """The rows as tuples in GPU_COLUMNS order (None where NULL), for databases without COPY."""
        stamps = [UNIX_EPOCH + timedelta(microseconds=us) for us in self.micros.tolist()]
        columns = [self.ids.tolist(), stamps]
        for metric in GPU_METRICS:
            values, mask = self.column(metric)
            columns.append([v if p else None for v, p in zip(values.tolist(), mask.tolist(), strict=True)])
        return list(zip(*columns, strict=True))


GPU_DTYPES = {m: np.int64 if m in INTEGER_METRICS else np.float64 for m in GPU_METRICS}
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def gpu_rows(readings, gpu_ids, now, oldest, result, offset=0):
    """The valid readings (GpuReadingColumns) as GpuRows. The batch is checked per column with numpy
    (validation.gpu_value_columns); a reading that is not certainly valid there goes through the full
    per-reading rules, which give the messages and convert exactly what they accept. `offset`: the index
    of readings[0] in the batch, for the errors."""
    n = len(readings)
    try:  # one C-level pass; a UUID that is not a string (a list from JSON: unhashable) takes the slow one
        ids = np.fromiter(map(gpu_ids.get, readings.uuids, repeat(-1, n)), np.int64, n)
    except TypeError:
        ids = np.fromiter((gpu_ids.get(u, -1) if type(u) is str else -1 for u in readings.uuids), np.int64, n)
    micros, ok = timestamp_column(readings.stamps, now, oldest)
    if readings.metrics is None:
        values, present, good = gpu_value_columns(readings.values, GPU_DTYPES)
    else:
        values, present, good = gpu_metric_columns(readings.metrics, n, GPU_DTYPES, absent=None)
    ok &= good & (ids >= 0)
    checked = []  # (gpu id, micros, values) of readings that passed the per-reading rules
    for index in np.flatnonzero(~ok).tolist():
        reading = readings[index]
        problems = gpu_reading_problems(reading, now, oldest)
        if ids[index] < 0 and not any(f == "gpu_uuid" for f, _ in problems):
            problems.append(("gpu_uuid", f"unknown GPU {reading.gpu_uuid}: add it to this organization's inventory"))
        if problems:
            result.reject("gpu_readings", offset + index, problems)
        else:
            exact = {m: int(v) if m in INTEGER_METRICS else float(v) for m, v in reading.values.items()}
            checked.append((int(ids[index]), unix_micros(reading.ts), exact))
    rows = GpuRows(ids, micros, values, present).select(ok)
    if checked:
        metrics = {m for _, _, v in checked for m in v}
        rows = GpuRows.concat(
            [
                rows,
                GpuRows(
                    np.array([c[0] for c in checked], np.int64),
                    np.array([c[1] for c in checked], np.int64),
                    {m: np.array([v.get(m, 0) for _, _, v in checked], GPU_DTYPES[m]) for m in metrics},
                    {m: np.array([m in v for _, _, v in checked], bool) for m in metrics},
                ),
            ]
        )
    return rows


def write_gpu(pieces):
    """Write GpuRows pieces; returns (rows written, rows new)."""
    if promstore.enabled():
        return promstore.write_gpu(pieces)
    if connection.vendor != "postgresql":
        parts = [rows for rows in pieces if len(rows)]
        if not parts:
            return 0, 0
        rows = GpuRows.concat(parts)
        return len(rows), bulk_insert(GpuSample, GPU_COLUMNS, rows.tuples())
    encoded = Pieces((rows, rows.copy_tuples()) for rows in pieces)

    def days():
        micros = [f(rows.micros) for rows, _ in encoded if len(rows) for f in (np.min, np.max)]
        return utc_days(*(UNIX_EPOCH + timedelta(microseconds=int(f(micros))) for f in (min, max))) if micros else []

    inserted = copy_insert(
        GpuSample._meta.db_table, GPU_COLUMNS, GPU_COPY_TYPES, pieces=lambda: (data for _, data in encoded), days=days
    )
    return sum(len(rows) for rows, _ in encoded), inserted
