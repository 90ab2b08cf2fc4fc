"""The one write path for telemetry: validate -> resolve GPUs and series -> write, without duplicates.

Every collector and the push API call `ingest`. The valid part of a batch is stored and each invalid item
is reported with where and why; an item is written whole or not at all. On PostgreSQL rows go by one binary
COPY straight into the partitioned table; a batch holding rows already stored (a re-send) goes through a
staging table and `INSERT ... ON CONFLICT DO NOTHING` instead, so it adds nothing and the duplicates are
counted (see copy_insert). Other databases use bulk_create(ignore_conflicts=True).

Unknown devices: a GPU UUID that is not in the organization's inventory is always rejected (a GPU needs
a node to be placed in a hall; add it to the inventory, or let the collector map it). Non-GPU entities
(nodes, racks, PDUs, cooling units, halls, sites) are accepted when a series for them exists or the
inventory knows the name; under the source's `auto_register` policy unknown entities get a new series.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import Organization, Source
from .events import event_rows, write_events
from .gpu import GPU_PIECE, GpuReadingColumns, Pieces, gpu_ids, gpu_rows, write_gpu
from .points import sample_rows, write_samples


@dataclass
class IngestResult:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    errors: list = field(default_factory=list)  # [{"item", "index", "field", "message"}]

    def reject(self, item, index, problems):
        self.rejected += 1
        self.errors.extend({"item": item, "index": index, "field": f, "message": m} for f, m in problems)

    def as_dict(self):
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "errors": self.errors,
        }


def raw_retention():
    return timedelta(days=settings.TELEMETRY_RETENTION_DAYS["raw"])


def ingest(target, batch, *, now=None):
    """Store a Batch for a Source (its organization and unknown-device policy) or an Organization
    (policy: reject). Returns IngestResult(accepted, duplicate, rejected, errors)."""
    if isinstance(target, Source):
        organization, auto_register = target.organization, target.unknown_device == Source.UnknownDevice.AUTO_REGISTER
    elif isinstance(target, Organization):
        organization, auto_register = target, False
    else:
        raise TypeError(f"ingest needs a Source or an Organization, got {type(target).__name__}")
    now = now or timezone.now()
    oldest = now - raw_retention()
    result = IngestResult()

    gpu_readings = GpuReadingColumns.of(batch.gpu_readings)
    uuids = {u for u in gpu_readings.uuids if type(u) is str} | {e.gpu_uuid for e in batch.events if e.gpu_uuid}
    # Looked up before items are validated: leave out what PostgreSQL cannot compare (a NUL); validation
    # rejects those items, naming the field.
    ids = gpu_ids(organization, {u for u in uuids if isinstance(u, str) and "\x00" not in u})
    gpu_result = IngestResult()  # filled while the pieces are written; its errors come first, as sent
    gpu_pieces = Pieces(
        gpu_rows(gpu_readings.part(start, start + GPU_PIECE), ids, now, oldest, gpu_result, offset=start)
        for start in range(0, len(gpu_readings), GPU_PIECE)
    )
    samples = sample_rows(organization, batch.point_readings, auto_register, now, oldest, result)
    events = event_rows(
        organization, target if isinstance(target, Source) else None, batch.events, ids, now, oldest, result
    )

    with transaction.atomic():
        if len(gpu_readings):
            written, inserted = write_gpu(gpu_pieces)
            result.accepted += inserted
            result.duplicate += written - inserted
        if samples:
            inserted = write_samples(samples)
            result.accepted += inserted
            result.duplicate += len(samples) - inserted
        if events:
            inserted = write_events(organization, events)
            result.accepted += inserted
            result.duplicate += len(events) - inserted
    result.rejected += gpu_result.rejected + len(batch.rejected)
    result.errors[:0] = gpu_result.errors
    result.errors.extend(batch.rejected)
    return result
