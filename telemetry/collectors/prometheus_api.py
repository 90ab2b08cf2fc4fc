"""Prometheus HTTP API pull (``/api/v1/query_range``) for fleets that already keep their data in Prometheus.

Public API
    collect(source, *, now=None) -> Batch                 [now - lookback, now]
    backfill(source, start, end) -> Batch                 a gap's chunk (telemetry.gaps chunks and records it)
    lookback(source) -> timedelta; step(source) -> float
    parse_query_range(answer, *, queries=..., xid_tracker=None, xid_scope="") -> Batch   (answers in query order)
    default_queries() -> list[Query]
    Query(promql, metric="", entity_kind="node", entity_label="", scale=1.0)

``source.endpoint`` is the Prometheus base URL (``http://prometheus:9090``). ``source.options``:
    lookback_s  how far back each pull reaches (default 2 x interval_s, at least 60); overlapping pulls are
                safe: they ask for the same step-aligned instants and ingest drops samples it already has
    step_s      query resolution (default 30, dcgm-exporter's default interval)
    backfill_chunk_s, backfill_chunks_per_run, backfill_max_s   see telemetry.gaps (after an outage the
                missed span is pulled again in chunks)
    queries     extra queries: [{"query": PromQL, "metric": vocabulary name, "entity_label": "instance",
                "entity_kind": "node", "scale": 1.0}]; a GPU metric reads the GPU from the ``UUID`` label
    defaults    false to pull only ``queries`` (default true: dcgm-exporter fields and node power/fan/inlet)

Without ``metric`` a query's series are mapped by name like an exposition scrape (dcgm ``DCGM_FI_*`` and
node-/ipmi-exporter names), so the default is one regex query per family, not one query per field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests

from telemetry.vocabulary import GPU_METRICS, POINT_METRICS, Batch, EventReading, GpuReading, PointReading

from .common import ChangeTracker, CollectorError, TransientCollectorError, http_request, source_label
from .prometheus import DCGM_FIELDS, DCGM_RETIRED_PAGES, DCGM_XID, _node_metric, is_dcgm_blank


@dataclass(frozen=True)
class Query:
    promql: str
    metric: str = ""  # vocabulary metric; empty = map each series by its __name__
    entity_kind: str = "node"
    entity_label: str = ""  # empty = Hostname / hostname / nodename / instance without its port
    scale: float = 1.0


def default_queries() -> list[Query]:
    dcgm = "|".join(sorted({*DCGM_FIELDS, *DCGM_RETIRED_PAGES, DCGM_XID}))
    node = "ipmi_dcmi_power_consumption_watts|node_hwmon_power_average_watt|node_hwmon_fan_rpm|ipmi_fan_speed_rpm"
    return [
        Query(f'{{__name__=~"{dcgm}"}}'),
        Query(f'{{__name__=~"{node}"}} or ipmi_temperature_celsius'),
    ]


def _entity(labels: dict, entity_label: str) -> str:
    if not entity_label:
        entity_label = next((k for k in ("Hostname", "hostname", "nodename") if labels.get(k)), "instance")
    value = labels.get(entity_label, "")
    if entity_label == "instance" and value.count(":") == 1:
        return value.rsplit(":", 1)[0]  # host:port of the scrape target -> the host
    return value


def _points(series: dict):
    for ts, raw in series.get("values") or ([series["value"]] if "value" in series else []):
        yield datetime.fromtimestamp(float(ts), UTC), float(raw)


def parse_query_range(
    answers: list[dict],
    *,
    queries: list[Query],
    xid_tracker: ChangeTracker | None = None,
    xid_scope: str = "",
) -> Batch:
    """Map query_range answers (the parsed JSON of each, in the order of ``queries``) to readings.

    Raises ValueError naming the query when an answer is not a successful matrix/vector result.
    """
    gpu: dict[tuple[str, datetime], dict] = {}
    nodes: dict[tuple[str, str, str, datetime], list[float]] = {}
    batch = Batch()
    for query, answer in zip(queries, answers, strict=True):
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise ValueError(f"query {query.promql!r}: not a successful Prometheus answer: {str(answer)[:200]}")
        data = answer.get("data") or {}
        if data.get("resultType") not in ("matrix", "vector") or not isinstance(data.get("result"), list):
            raise ValueError(f"query {query.promql!r}: expected a matrix result, got {data.get('resultType')!r}")
        for series in data["result"]:
            labels = series.get("metric") or {}
            name = labels.get("__name__", "")
            uuid = labels.get("UUID") or labels.get("uuid") or ""
            if query.metric:
                mapping = (query.metric, query.scale, "f64")
            elif name.startswith("DCGM_FI_"):
                mapping = DCGM_FIELDS.get(name)
                if name in DCGM_RETIRED_PAGES:
                    mapping = ("gpu_retired_pages", 1.0, "i64")
            else:
                metric = _node_metric(name, labels)
                mapping = (metric, 1.0, "f64") if metric else None
            if name == DCGM_XID and uuid:
                for ts, value in _points(series):
                    code = 0 if is_dcgm_blank(value, "i32") else int(value)
                    is_new = xid_tracker.changed((xid_scope, uuid), code) if xid_tracker is not None else True
                    if code and is_new:
                        batch.events.append(EventReading("xid", ts, gpu_uuid=uuid, code=code, detail="last XID"))
                continue
            if mapping is None:
                continue
            metric, scale, value_type = mapping
            non_finite = sum(1 for _, value in _points(series) if not math.isfinite(value))
            if non_finite:
                where = uuid or _entity(labels, query.entity_label)
                batch.rejected.append(
                    {
                        "item": "prometheus_api",
                        "index": queries.index(query),
                        "field": name or metric,
                        "message": f"{non_finite} values NaN or infinity for {where}; not stored",
                    }
                )
            if metric in GPU_METRICS:
                if not uuid:
                    continue
                for ts, value in _points(series):
                    if is_dcgm_blank(value, value_type):
                        continue
                    values = gpu.setdefault((uuid, ts), {})
                    if metric == "gpu_retired_pages":
                        values[metric] = values.get(metric, 0.0) + value
                    else:
                        values[metric] = value * scale
            elif metric in POINT_METRICS:
                entity = _entity(labels, query.entity_label)
                if not entity:
                    continue
                for ts, value in _points(series):
                    if math.isfinite(value):
                        nodes.setdefault((query.entity_kind, entity, metric, ts), []).append(value * scale)
            else:
                raise ValueError(f"query {query.promql!r}: {metric!r} is not a vocabulary metric")
    batch.gpu_readings = [GpuReading(uuid, ts, values) for (uuid, ts), values in gpu.items()]
    batch.point_readings = [
        PointReading(kind, entity, metric, ts, sum(values) if metric.endswith("_power") else max(values))
        for (kind, entity, metric, ts), values in nodes.items()
    ]
    return batch


def _configured_queries(options: dict) -> list[Query]:
    queries = default_queries() if options.get("defaults", True) else []
    for i, spec in enumerate(options.get("queries") or []):
        if not isinstance(spec, dict) or not spec.get("query"):
            raise CollectorError(f"options.queries[{i}] needs a 'query' (PromQL): got {spec!r}")
        metric = spec.get("metric", "")
        if metric and metric not in GPU_METRICS and metric not in POINT_METRICS:
            raise CollectorError(f"options.queries[{i}]: {metric!r} is not a vocabulary metric")
        queries.append(
            Query(
                spec["query"],
                metric=metric,
                entity_kind=spec.get("entity_kind", "node"),
                entity_label=spec.get("entity_label", ""),
                scale=float(spec.get("scale", 1.0)),
            )
        )
    return queries


_xid_seen = ChangeTracker()
# Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS = 10_000


def step(source) -> float:
    return float((source.options or {}).get("step_s", 30))


def lookback(source) -> timedelta:
    """How far back a regular pull reaches: a source not collected for longer than this has a gap to back-fill."""
    interval_s = getattr(source, "interval_s", 60) or 60
    return timedelta(seconds=float((source.options or {}).get("lookback_s", max(60, 2 * interval_s))))


def align(ts: datetime, step_s: float) -> datetime:
    """``ts`` floored to a multiple of the step, so that overlapping pulls ask for the same instants and ingest
    drops the repeats as duplicates (Prometheus evaluates a range at start + k x step)."""
    return datetime.fromtimestamp(ts.timestamp() // step_s * step_s, UTC)


def collect(source, *, session: requests.Session | None = None, now: datetime | None = None) -> Batch:
    """Pull the configured queries over [now - lookback, now]; raises CollectorError naming source and query."""
    end = align(now or datetime.now(UTC), step(source))
    return pull(source, align(end - lookback(source), step(source)), end, session=session)


def backfill(source, start: datetime, end: datetime, *, session: requests.Session | None = None) -> Batch:
    """The samples Prometheus holds for [start, end] (a gap's chunk: at most MAX_POINTS steps), on the same
    aligned instants as the regular pulls."""
    step_s = step(source)
    if (end - start).total_seconds() > MAX_POINTS * step_s:
        raise CollectorError(f"back-fill of {source_label(source)}: {start} - {end} is over {MAX_POINTS} steps")
    return pull(source, align(start, step_s), align(end, step_s), session=session, xid_scope=" backfill")


def pull(
    source, start: datetime, end: datetime, *, session: requests.Session | None = None, xid_scope: str = ""
) -> Batch:
    """Every configured query over [start, end] (both included) at the source's step."""
    options = source.options or {}
    queries = _configured_queries(options)
    session = session or requests.Session()
    if source.username:
        session.auth = (source.username, source.password)
    if source.token:
        session.headers["Authorization"] = f"Bearer {source.token}"
    url = source.endpoint.rstrip("/") + "/api/v1/query_range"
    what = f"Prometheus API pull from {source_label(source)}"
    answers = [
        api_call(
            session,
            url,
            {"query": query.promql, "start": start.timestamp(), "end": end.timestamp(), "step": step(source)},
            what=what,
            timeout_s=source.timeout_s,
        )
        for query in queries
    ]
    try:
        return parse_query_range(answers, queries=queries, xid_tracker=_xid_seen, xid_scope=source.endpoint + xid_scope)
    except ValueError as exc:
        raise CollectorError(f"{what}: {exc}") from None


def api_call(session, url, params, *, what, timeout_s, method="GET"):
    """The parsed answer of one query to a Prometheus HTTP API endpoint (``params`` as the query string, or as
    a form for POST: long selectors); raises TransientCollectorError when the server cannot be reached or
    answers 5xx, CollectorError when it refuses the query, each naming ``what`` and the PromQL."""
    promql = params.get("query", "")
    where = "params" if method == "GET" else "data"
    response = http_request(session, method, url, timeout_s=timeout_s, what=what, **{where: params})
    if response.status_code >= 500:
        raise TransientCollectorError(
            f"{what}: query {promql!r} answered HTTP {response.status_code}: {response.text[:120]!r}"
        )
    try:
        answer = response.json()
    except ValueError:
        raise CollectorError(
            f"{what}: query {promql!r} answered HTTP {response.status_code}, not JSON: {response.text[:120]!r}"
        ) from None
    if not response.ok or answer.get("status") != "success":
        raise CollectorError(
            f"{what}: query {promql!r} failed (HTTP {response.status_code}): "
            f"{answer.get('errorType', '')} {answer.get('error', '')}".rstrip()
        )
    return answer
