"""Run the anomaly detector (telemetry.anomalies) over the database and keep Anomaly rows: the Celery task
`telemetry.detect_anomalies` calls `detect_all` every minute.

Panels at 1 minute: per hall and GPU model, the GPUs' temperature, power and SM clock from their 1-minute
rollups (load = their utilization, peers grouped by node); per deployment, its replicas' queue, KV-cache use
and p95 TTFT/TPOT from their serving samples. Baselines are learned from the day (HISTORY) before the
scanned last SCAN minutes, once an hour per group (kept in Django's cache), and need two hours of it; each
run scans. A finding that touches the end of the scan is still going on (end empty); one that continues an
open anomaly of the same subject and metric extends it instead of opening another. Muted subjects and
metrics raise nothing.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.db.models import Q

from .. import anomalies, query
from ..models import Anomaly, AnomalyMute, Deployment, Gpu, Organization, Resolution, ServingSample

HISTORY = timedelta(hours=24)
SCAN = timedelta(minutes=30)
GPU_PANEL_METRICS = ("gpu_temp", "gpu_power", "gpu_sm_clock")
SERVING_PANEL_METRICS = ("requests_waiting", "kv_cache_usage", "ttft_p95", "tpot_p95")
MIN_HISTORY_ROWS = 120  # two hours of minutes before anything is learned
BASELINE_CACHE_S = 2 * 3600


def _minutes(start, end):
    return pd.date_range(start, end, freq="60s", inclusive="left", tz="UTC")


def _slots(index):
    return (index.hour + 24 * (index.day_of_week >= 5)).to_numpy()


def _pivot(frame, column, index, subjects):
    """(T x S) of one column, NaN where a subject has no row."""
    table = frame.pivot_table(index="ts", columns="subject", values=column, aggfunc="mean")
    return table.reindex(index=index, columns=subjects).to_numpy(dtype=float)


def detect_all(*, now):
    """Detect over every organization; returns the number of anomalies opened or extended."""
    end = now.replace(second=0, microsecond=0)
    return sum(detect_organization(org, end=end) for org in Organization.objects.all())


def detect_organization(organization, *, end):
    changed = 0
    for group in gpu_groups(organization) + serving_groups(organization):
        changed += _run_group(organization, group, end)
    return changed


@dataclass
class Group:
    """A peer group and how to read it: `read(start, end)` -> ({metric: (T x S)}, load (T x S) or None)."""

    key: str
    metrics: tuple
    subjects: list
    refs: list
    read: Callable
    groups: list | None = None
    deployment: Deployment | None = None


def gpu_groups(organization):
    gpus = list(Gpu.objects.for_org(organization).select_related("node__rack__hall").order_by("id"))
    by_group = {}
    for gpu in gpus:
        by_group.setdefault((gpu.node.rack.hall_id, gpu.model_id), []).append(gpu)
    return [
        Group(
            f"gpus:{hall}:{model}:{len(members)}",
            GPU_PANEL_METRICS,
            [str(g) for g in members],
            members,
            partial(_read_gpus, [g.id for g in members]),
            groups=[g.node_id for g in members],
        )
        for (hall, model), members in by_group.items()
    ]


def _read_gpus(ids, start, end):
    # Through telemetry.query: the minutes of sealed GPU-hours are not stored but derived from their blocks.
    metrics = list(dict.fromkeys(["gpu_util", *GPU_PANEL_METRICS]))
    traces = query.gpu_metric_series(ids, metrics, start, end, resolution=Resolution.MINUTE, max_points=10**9)
    if all(trace.empty for trace in traces.values()):
        return None, None
    index = _minutes(start, end)
    tables = {
        m: _pivot(trace.rename(columns={"gpu_id": "subject"}), "value", index, ids) for m, trace in traces.items()
    }
    return {m: tables[m] for m in GPU_PANEL_METRICS}, tables["gpu_util"]


def serving_groups(organization):
    out = []
    for deployment in Deployment.objects.for_org(organization).prefetch_related("replicas"):
        replicas = list(deployment.replicas.all())
        if replicas:
            out.append(
                Group(
                    f"deployment:{deployment.pk}:{len(replicas)}",
                    SERVING_PANEL_METRICS,
                    [str(r) for r in replicas],
                    replicas,
                    partial(_read_replicas, [r.id for r in replicas]),
                    deployment=deployment,
                )
            )
    return out


def _read_replicas(ids, start, end):
    fields = ["replica_id", "ts", *SERVING_PANEL_METRICS]
    rows = ServingSample.objects.filter(replica_id__in=ids, ts__gte=start, ts__lt=end).values_list(*fields)
    frame = _frame(rows, fields, floor=True)
    if frame is None:
        return None, None
    index = _minutes(start, end)
    return {m: _pivot(frame, m, index, ids) for m in SERVING_PANEL_METRICS}, None


def _frame(rows, fields, floor=False):
    frame = pd.DataFrame(list(rows), columns=["subject", *fields[1:]])
    if frame.empty:
        return None
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    if floor:
        frame["ts"] = frame["ts"].dt.floor("60s")  # replicas are scraped every few seconds, panels are per minute
    return frame


def _baselines(group, end):
    """The group's baselines, learned from the HISTORY before the scan once an hour and cached: learning reads
    a day of minutes of every member, scanning half an hour."""
    key = f"anomaly-baselines:{group.key}:{end:%Y%m%d%H}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    scan_start = end - SCAN
    values, load = group.read(scan_start - HISTORY, scan_start)
    baselines = {}
    if values is not None:
        slots = _slots(_minutes(scan_start - HISTORY, scan_start))
        for metric in group.metrics:
            history = _filled(values[metric])
            if np.isfinite(history).any(axis=1).sum() < MIN_HISTORY_ROWS:
                continue
            baselines[metric] = anomalies.learn(
                history,
                slots,
                anomalies.METRICS[metric],
                load=None if load is None else _filled(load),
                groups=group.groups,
            )
    cache.set(key, baselines, BASELINE_CACHE_S)
    return baselines


def _run_group(organization, group, end):
    baselines = _baselines(group, end)
    if not baselines:
        return 0
    values, load = group.read(end - SCAN, end)
    if values is None:
        return 0
    times = _minutes(end - SCAN, end)
    slots = _slots(times)
    by_name = dict(zip(group.subjects, group.refs, strict=True))
    changed = 0
    for metric, baseline in baselines.items():
        found = anomalies.detect(
            _filled(values[metric]),
            slots,
            anomalies.METRICS[metric],
            baseline,
            group.subjects,
            load=None if load is None else _filled(load),
            groups=group.groups,
        )
        for d in found:
            subject = _subject(by_name.get(d.subject), group)
            if _muted(organization, subject, metric, end):
                continue
            start_ts = times[d.start].to_pydatetime()
            end_ts = None if d.end >= len(times) - 1 else times[d.end].to_pydatetime() + timedelta(minutes=1)
            _upsert(organization, subject, d, start_ts, end_ts)
            changed += 1
    return changed


def _filled(values):
    """Short gaps (a missed scrape) filled from the previous minute; longer ones stay NaN."""
    return pd.DataFrame(values).ffill(limit=2).to_numpy()


def _subject(ref, group):
    if isinstance(ref, Gpu):
        return {"gpu": ref, "replica": None, "deployment": None}
    return {"gpu": None, "replica": ref, "deployment": group.deployment}


def _muted(organization, subject, metric, now):
    mutes = AnomalyMute.objects.filter(organization=organization, until__gt=now).filter(Q(metric="") | Q(metric=metric))
    if subject["gpu"] is not None:
        return mutes.filter(gpu=subject["gpu"]).exists()
    if subject["replica"] is not None:
        return mutes.filter(replica=subject["replica"]).exists()
    return mutes.filter(replica__deployment=subject["deployment"]).exists()


def _upsert(organization, subject, d, start_ts, end_ts):
    """Extend the open (or just ended) anomaly of this subject and metric, else open one."""
    same = Anomaly.objects.filter(organization=organization, metric=d.metric, **subject)
    current = same.filter(Q(end=None) | Q(end__gte=start_ts - timedelta(minutes=2)), start__lte=start_ts).first()
    values = {
        "kind": d.kind,
        "severity": d.severity,
        "observed": d.observed,
        "expected_low": d.expected_low,
        "expected_high": d.expected_high,
        "explanation": d.explanation,
        "end": end_ts,
    }
    if current is not None:
        if current.severity == Anomaly.Severity.CRITICAL:
            values["severity"] = current.severity  # once critical, it stays so
        Anomaly.objects.filter(pk=current.pk).update(**values)
        return current
    key = _key(subject, d.metric, start_ts)
    anomaly, _ = Anomaly.objects.update_or_create(
        organization=organization, key=key, defaults={**subject, "metric": d.metric, "start": start_ts, **values}
    )
    return anomaly


def _key(subject, metric, start_ts):
    ids = "|".join(str(getattr(subject[k], "pk", "")) for k in ("gpu", "replica", "deployment"))
    return hashlib.sha1(f"{ids}|{metric}|{start_ts.isoformat()}".encode()).hexdigest()  # noqa: S324 - identity
