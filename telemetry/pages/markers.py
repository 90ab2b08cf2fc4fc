"""What happened during a chart's range, as charts.Marker rows: GPU events (XIDs, ECC, GPU lost), anomalies,
deployments starting on the GPUs, gaps in the data itself, and the demo simulator's own events (so that its
sudden IT-load drops read as simulated job restarts, not as a fault)."""

from datetime import UTC, datetime

from ..charts import Marker, gap_positions
from ..collectors.simulator.workload import training_restarts
from ..models import Anomaly, Deployment, Event, Source

EVENT_NAMES = {
    "xid": "XID {code}",
    "ecc_dbe": "double-bit ECC error",
    "remap_failure": "row remapping failure",
    "throttle": "throttling (reasons 0x{code:x})",
    "gpu_lost": "GPU lost",
    "collector_failure": "collector failure",
    "leak": "coolant leak",
    "cooling_fault": "cooling fault",
}
MAX_MARKERS = 300  # per kind and chart: more would hide the data under them


def event_marker(event, subject=""):
    name = EVENT_NAMES.get(event.kind, event.kind)
    if event.code is not None:
        name = name.format(code=event.code)
    name = name.replace(" {code}", "")
    detail = event.detail if event.detail != name else ""  # some collectors repeat the kind as the detail
    text = " · ".join(part for part in (subject, name, detail) if part)
    kind = "gap" if event.kind == "collector_failure" else "xid"
    return Marker(event.ts, kind, text)


def anomaly_marker(anomaly):
    text = f"{anomaly.severity} {anomaly.kind} of {anomaly.metric}"
    if anomaly.subject:
        text = f"{anomaly.subject}: {text}"
    if anomaly.explanation:
        text += f" — {anomaly.explanation}"
    return Marker(anomaly.start, "anomaly", text, end=anomaly.end)


def gap_markers(frame):
    """A marker over each stretch of `frame` (ts, value) that charts.gap_positions calls a gap in the data."""
    ts = frame["ts"].sort_values().reset_index(drop=True)
    return [
        Marker(
            ts[n - 1].to_pydatetime(),
            "gap",
            f"no data for {_duration(ts[n] - ts[n - 1])}",
            end=ts[n].to_pydatetime(),
        )
        for n in gap_positions(ts)
    ]


def _duration(delta):
    minutes = round(delta.total_seconds() / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def gpu_markers(organization, gpu, start, end):
    """The GPU's events, its anomalies and the deployments that run on it, started within [start, end)."""
    events = Event.objects.filter(organization=organization, gpu=gpu, ts__gte=start, ts__lt=end)[:MAX_MARKERS]
    anomalies = Anomaly.objects.filter(organization=organization, gpu=gpu, start__gte=start, start__lt=end)
    deployments = (
        Deployment.objects.for_org(organization)
        .filter(replicas__gpus=gpu, created__gte=start, created__lt=end)
        .distinct()
    )
    return [
        *(event_marker(e) for e in events),
        *(anomaly_marker(a) for a in anomalies[:MAX_MARKERS]),
        *(
            Marker(d.created, "deployment", f"deployment {d.name} created ({d.llm_model})")
            for d in deployments.distinct()
        ),
    ]


def hall_markers(organization, hall, start, end):
    """Events and anomalies of the hall's GPUs, collector failures, and the simulator's job restarts."""
    in_hall = {"gpu__node__rack__hall": hall}
    events = (
        Event.objects.filter(organization=organization, ts__gte=start, ts__lt=end, **in_hall)
        .select_related("gpu__node")
        .order_by("ts")[:MAX_MARKERS]
    )
    failures = Event.objects.filter(
        organization=organization, kind="collector_failure", ts__gte=start, ts__lt=end
    ).order_by("ts")[:MAX_MARKERS]
    anomalies = Anomaly.objects.filter(organization=organization, start__gte=start, start__lt=end, **in_hall)
    return [
        *(event_marker(e, f"{e.gpu.node.hostname}/gpu{e.gpu.index}") for e in events),
        *(event_marker(e, e.entity) for e in failures),
        *(anomaly_marker(a) for a in anomalies.select_related("gpu__node")[:MAX_MARKERS]),
        *simulated_markers(organization, hall, start, end),
    ]


def simulated_markers(organization, hall, start, end):
    """The demo simulator's training-job restarts in a liquid-cooled (training) hall it simulates."""
    simulators = Source.objects.for_org(organization).filter(kind=Source.Kind.SIMULATOR)
    if hall.cooling_type != "liquid":
        return []
    markers = []
    for source in simulators:
        seed = (source.options or {}).get("seed", 0)
        for a, b in training_restarts(hall.name, start.timestamp(), end.timestamp(), seed):
            begin, finish = datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)
            text = (
                f"simulated by {source.name}: a training job restarts in {hall}, its IT load drops to 15 % "
                f"for {_duration(finish - begin)}"
            )
            markers.append(Marker(begin, "simulated", text, end=finish))
    return markers
