"""Demo serving data: two deployments on the demo fleet, their serving history consistent with their GPUs'
simulated telemetry, and one injected anomaly (seed_demo calls `seed_serving`; idempotent).

- "llama-8b-chat": Llama-3.1-8B on vLLM, 4 replicas of 1 H100 each (hall A1, inference: diurnal load);
- "llama-70b-agents": Llama-3.3-70B on SGLang, TP=4 on H200, 2 replicas (hall L2).
Each replica's load is its GPUs' measured utilization (1-minute rollups), so tokens/s, queues and KV-cache
follow what the GPUs did (telemetry.serving.sim). Injected: replica r2 of llama-8b-chat builds a queue
(and its TTFT follows) over the last 20 minutes, which the detector reports on the Anomalies page.
Live: the demo replicas' sources are simulated (`simulated_scrape`, their endpoints are example addresses that
nothing answers), so every minute each gets a sample from its GPUs' live simulated utilization.
"""

import zlib
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Avg

from .. import backfill, query
from ..collectors import simulator
from ..collectors.serving import SimulatedSample
from ..collectors.simulator.clock import EPOCH  # steps aligned with the GPU simulator's
from ..models import Deployment, Gpu, GpuRollup, Replica, Resolution, Source
from . import anomalies, rollups
from .sim import ReplicaProfile, add_queue_build_up, recurring_ramp, simulate_replicas
from .store import add_replica, store_samples

HISTORY = timedelta(hours=26)
DEPLOYMENTS = (
    ("llama-8b-chat", "Llama-3.1-8B", "vllm", "H100 SXM 80GB", 1, 4, ReplicaProfile(capacity_rps=9.0)),
    (
        "llama-70b-agents",
        "Llama-3.3-70B",
        "sglang",
        "H200 SXM 141GB",
        4,
        2,
        ReplicaProfile(capacity_rps=3.0, max_seqs=64, prompt_tokens=2400, output_tokens=400, ttft_s=0.45),
    ),
)
ANOMALY = ("llama-8b-chat", "r2", timedelta(minutes=20))
LIVE_ANOMALY_EVERY_MIN = 6 * 60


def seed_serving(organization, *, now):
    """Create the demo deployments if missing and write their serving history up to `now`."""
    if Deployment.objects.for_org(organization).exists():
        return 0
    written = 0
    for name, llm, engine, gpu_model, tp, replicas, profile in DEPLOYMENTS:
        gpus = _free_gpus(organization, gpu_model, tp * replicas)
        if len(gpus) < tp * replicas:
            continue
        _backfill_gpu_minutes(organization, gpus, now - HISTORY, now)
        deployment = _create(organization, name, llm, engine, gpus, tp, replicas)
        written += _history(deployment, profile, now)
    rollups.refresh_serving_rollups(now=now, since=now - HISTORY)
    anomalies.detect_organization(organization, end=now.replace(second=0, microsecond=0))
    return written


def _backfill_gpu_minutes(organization, gpus, start, end):
    """1-minute rollups of these GPUs over [start, first existing 1-minute rollup), simulated as the demo
    history simulates them (its day of minutes covers the fleet's halls and the GPUs that fail, not each GPU),
    so a deployment's serving load, energy and anomaly baselines have their GPUs' minutes."""
    first = (
        GpuRollup.objects.filter(resolution=Resolution.MINUTE, gpu__in=gpus, ts__gte=start)
        .order_by("ts")
        .values_list("ts", flat=True)
        .first()
    )
    end = min(first or end, end)
    if end - start < timedelta(minutes=1):
        return 0  # the GPUs have their minutes already
    wanted = {g.node.hostname for g in gpus}
    sites = []
    for site in simulator.fleet_from_inventory(organization).sites:
        halls = []
        for hall in site.halls:
            racks = [replace(r, nodes=tuple(n for n in r.nodes if n.hostname in wanted)) for r in hall.racks]
            racks = tuple(r for r in racks if r.nodes)
            if racks:
                halls.append(replace(hall, racks=racks))
        if halls:
            sites.append(replace(site, halls=tuple(halls)))
    sim = simulator.run(
        simulator.Fleet(tuple(sites)), start.replace(second=0, microsecond=0), end, timedelta(minutes=1)
    )
    ids = {g.uuid: g.id for g in gpus}
    columns = [i for i, g in enumerate(sim.gpus) if g.uuid in ids]
    return backfill.write_gpu_rollups(sim, ids, columns, [Resolution.MINUTE])


def _free_gpus(organization, model_name, count):
    """`count` GPUs of one node of that model (the node with the lowest id that has enough)."""
    gpus = (
        Gpu.objects.for_org(organization)
        .filter(model__name=model_name, status="active")
        .select_related("node", "model")
        .order_by("node_id", "index")
    )
    by_node = {}
    for gpu in gpus:
        by_node.setdefault(gpu.node_id, []).append(gpu)
        if len(by_node[gpu.node_id]) == count:
            return by_node[gpu.node_id]
    return []


