"""Run the anomaly detector (telemetry.anomalies) over the database and keep Anomaly rows: the Celery task
`telemetry.detect_anomalies` calls `detect_all` every minute.

Panels at 1 minute: per hall and GPU model, the GPUs' temperature, power and SM clock from their 1-minute
rollups (load = their utilization, peers grouped by node); per deployment, its replicas' queue, KV-cache use
and p95 TTFT/TPOT from their serving samples. Each run learns from the last day (HISTORY) before the scanned
last SCAN minutes: a finding that touches the end of the scan is still going on (end empty); one that
continues an open anomaly of the same subject and metric extends it instead of opening another. Muted
subjects/metrics raise nothing.
"""

import hashlib
from datetime import timedelta

import numpy as np
import pandas as pd
from django.db.models import Q

from . import anomalies
from .models import Anomaly, AnomalyMute, Deployment, Gpu, GpuRollup, Organization, Resolution, ServingSample

HISTORY = timedelta(hours=24)
SCAN = timedelta(minutes=30)
GPU_PANEL_METRICS = ("gpu_temp", "gpu_power", "gpu_sm_clock")
SERVING_PANEL_METRICS = ("requests_waiting", "kv_cache_usage", "ttft_p95", "tpot_p95")
MIN_HISTORY_ROWS = 120  # two hours of minutes before anything is learned


def _minutes(start, end):
    return pd.date_range(start, end, freq="60s", inclusive="left", tz="UTC")


def _slots(index):
    return (index.hour + 24 * (index.day_of_week >= 5)).to_numpy()


def _pivot(frame, column, index, subjects):
    table = frame.pivot_table(index="ts", columns="subject", values=column, aggfunc="mean")
    return table.reindex(index=index, columns=subjects).to_numpy(dtype=float)


def detect_all(*, now):
    """Detect over every organization; returns the number of anomalies opened or extended."""
    end = now.replace(second=0, microsecond=0)
    return sum(detect_organization(org, end=end) for org in Organization.objects.all())


def detect_organization(organization, *, end):
    changed = 0
    for panel in gpu_panels(organization, end) + serving_panels(organization, end):
        changed += _record(organization, panel, end)
    return changed


class Panel:
    """One metric of one peer group over history + scan, with how to name its subjects in the database."""

    def __init__(self, metric, index, values, subjects, refs, *, load=None, groups=None, deployment=None):
        self.metric, self.index, self.values, self.subjects, self.refs = metric, index, values, subjects, refs
        self.load, self.groups, self.deployment = load, groups, deployment


def gpu_panels(organization, end):
    start = end - HISTORY - SCAN
    index = _minutes(start, end)
    gpus = list(Gpu.objects.for_org(organization).select_related("node__rack__hall").order_by("id"))
    by_group = {}
    for gpu in gpus:
        by_group.setdefault((gpu.node.rack.hall_id, gpu.model_id), []).append(gpu)
    panels = []
    for members in by_group.values():
        fields = ["gpu_id", "ts", "gpu_util_avg", *(f"{m}_avg" for m in GPU_PANEL_METRICS)]
        rows = GpuRollup.objects.filter(
            resolution=Resolution.MINUTE, gpu_id__in=[g.id for g in members], ts__gte=start, ts__lt=end
        ).values_list(*fields)
        frame = pd.DataFrame(list(rows), columns=["subject", *fields[1:]])
        if len(frame) < MIN_HISTORY_ROWS:
            continue
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        ids = [g.id for g in members]
        load = _pivot(frame, "gpu_util_avg", index, ids)
        for metric in GPU_PANEL_METRICS:
            values = _pivot(frame, f"{metric}_avg", index, ids)
            panels.append(
                Panel(
                    metric,
                    index,
                    values,
                    [str(g) for g in members],
                    members,
                    load=load,
                    groups=[g.node_id for g in members],
                )
            )
    return panels


def serving_panels(organization, end):
    start = end - HISTORY - SCAN
    index = _minutes(start, end)
    panels = []
    for deployment in Deployment.objects.for_org(organization).prefetch_related("replicas"):
        replicas = list(deployment.replicas.all())
        fields = ["replica_id", "ts", *SERVING_PANEL_METRICS]
        rows = ServingSample.objects.filter(replica__in=replicas, ts__gte=start, ts__lt=end).values_list(*fields)
        frame = pd.DataFrame(list(rows), columns=["subject", *fields[1:]])
        if len(frame) < MIN_HISTORY_ROWS:
            continue
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.floor("60s")
        ids = [r.id for r in replicas]
        for metric in SERVING_PANEL_METRICS:
            values = _pivot(frame, metric, index, ids)
            if np.isnan(values).all():
                continue
            panels.append(Panel(metric, index, values, [str(r) for r in replicas], replicas, deployment=deployment))
    return panels


def _record(organization, panel, end):
    spec = anomalies.METRICS[panel.metric]
    scan_rows = int(SCAN.total_seconds() // 60)
    history, scan = panel.values[:-scan_rows], panel.values[-scan_rows:]
    if np.isnan(history).all():
        return 0
    slots = _slots(panel.index)
    load = panel.load
    baseline = anomalies.learn(
        _filled(history),
        slots[:-scan_rows],
        spec,
        load=None if load is None else _filled(load[:-scan_rows]),
        groups=panel.groups,
    )
    found = anomalies.detect(
        _filled(scan),
        slots[-scan_rows:],
        spec,
        baseline,
        panel.subjects,
        load=None if load is None else _filled(load[-scan_rows:]),
        groups=panel.groups,
    )
    times = panel.index[-scan_rows:]
    by_name = dict(zip(panel.subjects, panel.refs, strict=True))
    changed = 0
    for d in found:
        ref = by_name.get(d.subject)
        subject = _subject(ref, panel)
        if _muted(organization, subject, panel.metric, end):
            continue
        start_ts = times[d.start].to_pydatetime()
        end_ts = None if d.end >= scan_rows - 1 else times[d.end].to_pydatetime() + timedelta(minutes=1)
        _upsert(organization, subject, d, start_ts, end_ts, end)
        changed += 1
    return changed


def _filled(values):
    """Short gaps (a missed scrape) filled from the previous minute; longer ones stay NaN."""
    return pd.DataFrame(values).ffill(limit=2).to_numpy()


def _subject(ref, panel):
    if isinstance(ref, Gpu):
        return {"gpu": ref, "replica": None, "deployment": None}
    if ref is None:
        return {"gpu": None, "replica": None, "deployment": panel.deployment}
    return {"gpu": None, "replica": ref, "deployment": panel.deployment}


def _muted(organization, subject, metric, now):
    mutes = AnomalyMute.objects.filter(organization=organization, until__gt=now).filter(Q(metric="") | Q(metric=metric))
    if subject["gpu"] is not None:
        return mutes.filter(gpu=subject["gpu"]).exists()
    if subject["replica"] is not None:
        return mutes.filter(replica=subject["replica"]).exists()
    return mutes.filter(replica__deployment=subject["deployment"]).exists()


def _upsert(organization, subject, d, start_ts, end_ts, now):
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
