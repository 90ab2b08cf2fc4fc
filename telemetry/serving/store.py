"""The write path of serving telemetry: deployments and their replicas (each with its Source), serving samples.

Deployments are created, edited and deleted here (the serving pages' form and /api/deployments/ both call
`save_deployment` and `delete_deployment`), so a replica always has exactly one Source named after it and
removing a replica removes its Source. Serving samples are written here and nowhere else (the GPU/series
path is telemetry.ingest). A re-sent sample (same replica and instant) is ignored, so a retried collection
adds nothing twice.
"""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from ..ingest import IngestResult
from ..models import SERVING_FIELDS, Deployment, Gpu, Replica, ServingSample, Source

# What a deployment's editor and API write (the organization comes from the user, never the input).
DEPLOYMENT_FIELDS = (
    "name",
    "llm_model",
    "engine",
    "gpu_model",
    "precision",
    "tensor_parallel_size",
    "pipeline_parallel_size",
)
MAX_REPLICAS = 256
INTERVAL_S = (5, 3600)
TIMEOUT_S = (1, 60)
SOURCE_NAME_MAX = Source._meta.get_field("name").max_length
REPLICA_NAME_MAX = Replica._meta.get_field("name").max_length


def is_http_url(url):
    """An http(s) URL with a host (internal names such as gpu-node-1 included, unlike Django's URLValidator)."""
    if not url or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class ReplicaInputError(Exception):
    """Bad replica input: `errors` lists (replica index or None, field, message), so the form shows each at
    its row and field and the API answers 400 naming them."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(describe(errors)))


def describe(errors):
    return [f"replica {i + 1} {f}: {m}" if i is not None else m for i, f, m in errors]


@dataclass
class ReplicaSpec:
    """One replica as typed: `pk` (or else the same name) keeps an existing replica and its samples."""

    name: str
    metrics_url: str
    gpus: list = field(default_factory=list)
    interval_s: int = 15
    timeout_s: int = 5
    enabled: bool = True
    pk: int | None = None


def source_name(deployment, replica_name):
    return f"{deployment.name} / {replica_name}"


def gpus_named(organization, refs):
    """The organization's GPUs for UUIDs or "hostname/gpuN" names; unknown ones raise ValueError naming them."""
    refs = [r.strip() for r in refs if r and r.strip()]
    by_uuid = {g.uuid: g for g in Gpu.objects.for_org(organization).filter(uuid__in=refs).select_related("model")}
    found, unknown = [], []
    for ref in refs:
        gpu = by_uuid.get(ref)
        if gpu is None and "/gpu" in ref:
            host, _, index = ref.rpartition("/gpu")
            if index.isdigit() and int(index) < 64:
                qs = Gpu.objects.for_org(organization).filter(node__hostname=host, index=int(index))
                gpu = qs.select_related("model").first()
        (found if gpu else unknown).append(gpu or ref)
    if unknown:
        raise ValueError(f"no GPU {', '.join(unknown)} in your inventory (give UUIDs or hostname/gpuN)")
    return found