@transaction.atomic
def _create(organization, name, llm, engine, gpus, tp, replicas):
    deployment = Deployment.objects.create(
        organization=organization,
        name=name,
        llm_model=llm,
        engine=engine,
        gpu_model=gpus[0].model,
        tensor_parallel_size=tp,
    )
    for r in range(replicas):
        own = gpus[r * tp : (r + 1) * tp]
        replica = add_replica(
            deployment, name=f"r{r}", metrics_url=f"http://{own[0].node.hostname}:{8000 + r}/metrics", gpus=own
        )
        # Simulated live (simulated_scrape) every minute like the history: the example address answers nothing.
        Source.objects.filter(pk=replica.source_id).update(interval_s=60, options={"engine": engine, "simulated": True})
    return deployment


def _history(deployment, profile, now):
    start = (now - HISTORY).replace(second=0, microsecond=0)
    index = pd.date_range(start, now, freq="60s", inclusive="left", tz="UTC")
    written = 0
    for n, replica in enumerate(Replica.objects.filter(deployment=deployment).prefetch_related("gpus")):
        load = _gpu_load(replica, index)
        metrics = simulate_replicas(load, 1, profile=profile, seed=zlib.crc32(f"{deployment.name}/{n}".encode()))
        if (deployment.name, replica.name) == ANOMALY[:2]:
            _inject_queue(metrics, index, now - ANOMALY[2])
        rows = []
        for i, ts in enumerate(index):
            row = {"ts": ts.to_pydatetime(), "interval_s": None if i == 0 else 60.0}
            for name, values in metrics.items():
                if i == 0 and name in ("prompt_tokens", "generation_tokens", "requests_finished", "requests_failed"):
                    continue
                row[name] = float(values[i, 0])
            rows.append(row)
        written += store_samples(replica, rows).accepted
    return written


def _gpu_load(replica, index):
    """The replica's GPUs' mean utilization (0..1) per minute, from their 1-minute rollups."""
    rows = GpuRollup.objects.filter(
        resolution=Resolution.MINUTE, gpu__in=replica.gpus.all(), ts__gte=index[0], ts__lte=index[-1]
    ).values_list("ts", "gpu_util_avg")
    frame = pd.DataFrame(list(rows), columns=["ts", "util"])
    if frame.empty:
        return np.full(len(index), 0.5)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    series = frame.groupby("ts")["util"].mean().astype(float) / 100
    return series.reindex(index).interpolate(limit_direction="both").fillna(0.5).to_numpy()


def _inject_queue(metrics, index, since):
    at = index >= pd.Timestamp(since)
    add_queue_build_up(metrics, np.where(at, np.cumsum(at) / max(at.sum(), 1), 0.0))


def simulated_scrape(source, now):
    """One live serving sample of a demo replica (its Source has options.simulated): the serving simulator
    driven by its GPUs' utilization over the last interval, which the demo's GPU simulator keeps writing, so
    the demo's serving metrics go on after seeding as its GPU telemetry does. Replica r2 of the 8B deployment
    builds a queue for 20 minutes every 6 hours, which the detector reports live."""
    replica = Replica.objects.select_related("deployment").get(source=source)
    step = timedelta(seconds=source.interval_s)
    at = EPOCH + (now - EPOCH) // step * step
    profile = next((d[-1] for d in DEPLOYMENTS if d[0] == replica.deployment.name), ReplicaProfile())
    minute = int((at - EPOCH).total_seconds() // 60)
    seed = zlib.crc32(f"{replica.deployment.name}/{replica.name}/{minute}".encode())
    load = _live_load(replica, at - step, at)
    metrics = simulate_replicas([load], 1, step_s=step.total_seconds(), profile=profile, seed=seed)
    if (replica.deployment.name, replica.name) == ANOMALY[:2]:
        add_queue_build_up(metrics, recurring_ramp([minute], period_min=LIVE_ANOMALY_EVERY_MIN, length_min=20))
    row = {name: float(values[0, 0]) for name, values in metrics.items()}
    return SimulatedSample({"ts": at, "interval_s": step.total_seconds(), **row})


def _live_load(replica, start, end):
    """Mean utilization (0..1) of the replica's GPUs' raw samples in (start, end], else their latest minute.
    Read through the query layer, so PromQL mode's store too."""
    tick = timedelta(microseconds=1)  # (start, end] as the query layer's [start, end)
    gpu_ids = list(replica.gpus.values_list("id", flat=True))
    raw = query.gpu_series(gpu_ids, "gpu_util", start + tick, end + tick, resolution=query.RAW)["value"].dropna()
    if not raw.empty:
        return raw.mean() / 100
    latest = GpuRollup.objects.filter(resolution=Resolution.MINUTE, gpu__in=replica.gpus.all(), ts__lte=end)
    ts = latest.order_by("-ts").values_list("ts", flat=True).first()
    util = latest.filter(ts=ts).aggregate(u=Avg("gpu_util_avg"))["u"] if ts else None
    return util / 100 if util is not None else 0.5
