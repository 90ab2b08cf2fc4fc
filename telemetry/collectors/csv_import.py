"""CSV import: BMS/cooling exports and historical backfill, with a preview-and-mapping step.

Public API
    preview(file, n=20) -> Preview          columns, first rows, and a suggested Mapping to confirm or edit
    read(file, mapping, *, chunksize=50_000, progress=None) -> Iterator[CsvChunk]
        streams the file (pandas read_csv in chunks); each CsvChunk has a Batch and the row errors of that chunk;
        progress(rows_done, bytes_done, bytes_total) is called after every chunk (bytes_total 0 when unknown)
    Mapping, MetricColumn, RowError, UNIT_SCALES

``file`` is a path or a binary file object. A row with a bad cell loses only that cell: the other columns of the
row and every other row are kept, and the error names the file line, the column and what was wrong.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC

import pandas as pd

from telemetry.vocabulary import GPU_METRICS, POINT_METRICS, Batch, GpuReading, PointReading

# Unit as written in an export -> (vocabulary unit, function to it).
UNIT_SCALES = {
    "W": ("W", lambda v: v),
    "kW": ("W", lambda v: v * 1e3),
    "MW": ("W", lambda v: v * 1e6),
    "C": ("C", lambda v: v),
    "F": ("C", lambda v: (v - 32) * 5 / 9),
    "K": ("C", lambda v: v - 273.15),
    "L/min": ("L/min", lambda v: v),
    "gpm": ("L/min", lambda v: v * 3.785411784),  # US gallons per minute
    "m3/h": ("L/min", lambda v: v * 1000 / 60),
    "%": ("%", lambda v: v),
    "RPM": ("RPM", lambda v: v),
    "MiB": ("bytes", lambda v: v * 1048576),
    "bytes": ("bytes", lambda v: v),
    "J": ("J", lambda v: v),
    "count": ("count", lambda v: v),
}
ENTITY_KIND_BY_PREFIX = {"node": "node", "rack": "rack", "pdu": "pdu", "cooling": "cooling", "hall": "hall"}


@dataclass
class MetricColumn:
    metric: str  # vocabulary name
    unit: str  # a key of UNIT_SCALES, as the file has it


@dataclass
class Mapping:
    timestamp_column: str
    metrics: dict[str, MetricColumn]  # CSV column -> what it holds
    timestamp_format: str = ""  # "" = ISO 8601 / inferred, "epoch_s", "epoch_ms", or a strftime format
    timezone: str = "UTC"  # for naive timestamps
    entity_column: str = ""  # the entity's name per row ...
    entity: str = ""  # ... or one fixed entity for the whole file
    gpu_column: str = ""  # GPU UUID per row, for GPU metrics
    delimiter: str = ","

    def problems(self, columns: list[str]) -> list[str]:
        found = []
        for name in (self.timestamp_column, self.entity_column, self.gpu_column, *self.metrics):
            if name and name not in columns:
                found.append(f"column {name!r} is not in the file (columns: {', '.join(columns)})")
        for column, spec in self.metrics.items():
            metric = POINT_METRICS.get(spec.metric) or GPU_METRICS.get(spec.metric)
            if metric is None:
                found.append(f"column {column!r}: {spec.metric!r} is not a vocabulary metric")
            elif spec.unit not in UNIT_SCALES or UNIT_SCALES[spec.unit][0] != metric.unit:
                found.append(
                    f"column {column!r}: unit {spec.unit!r} cannot be converted to {metric.unit} for {spec.metric}"
                )
            elif spec.metric in GPU_METRICS and not self.gpu_column:
                found.append(f"column {column!r}: GPU metric {spec.metric} needs a GPU UUID column")
            elif spec.metric in POINT_METRICS and not (self.entity_column or self.entity):
                found.append(f"column {column!r}: {spec.metric} needs an entity column or a fixed entity")
        return found


@dataclass
class RowError:
    line: int  # line in the file, header = 1
    column: str
    message: str


@dataclass
class CsvChunk:
    batch: Batch
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


@dataclass
class Preview:
    columns: list[str]
    rows: list[dict]
    mapping: Mapping
    delimiter: str


_TIME_NAMES = re.compile(r"^(time|timestamp|ts|date|datetime|date_time|time_utc|sample_time)$", re.IGNORECASE)
_ENTITY_NAMES = re.compile(r"^(entity|name|device|host|hostname|node|unit|equipment|rack|pdu|cdu|crah|asset)$", re.I)
_UNIT_IN_HEADER = re.compile(r"[\s_\(\[]*(kw|mw|w|°?f|°?c|degf|degc|l/min|lpm|gpm|m3/h|%|rpm)[\)\]]?$", re.IGNORECASE)
_UNIT_WORDS = {
    "kw": "kW",
    "mw": "MW",
    "w": "W",
    "f": "F",
    "°f": "F",
    "degf": "F",
    "c": "C",
    "°c": "C",
    "degc": "C",
    "l/min": "L/min",
    "lpm": "L/min",
    "gpm": "gpm",
    "m3/h": "m3/h",
    "%": "%",
    "rpm": "RPM",
}


def _guess_metric(header: str) -> MetricColumn | None:
    h = header.lower()
    unit_match = _UNIT_IN_HEADER.search(h)
    unit = _UNIT_WORDS.get(unit_match.group(1)) if unit_match else None
    rules = [
        (("supply", "temp"), "cooling_supply_temp", "C"),
        (("return", "temp"), "cooling_return_temp", "C"),
        (("inlet",), "node_inlet_temp", "C"),
        (("outdoor",), "site_outdoor_temp", "C"),
        (("oat",), "site_outdoor_temp", "C"),
        (("flow",), "cooling_flow", "L/min"),
        (("heat",), "cooling_load", "kW"),
        (("cooling", "load"), "cooling_load", "kW"),
        (("cooling", "power"), "cooling_power", "kW"),
        (("facility",), "facility_power", "kW"),
        (("it", "power"), "hall_it_power", "kW"),
        (("pdu",), "pdu_power", "W"),
        (("rack", "power"), "rack_power", "W"),
        (("fan",), "node_fan", "RPM"),
        (("power",), "node_power", "W"),
    ]
    for words, metric, default_unit in rules:
        if all(re.search(rf"(^|[^a-z]){w}", h) for w in words):
            wanted = POINT_METRICS[metric].unit
            chosen = unit if unit and UNIT_SCALES.get(unit, ("",))[0] == wanted else default_unit
            return MetricColumn(metric, chosen)
    return None


def _source(file):
    return open(file, "rb") if isinstance(file, str | os.PathLike) else file  # noqa: SIM115 - caller's or ours


def preview(file, n: int = 20) -> Preview:
    """The first ``n`` rows and a suggested mapping (timestamp, entity and metric columns by their headers)."""
    handle = _source(file)
    try:
        start = handle.tell() if handle.seekable() else None
        df = pd.read_csv(handle, nrows=n, dtype=str, keep_default_na=False, sep=None, engine="python")
        delimiter = ","
        if start is not None:
            handle.seek(start)
            first = handle.readline().decode("utf-8-sig", "replace")
            delimiter = max((";", "\t", ",", "|"), key=first.count)
            handle.seek(start)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"not a readable CSV file: {exc}") from None
    finally:
        if handle is not file:
            handle.close()
    columns = [str(c) for c in df.columns]
    time_col = next((c for c in columns if _TIME_NAMES.match(c.strip())), "")
    if not time_col:  # the first column whose sample values all parse as dates
        for c in columns:
            parsed = pd.to_datetime(df[c], errors="coerce", utc=True, format="mixed")
            if len(df) and parsed.notna().all() and not pd.to_numeric(df[c], errors="coerce").notna().all():
                time_col = c
                break
    entity_col = next((c for c in columns if _ENTITY_NAMES.match(c.strip())), "")
    gpu_col = next((c for c in columns if c.strip().lower() in ("uuid", "gpu_uuid", "gpu")), "")
    metrics = {}
    for c in columns:
        if c in (time_col, entity_col, gpu_col):
            continue
        guess = _guess_metric(c)
        if guess and pd.to_numeric(df[c].replace("", None), errors="coerce").notna().any():
            metrics[c] = guess
    mapping = Mapping(time_col, metrics, entity_column=entity_col, gpu_column=gpu_col, delimiter=delimiter)
    return Preview(columns, df.to_dict("records"), mapping, delimiter)


def _timestamps(values: pd.Series, mapping: Mapping) -> pd.Series:
    if mapping.timestamp_format in ("epoch_s", "epoch_ms"):
        unit = "s" if mapping.timestamp_format == "epoch_s" else "ms"
        return pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit=unit, utc=True)
    fmt = mapping.timestamp_format or "ISO8601"
    parsed = pd.to_datetime(values, format=fmt, errors="coerce", utc=False)
    if getattr(parsed.dt, "tz", None) is None:
        return parsed.dt.tz_localize(mapping.timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert(UTC)
    return parsed.dt.tz_convert(UTC)


def read(
    file,
    mapping: Mapping,
    *,
    chunksize: int = 50_000,
    progress: Callable[[int, int, int], None] | None = None,
) -> Iterator[CsvChunk]:
    """Stream readings, ``chunksize`` rows at a time; raises ValueError for a mapping that cannot apply."""
    handle = _source(file)
    try:
        total = os.fstat(handle.fileno()).st_size if hasattr(handle, "fileno") else 0
    except (OSError, ValueError):
        total = 0
    rows_done = 0
    try:
        try:
            reader = pd.read_csv(
                handle,
                chunksize=chunksize,
                dtype=str,
                keep_default_na=False,
                sep=mapping.delimiter,
                skipinitialspace=True,
                encoding="utf-8-sig",
            )
        except pd.errors.EmptyDataError:
            raise ValueError("the CSV file is empty") from None
        for df in reader:
            if rows_done == 0:
                problems = mapping.problems([str(c) for c in df.columns])
                if problems:
                    raise ValueError("; ".join(problems))
            yield _chunk(df, mapping, first_line=rows_done + 2)
            rows_done += len(df)
            if progress:
                progress(rows_done, handle.tell() if handle.seekable() else 0, total)
    except pd.errors.ParserError as exc:
        raise ValueError(f"CSV malformed after data line {rows_done + 1}: {exc}") from None
    finally:
        if handle is not file:
            handle.close()


def _chunk(df: pd.DataFrame, mapping: Mapping, *, first_line: int) -> CsvChunk:
    errors: list[RowError] = []
    raw_ts = df[mapping.timestamp_column]
    ts = _timestamps(raw_ts, mapping)
    bad_ts = ts.isna().to_numpy()
    for i in bad_ts.nonzero()[0]:
        errors.append(
            RowError(
                first_line + int(i),
                mapping.timestamp_column,
                f"cannot read {raw_ts.iloc[i]!r} as a timestamp"
                + (f" in format {mapping.timestamp_format!r}" if mapping.timestamp_format else ""),
            )
        )
    entities = df[mapping.entity_column].str.strip() if mapping.entity_column else None
    no_entity = (entities == "").to_numpy() if entities is not None else bad_ts & False
    if any(spec.metric in POINT_METRICS for spec in mapping.metrics.values()):
        for i in (no_entity & ~bad_ts).nonzero()[0]:
            errors.append(RowError(first_line + int(i), mapping.entity_column, "empty entity name"))
    gpus = df[mapping.gpu_column] if mapping.gpu_column else None
    batch = Batch()
    gpu_values: dict[tuple, dict] = {}
    timestamps = list(ts.dt.to_pydatetime())
    for column, spec in mapping.metrics.items():
        raw = df[column].str.strip()
        numbers = pd.to_numeric(raw, errors="coerce")
        bad = (numbers.isna() & (raw != "")).to_numpy()
        for i in bad.nonzero()[0]:
            errors.append(RowError(first_line + int(i), column, f"{raw.iloc[i]!r} is not a number"))
        convert = UNIT_SCALES[spec.unit][1]
        values = convert(numbers).to_numpy()
        usable = (~numbers.isna()).to_numpy() & ~bad_ts
        if spec.metric in GPU_METRICS:
            for i in usable.nonzero()[0]:
                gpu_values.setdefault((gpus.iloc[i], timestamps[i]), {})[spec.metric] = float(values[i])
            continue
        kind = ENTITY_KIND_BY_PREFIX.get(spec.metric.split("_", 1)[0], "site")
        for i in (usable & ~no_entity).nonzero()[0]:
            entity = entities.iloc[i] if entities is not None else mapping.entity
            batch.point_readings.append(PointReading(kind, entity, spec.metric, timestamps[i], float(values[i])))
    batch.gpu_readings = [GpuReading(uuid, t, v) for (uuid, t), v in gpu_values.items() if uuid]
    return CsvChunk(batch, errors, len(df))