def check_replicas(deployment, specs):
    """Every problem of these replicas for this deployment, as (index, field, message)."""
    errors = []
    if len(specs) > MAX_REPLICAS:
        errors.append((None, "replicas", f"at most {MAX_REPLICAS} replicas per deployment, not {len(specs)}"))
    names, gpu_owner = {}, {}
    per_replica = deployment.gpus_per_replica
    for i, spec in enumerate(specs):
        name = (spec.name or "").strip()
        if not name:
            errors.append((i, "name", "a replica needs a name"))
        elif len(name) > REPLICA_NAME_MAX:
            errors.append((i, "name", f"at most {REPLICA_NAME_MAX} characters"))
        elif len(source_name(deployment, name)) > SOURCE_NAME_MAX:
            errors.append(
                (i, "name", f"deployment and replica names together at most {SOURCE_NAME_MAX - 3} characters")
            )
        elif name in names:
            errors.append((i, "name", f"replica {names[name] + 1} is already named {name!r}"))
        names.setdefault(name, i)
        if not is_http_url(spec.metrics_url):
            errors.append((i, "metrics_url", f"not an http(s) URL: {spec.metrics_url!r}"))
        for what, value, (low, high) in (
            ("interval_s", spec.interval_s, INTERVAL_S),
            ("timeout_s", spec.timeout_s, TIMEOUT_S),
        ):
            if not isinstance(value, int) or not low <= value <= high:
                errors.append((i, what, f"{value!r} is not a whole number of seconds from {low} to {high}"))
        if spec.gpus and len(spec.gpus) != per_replica:
            errors.append(
                (
                    i,
                    "gpus",
                    f"{len(spec.gpus)} GPUs given; a replica of TP {deployment.tensor_parallel_size} x "
                    f"PP {deployment.pipeline_parallel_size} runs on {per_replica}",
                )
            )
        for gpu in spec.gpus:
            if gpu.model.name != deployment.gpu_model.name:
                errors.append(
                    (i, "gpus", f"{gpu} is a {gpu.model.name}, the deployment runs on {deployment.gpu_model.name}")
                )
            elif gpu.pk in gpu_owner:
                errors.append((i, "gpus", f"{gpu} is already a GPU of replica {gpu_owner[gpu.pk] + 1}"))
            gpu_owner.setdefault(gpu.pk, i)
    return errors


def _specs_of(deployment):
    """The deployment's replicas as they are (for checking an edit of the deployment alone)."""
    return [
        ReplicaSpec(
            r.name,
            r.source.endpoint,
            list(r.gpus.all()),
            r.source.interval_s,
            r.source.timeout_s,
            r.source.enabled,
            r.pk,
        )
        for r in deployment.replicas.select_related("source").prefetch_related("gpus__model", "gpus__node")
    ]


def _clean(deployment):
    """The model's field checks, and its one constraint (name per organization) reported at the name."""
    errors = {}
    try:
        deployment.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors = exc.message_dict
    same_name = Deployment.objects.filter(organization_id=deployment.organization_id, name=deployment.name)
    if same_name.exclude(pk=deployment.pk).exists():
        errors.setdefault("name", []).append("A deployment with this name already exists in the organization.")
    if errors:
        raise ValidationError(errors)


def replica_problems(deployment):
    """What is wrong with a deployment's existing replicas for its (possibly changed) fields, as messages."""
    return describe(check_replicas(deployment, _specs_of(deployment)))


@transaction.atomic
def save_deployment(deployment, replicas=None):
    """Validate and save a deployment, and with `replicas` (ReplicaSpecs) make its replicas exactly those:
    kept by pk or name (their samples stay), new ones added with their Source, missing ones removed with
    theirs. Without `replicas` the existing ones are checked against the deployment (a TP change must fit
    their GPUs) and their Sources renamed. Raises ValidationError (deployment fields) or ReplicaInputError."""
    _clean(deployment)
    existing = {r.pk: r for r in deployment.replicas.select_related("source")} if deployment.pk else {}
    specs = _specs_of(deployment) if replicas is None else list(replicas)
    by_name = {r.name: r for r in existing.values()}
    errors = check_replicas(deployment, specs)
    kept = []
    for i, spec in enumerate(specs):
        replica = existing.get(spec.pk) if spec.pk is not None else by_name.get((spec.name or "").strip())
        if spec.pk is not None and replica is None:
            errors.append((i, "id", f"replica {spec.pk} is not a replica of this deployment"))
        kept.append(replica)
    taken = (
        Source.objects.filter(
            organization=deployment.organization,
            name__in=[source_name(deployment, s.name.strip()) for s in specs if s.name],
        )
        .exclude(pk__in=[r.source_id for r in existing.values()])
        .values_list("name", flat=True)
    )
    for i, spec in enumerate(specs):
        if spec.name and source_name(deployment, spec.name.strip()) in taken:
            errors.append(
                (i, "name", f"another source is already named {source_name(deployment, spec.name.strip())!r}")
            )
    if errors:
        raise ReplicaInputError(errors)
    deployment.save()
    kept_ids = {r.pk for r in kept if r is not None}
    Source.objects.filter(pk__in=[r.source_id for pk, r in existing.items() if pk not in kept_ids]).delete()
    for replica in kept:  # free the names first, so that two replicas may swap theirs
        if replica is not None:
            Source.objects.filter(pk=replica.source_id).update(name=f"~{replica.source_id}")
    for spec, replica in zip(specs, kept, strict=True):
        name = spec.name.strip()
        if replica is None:
            replica = add_replica(deployment, name=name, metrics_url=spec.metrics_url, gpus=spec.gpus)
        else:
            replica.name = name
            replica.save(update_fields=["name"])
            replica.gpus.set(spec.gpus)
        source = Source.objects.get(pk=replica.source_id)
        source.name, source.endpoint, source.enabled = source_name(deployment, name), spec.metrics_url, spec.enabled
        source.interval_s, source.timeout_s = spec.interval_s, spec.timeout_s
        source.options = {**source.options, "engine": deployment.engine}
        source.save()
    return deployment


