"""CSV/XLSX renderers on real endpoints, export links, and the report-section data endpoint."""

import csv
import io
from datetime import datetime

import openpyxl
import pytest
from rest_framework.test import APIClient

from planner.reports.models import ExportLink, ReportSubscription
from telemetry.api.renderers import XLSX_MEDIA_TYPE, header_for


def client_for(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def workbook(response):
    return openpyxl.load_workbook(io.BytesIO(response.content))


def test_header_carries_units():
    assert header_for("gpu_tdp_kw") == "GPU TDP (kW)"
    assert header_for("it_power_capacity_kw", "IT power capacity (kW)") == "IT power capacity (kW)"
    assert header_for("sent_at", "Sent at", is_datetime=True) == "Sent at (UTC)"
    assert header_for("electricity_price_usd_per_kwh") == "Electricity price (USD/kWh)"


def test_xlsx_list_has_typed_cells_frozen_header_and_every_row(world):
    for i in range(3):
        ReportSubscription.objects.create(organization=world.a.org, name=f"r{i}", recipients=["a@example.com"])
    response = client_for(world.a.tokens["viewer"]).get("/api/planner/report-subscriptions/?format=xlsx&limit=1")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == XLSX_MEDIA_TYPE
    assert "attachment" in response["Content-Disposition"]
    sheet = workbook(response).worksheets[0]
    headers = [c.value for c in sheet[1]]
    assert sheet.freeze_panes == "A2"
    assert sheet.max_row == 4  # header + all three rows although limit=1: exports are not paginated
    row = dict(zip(headers, [c.value for c in sheet[2]], strict=True))
    assert isinstance(row["Next run at (UTC)"], datetime) and row["Next run at (UTC)"].tzinfo is None
    assert isinstance(row["ID"], int)
    assert row["Name"] == "r0"


def test_xlsx_decimal_fields_become_numbers(world):
    response = client_for(world.a.tokens["viewer"]).get("/api/sites/", HTTP_ACCEPT=XLSX_MEDIA_TYPE)
    assert response.status_code == 200
    sheet = workbook(response).worksheets[0]
    headers = [c.value for c in sheet[1]]
    price = sheet.cell(row=2, column=headers.index("Electricity price (USD/kWh)") + 1).value
    assert isinstance(price, float) and price == pytest.approx(0.08)


def test_csv_is_utf8_with_header_and_accept_header_works(world):
    world.a.hall.name = "Halle Süd"
    world.a.hall.save()
    response = client_for(world.a.tokens["viewer"]).get("/api/halls/", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert rows[0]["Name"] == "Halle Süd"
    assert float(rows[0]["IT power capacity (kW)"]) == 500


def test_section_endpoint_exports_one_sheet_per_table_and_csv_picks_a_table(world):
    client = client_for(world.a.tokens["viewer"])
    json_body = client.get("/api/planner/report-sections/fleet_summary/").json()
    assert json_body["tables"]["Fleet summary"][0]["hall"] == "alpha-hall"
    sheet = workbook(client.get("/api/planner/report-sections/fleet_summary/?format=xlsx"))["Fleet summary"]
    assert [c.value for c in sheet[1]][-3:] == ["GPU TDP (kW)", "IT power capacity (kW)", "Cooling capacity (kW)"]
    bad = client.get("/api/planner/report-sections/fleet_summary/?format=csv&table=nope")
    assert bad.status_code == 400 and b"not one of" in bad.content
    assert client.get("/api/planner/report-sections/nope/").status_code == 404


def test_export_link_reads_as_its_user_until_revoked(world):
    owner = client_for(world.a.tokens["viewer"])  # viewers may make links: they only read
    created = owner.post("/api/planner/export-links/", {"name": "capacity sheet"}, format="json")
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    anonymous = APIClient()
    url = f"/api/halls/?format=csv&export_token={secret}"
    response = anonymous.get(url)
    assert response.status_code == 200 and b"alpha-hall" in response.content and b"beta-hall" not in response.content
    assert ExportLink.objects.get().last_used_at is not None
    refused = anonymous.post(f"/api/sites/?export_token={secret}", {"name": "x"}, format="json")
    assert refused.status_code == 401 and b"read-only" in refused.content
    assert "secret" not in owner.get("/api/planner/export-links/").json()["results"][0]
    assert owner.delete(f"/api/planner/export-links/{created.json()['id']}/").status_code == 204
    assert anonymous.get(url).status_code == 401
    assert anonymous.get("/api/halls/?export_token=hx_wrong").status_code == 401


def test_export_links_are_private_to_their_user(world):
    link, _ = ExportLink.issue(user=world.a.users["admin"], name="mine")
    other = client_for(world.a.tokens["viewer"])
    assert other.get(f"/api/planner/export-links/{link.pk}/").status_code == 404
    assert other.delete(f"/api/planner/export-links/{link.pk}/").status_code == 404


def test_subscriptions_are_org_scoped_and_role_checked(world):
    sub = ReportSubscription.objects.create(organization=world.b.org, name="theirs", recipients=["b@example.com"])
    assert client_for(world.a.tokens["admin"]).get(f"/api/planner/report-subscriptions/{sub.pk}/").status_code == 404
    body = {"name": "weekly", "recipients": ["ops@example.com"], "sections": ["fleet_summary"], "cadence": "weekly"}
    viewer = client_for(world.a.tokens["viewer"]).post("/api/planner/report-subscriptions/", body, format="json")
    assert viewer.status_code == 403
    planner = client_for(world.a.tokens["planner"]).post("/api/planner/report-subscriptions/", body, format="json")
    assert planner.status_code == 201, planner.content
    assert planner.json()["next_run_at"]
    bad = client_for(world.a.tokens["planner"]).post(
        "/api/planner/report-subscriptions/", {**body, "name": "x", "recipients": ["nope"]}, format="json"
    )
    assert bad.status_code == 400 and "recipients" in bad.json()


@pytest.mark.parametrize(
    "url", ["/api/planner/report-subscriptions/", "/api/planner/report-deliveries/", "/api/planner/export-links/"]
)
def test_list_endpoints_query_count(world, django_assert_max_num_queries, url):
    for i in range(5):
        ReportSubscription.objects.create(organization=world.a.org, name=f"r{i}", recipients=["a@example.com"])
    client = client_for(world.a.tokens["viewer"])
    with django_assert_max_num_queries(8):
        assert client.get(url).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(url + "?format=xlsx").status_code == 200
