"""CSV import pages on the real database: upload -> preview -> mapping -> import (the task function, and once in a
real Celery worker), bad rows reported by line with the good rows kept, roles, organizations, query counts."""

import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from telemetry import csv_uploads
from telemetry.models import CollectorRun, Sample, Source
from telemetry.tasks import import_csv


@pytest.fixture
def uploads(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path / "uploads"


def cdu_csv(rows=4, bad_line=None):
    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    lines = ["time,cdu,supply_temp_C,flow_lpm"]
    for i in range(rows):
        ts = (start + timedelta(minutes=i)).isoformat()
        supply = "warm" if bad_line == i + 2 else f"{18 + i * 0.5}"
        lines.append(f"{ts},cdu-1,{supply},{120 + i}")
    return ("\n".join(lines) + "\n").encode()


def upload(client, content, name="bms.csv"):
    return client.post("/sources/import/", {"file": SimpleUploadedFile(name, content, "text/csv")})


def confirm_suggested_mapping(client, url):
    form = client.get(url).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    return client.post(url, data)


def samples(org, metric):
    return list(
        Sample.objects.filter(series__organization=org, series__metric=metric)
        .order_by("ts")
        .values_list("value", flat=True)
    )


def test_upload_preview_mapping_import_lands_samples(client, world, uploads, redis_url):
    client.force_login(world.a.users["admin"])
    content = cdu_csv()
    response = upload(client, content)
    assert response.status_code == 302
    url = response["Location"]
    upload_id = url.rstrip("/").rsplit("/", 1)[1]
    assert (uploads / f"{upload_id}.csv").read_bytes() == content  # on disk under a random name

    page = client.get(url)
    assert page.status_code == 200
    assert page.context["columns"] == ["time", "cdu", "supply_temp_C", "flow_lpm"]
    assert len(page.context["rows"]) == 4
    assert b"cooling_supply_temp" in page.content

    assert confirm_suggested_mapping(client, url).status_code == 302
    assert client.get(f"{url}progress/").json()["status"] == "queued"

    assert import_csv(upload_id, world.a.org.pk) == {"accepted": 8, "duplicate": 0, "rejected": 0}
    assert samples(world.a.org, "cooling_supply_temp") == [18.0, 18.5, 19.0, 19.5]
    assert samples(world.a.org, "cooling_flow") == [120, 121, 122, 123]
    progress = client.get(f"{url}progress/").json()
    assert progress["status"] == "done" and progress["rows_done"] == 4
    assert progress["bytes_done"] == progress["bytes_total"] > 0
    result = client.get(url)
    assert b"<progress" in result.content and b"No problems found" in result.content
    run = CollectorRun.objects.get(source__organization=world.a.org)
    assert run.status == "ok" and run.accepted == 8 and run.source.kind == Source.Kind.CSV

    # The same file again: a second run of the same source, everything duplicate, nothing new.
    again = upload(client, content)["Location"]
    confirm_suggested_mapping(client, again)
    again_id = again.rstrip("/").rsplit("/", 1)[1]
    assert import_csv(again_id, world.a.org.pk)["duplicate"] == 8
    assert Source.objects.filter(organization=world.a.org, kind="csv").count() == 1


def test_a_bad_row_is_reported_by_line_and_column_and_the_good_rows_are_stored(client, world, uploads, redis_url):
    client.force_login(world.a.users["admin"])
    url = upload(client, cdu_csv(rows=5, bad_line=4))["Location"]
    confirm_suggested_mapping(client, url)
    upload_id = url.rstrip("/").rsplit("/", 1)[1]
    csv_uploads.run_import(upload_id, world.a.org.pk, chunksize=2)  # chunks of 2: the bad row is in the second
    assert samples(world.a.org, "cooling_supply_temp") == [18.0, 18.5, 19.5, 20.0]
    assert len(samples(world.a.org, "cooling_flow")) == 5
    state = client.get(url).context["state"]
    assert state["accepted"] == 9 and state["rejected"] == 1
    assert state["errors"] == [{"row": 4, "column": "supply_temp_C", "message": "'warm' is not a number"}]
    assert b"&#x27;warm&#x27; is not a number" in client.get(url).content


def test_a_mapping_that_cannot_apply_is_refused_with_the_reason(client, world, uploads, redis_url):
    client.force_login(world.a.users["admin"])
    url = upload(client, cdu_csv())["Location"]
    form = client.get(url).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(entity_column="", entity="", timezone="Mars/Olympus")
    response = client.post(url, data)
    assert response.status_code == 400
    assert "not a known time zone" in str(response.context["form"].errors)
    data["timezone"] = "UTC"
    response = client.post(url, data)
    assert "needs an entity column or a fixed entity" in str(response.context["form"].errors)
    assert client.get(f"{url}progress/").json()["status"] == "uploaded"


def test_a_too_large_file_is_refused_and_not_kept(client, world, uploads, settings):
    settings.TELEMETRY_CSV_MAX_BYTES = 100
    client.force_login(world.a.users["admin"])
    response = upload(client, cdu_csv(rows=20))
    assert response.status_code == 413
    assert "larger than the limit" in response.content.decode()
    assert not list(uploads.glob("*.csv"))


def test_a_viewer_cannot_import_and_another_org_cannot_see_an_upload(client, world, uploads):
    client.force_login(world.a.users["viewer"])
    assert upload(client, cdu_csv()).status_code == 403
    assert client.get("/sources/import/").status_code == 403
    assert client.get("/sources/add/").status_code == 403
    client.force_login(world.a.users["admin"])
    url = upload(client, cdu_csv())["Location"]
    client.force_login(world.b.users["admin"])
    assert client.get(url).status_code == 404
    assert client.get(f"{url}progress/").status_code == 404
    assert client.get("/sources/import/not-an-upload-id-at-all/").status_code == 404
    client.force_login(world.a.users["viewer"])
    assert client.get(url).status_code == 403


def test_push_source_token_is_shown_once_and_works_only_for_admins(client, world):
    client.force_login(world.a.users["admin"])
    response = client.post("/sources/add/", {"name": "bms-push", "unknown_device": "reject"})
    assert response.status_code == 200
    token = response.context["token"]
    source = Source.objects.get(organization=world.a.org, name="bms-push")
    assert source.kind == "push" and source.ingest_token_hash == Source.hash_token(token)
    assert token.encode() not in client.get("/sources/add/").content
    assert client.post("/sources/add/", {"name": "bms-push", "unknown_device": "reject"}).status_code == 400
    new = client.post(f"/sources/{source.pk}/token/").context["token"]
    source.refresh_from_db()
    assert new != token and source.ingest_token_hash == Source.hash_token(new)
    client.force_login(world.b.users["admin"])
    assert client.post(f"/sources/{source.pk}/token/").status_code == 404
    client.force_login(world.a.users["planner"])
    assert client.post(f"/sources/{source.pk}/token/").status_code == 403


def test_import_pages_query_counts(client, world, uploads, redis_url, django_assert_max_num_queries):
    client.force_login(world.a.users["admin"])
    url = upload(client, cdu_csv())["Location"]
    for page in ("/sources/import/", url, f"{url}progress/", "/sources/add/"):
        with django_assert_max_num_queries(8):
            assert client.get(page).status_code == 200


def test_an_import_runs_in_a_real_worker(client, celery_worker, world):
    client.force_login(world.a.users["admin"])
    url = upload(client, cdu_csv())["Location"]
    assert confirm_suggested_mapping(client, url).status_code == 302
    deadline = time.monotonic() + 60
    while client.get(f"{url}progress/").json()["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, "the worker did not finish the import"
        time.sleep(0.2)
    assert client.get(f"{url}progress/").json()["accepted"] == 8
    assert len(samples(world.a.org, "cooling_supply_temp")) == 4


def test_a_file_that_breaks_off_keeps_what_was_accepted_and_says_where(client, world, uploads, redis_url):
    client.force_login(world.a.users["admin"])
    broken = cdu_csv(rows=30).splitlines()
    broken[24] += b",1,2"  # line 25, after the preview's rows, has more fields than the header
    url = upload(client, b"\n".join(broken) + b"\n")["Location"]
    confirm_suggested_mapping(client, url)
    upload_id = url.rstrip("/").rsplit("/", 1)[1]
    with pytest.raises(ValueError, match="CSV malformed"):
        csv_uploads.run_import(upload_id, world.a.org.pk, chunksize=10)
    kept = [18 + i * 0.5 for i in range(20)]  # the first two chunks stay
    assert samples(world.a.org, "cooling_supply_temp") == kept
    state = client.get(url).context["state"]
    assert state["status"] == "failed" and state["accepted"] == 40 and state["rows_done"] == 20
    run = CollectorRun.objects.get(source__organization=world.a.org)
    assert run.status == "failed" and run.accepted == 40 and "CSV malformed" in run.error
    assert b"Import stopped" in client.get(url).content
