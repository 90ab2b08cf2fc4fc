"""Gaps in collection: spans in which a source was not collected because Headroom, the network or the source
was down. After the first successful collection that follows one:

- a collector with a history to read (``backfill(source, start, end)``: the Prometheus query API) back-fills the
  span in chunks, oldest first, a few chunks per run, so that a week's outage neither makes one huge query nor
  one huge batch; each chunk goes through ingest, which drops what is already stored, so a chunk re-run after a
  lost worker stores nothing twice. Progress (``filled_upto``) is kept on the CollectionGap row;
- a collector that reads only present values (exporters, BMCs, PDUs, NVML, serving engines) records the span as
  lost: its readings in that time are not anywhere to be had.

Source options for back-filling collectors: ``backfill_chunk_s`` (default 3600, at most the collector's
MAX_POINTS steps), ``backfill_chunks_per_run`` (default 6), ``backfill_max_s`` (default raw retention: older
samples would be refused by ingest anyway; what lies before is named in the gap's detail, not filled).
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction

from .collectors.common import CollectorError
from .ingest import ingest, raw_retention
from .models import CollectionGap, Source

# Collectors that answer only with present values: what fell in a gap is lost.
NO_HISTORY_KINDS = {
    Source.Kind.PROMETHEUS,
    Source.Kind.NVML,
    Source.Kind.REDFISH,
    Source.Kind.SNMP,
    Source.Kind.SERVING,
}
LOST_DETAIL = "this source keeps no history (it answers with present values only): its readings in this span are lost"


def after_success(source, collector, previous_success, *, now):
    """Note a gap since ``previous_success`` (the last success before this run), then back-fill pending ones."""
    if previous_success is not None:
        note_gap(source, collector, previous_success, now=now)
    if hasattr(collector, "backfill"):
        backfill_pending(source, collector, now=now)


def note_gap(source, collector, previous_success, *, now):
    """The CollectionGap since the previous success, if this run came later than the collector can bridge."""
    if hasattr(collector, "backfill"):
        end = now - collector.lookback(source)  # this run's own pull reached back to here
        if end <= previous_success:
            return None
        start = max(previous_success, now - max_backfill(source))
        detail = ""
        if start > previous_success:
            detail = f"not back-filled before {start:%Y-%m-%d %H:%M:%S} UTC: older than raw retention or backfill_max_s"
        gap, _ = CollectionGap.objects.get_or_create(
            source=source,
            start=previous_success,
            defaults={
                "end": end,
                "state": CollectionGap.State.BACKFILLING,
                "filled_upto": start,
                "detail": detail,
                "found_at": now,
            },
        )
        return gap
    if source.kind not in NO_HISTORY_KINDS:
        return None
    # One missed collection, not scheduling jitter (the tick runs every TELEMETRY_COLLECTION_TICK_S).
    if (now - previous_success).total_seconds() <= 2 * source.interval_s + settings.TELEMETRY_COLLECTION_TICK_S:
        return None
    gap, _ = CollectionGap.objects.get_or_create(
        source=source,
        start=previous_success,
        defaults={"end": now, "state": CollectionGap.State.LOST, "detail": LOST_DETAIL, "found_at": now},
    )
    return gap


def max_backfill(source):
    configured = (source.options or {}).get("backfill_max_s")
    retention = raw_retention() - timedelta(minutes=1)  # ingest refuses older; keep clear of its edge
    return min(timedelta(seconds=float(configured)), retention) if configured else retention


def backfill_pending(source, collector, *, now):
    """Up to ``backfill_chunks_per_run`` chunks of the source's unfinished gaps, oldest first. A chunk that
    fails stays pending (its error in the gap's detail) for the next run; the collection itself succeeded."""
    options = source.options or {}
    step_s = collector.step(source)
    chunk = timedelta(seconds=min(float(options.get("backfill_chunk_s", 3600)), collector.MAX_POINTS * step_s))
    budget = int(options.get("backfill_chunks_per_run", 6))
    for gap_id in (
        CollectionGap.objects.filter(source=source, state=CollectionGap.State.BACKFILLING)
        .order_by("start")
        .values_list("id", flat=True)
    ):
        while budget > 0:
            budget -= 1
            if not _fill_chunk(gap_id, source, collector, chunk, step_s, now=now):
                break
        if budget <= 0:
            return


def _fill_chunk(gap_id, source, collector, chunk, step_s, *, now):
    """Back-fill the gap's next chunk; True while more of it remains and nothing failed."""
    with transaction.atomic():
        gap = CollectionGap.objects.select_for_update(skip_locked=True).filter(pk=gap_id).first()
        if gap is None or gap.state != CollectionGap.State.BACKFILLING:
            return False  # another run has it, or it is done
        start = gap.filled_upto or gap.start
        end = min(start + chunk, gap.end)
        try:
            batch = collector.backfill(source, start, end)
        except CollectorError as exc:
            gap.detail = f"back-fill of {start:%Y-%m-%d %H:%M:%S} UTC failed, retried next run: {exc}"[:5000]
            gap.save(update_fields=["detail"])
            return False
        result = getattr(collector, "ingest", ingest)(source, batch, now=now)
        gap.accepted += result.accepted
        gap.duplicate += result.duplicate
        gap.filled_upto = end + timedelta(seconds=step_s)  # the chunk included its end instant
        if gap.filled_upto >= gap.end:
            gap.filled_upto, gap.state = gap.end, CollectionGap.State.FILLED
        if gap.detail.startswith("back-fill of"):
            gap.detail = ""  # the last error is past
        gap.save()
        return gap.state == CollectionGap.State.BACKFILLING
