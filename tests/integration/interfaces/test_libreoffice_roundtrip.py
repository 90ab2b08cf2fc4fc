"""An XLSX export opened by another program: LibreOffice (headless, Debian package) converts it to CSV and
the numbers equal the API's JSON."""

import csv
import shutil
import subprocess

import pytest
from rest_framework.test import APIClient

from telemetry.api.renderers import header_for
from telemetry.models import Hall

LIBREOFFICE = shutil.which("libreoffice") or shutil.which("soffice")


def test_halls_xlsx_round_trips_through_libreoffice(world, tmp_path):
    if LIBREOFFICE is None:
        pytest.fail("LibreOffice is needed for this test: apt-get install libreoffice-calc-nogui")
    Hall.objects.create(site=world.a.site, name="hall-b", it_power_capacity_kw=1234.5, cooling_capacity_kw=987.25)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.a.tokens['viewer']}")
    rows = client.get("/api/halls/").json()["results"]
    xlsx = tmp_path / "halls.xlsx"
    xlsx.write_bytes(client.get("/api/halls/?format=xlsx").content)

    profile = tmp_path / "lo-profile"  # a private profile: parallel runs must not share LibreOffice's lock
    subprocess.run(
        [LIBREOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "csv", "--outdir"]
        + [str(tmp_path), str(xlsx)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with open(tmp_path / "halls.csv", encoding="utf-8") as f:
        converted = list(csv.DictReader(f))

    assert len(converted) == len(rows) == 2
    it_header, cooling_header = header_for("it_power_capacity_kw", "IT power capacity (kW)"), "Cooling capacity (kW)"
    for api_row, sheet_row in zip(rows, converted, strict=True):
        assert int(sheet_row["ID"]) == api_row["id"]
        assert sheet_row["Name"] == api_row["name"]
        assert float(sheet_row[it_header]) == api_row["it_power_capacity_kw"]
        assert float(sheet_row[cooling_header]) == api_row["cooling_capacity_kw"]