@transaction.atomic
def delete_deployment(deployment):
    """Remove a deployment, its replicas with their Sources, samples and anomalies."""
    Source.objects.filter(serving_replica__deployment=deployment).delete()
    deployment.delete()


@transaction.atomic
def add_replica(deployment, *, name, metrics_url, gpus=(), interval_s=15, timeout_s=5):
    """A replica of `deployment` scraped at `metrics_url`, with the Source that schedules and records it."""
    source = Source.objects.create(
        organization=deployment.organization,
        name=f"{deployment.name} / {name}",
        kind=Source.Kind.SERVING,
        endpoint=metrics_url,
        interval_s=interval_s,
        timeout_s=timeout_s,
        options={"engine": deployment.engine},
    )
    replica = Replica.objects.create(deployment=deployment, name=name, source=source)
    replica.gpus.set(gpus)
    return replica


def store_samples(replica, rows):
    """Write serving samples of one replica: `rows` are dicts with `ts`, optional `interval_s` and any of
    SERVING_FIELDS (None or absent = not reported). Returns an IngestResult (accepted, duplicate)."""
    result = IngestResult()
    objs = []
    for index, row in enumerate(rows):
        unknown = set(row) - set(SERVING_FIELDS) - {"ts", "interval_s"}
        if unknown or row.get("ts") is None:
            problem = f"unknown fields {sorted(unknown)}" if unknown else "no timestamp"
            result.reject("serving_sample", index, [("ts", problem)])
            continue
        objs.append(ServingSample(replica=replica, **row))
    if not objs:
        return result
    existing = set(
        ServingSample.objects.filter(replica=replica, ts__in=[o.ts for o in objs]).values_list("ts", flat=True)
    )
    fresh = [o for o in objs if o.ts not in existing]
    ServingSample.objects.bulk_create(fresh, ignore_conflicts=True)
    result.accepted += len(fresh)
    result.duplicate += len(objs) - len(fresh)
    return result


def ingest_reading(source, reading, *, now):
    """Turn one scrape of a replica (telemetry.collectors.serving.EngineReading) into its serving sample,
    against the previous scrape's state, which it then replaces. Returns an IngestResult; the values the
    parser left out as impossible count as rejected, each named in its errors (the run shows them)."""
    from ..collectors.serving import derive_sample

    with transaction.atomic():
        replica = Replica.objects.select_for_update().get(source=source)
        row, replica.scrape_state = derive_sample(replica.scrape_state, reading)
        result = store_samples(replica, [row])
        replica.save(update_fields=["scrape_state"])
    for field_name, why in reading.problems:
        result.reject("serving_value", 0, [(field_name, why)])
    return result


def ingest_simulated(source, row):
    """Store a demo replica's simulated sample (telemetry.serving.demo.simulated_scrape)."""
    return store_samples(Replica.objects.get(source=source), [row])
