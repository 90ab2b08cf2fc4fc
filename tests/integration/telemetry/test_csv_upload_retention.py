"""CSV upload retention (telemetry.apply_retention): uploads finished (or abandoned) more than
TELEMETRY_CSV_UPLOAD_DAYS ago go with their files; queued and running imports and recent uploads stay."""

import os
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from telemetry import csv_uploads
from telemetry.tasks import apply_retention


@pytest.fixture
def uploads(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.TELEMETRY_CSV_UPLOAD_DAYS = 7
    return tmp_path / "uploads"


def _upload(world, status, age_days):
    state = csv_uploads.save_upload(
        world.a.org, world.a.users["admin"], SimpleUploadedFile("bms.csv", b"time,cdu,supply\n"), max_bytes=1000
    )
    state["status"] = status
    csv_uploads.save_state(state)
    when = (timezone.now() - timedelta(days=age_days)).timestamp()
    for path in (csv_uploads.csv_path(state["id"]), csv_uploads.csv_path(state["id"]).with_suffix(".json")):
        os.utime(path, (when, when))
    return state["id"]


def _files(upload_id, uploads):
    return sorted(p.name for p in uploads.glob(f"{upload_id}.*"))


def test_old_finished_uploads_go_in_progress_and_recent_ones_stay(world, uploads):
    old_done = _upload(world, "done", 8)
    old_failed = _upload(world, "failed", 30)
    abandoned = _upload(world, "uploaded", 8)  # never confirmed
    running = _upload(world, "running", 20)
    queued = _upload(world, "queued", 9)
    recent = _upload(world, "done", 6)
    stray = uploads / "Zm9yZ290dGVuLWNzdi1maWxl.csv"  # a CSV whose state was never written
    stray.write_bytes(b"x")
    os.utime(stray, (0, 0))

    removed = apply_retention.apply().get()

    assert removed["csv_uploads"] == 3
    for gone in (old_done, old_failed, abandoned):
        assert _files(gone, uploads) == []
    for kept in (running, queued, recent):
        assert _files(kept, uploads) == [f"{kept}.csv", f"{kept}.json"]
        assert csv_uploads.load(kept, world.a.org)["id"] == kept
    assert not stray.exists()
