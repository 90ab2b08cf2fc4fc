"""The causes of the 5xx schemathesis found, one test each: errors are JSON whatever format was asked for,
spreadsheet cells never run as formulas nor carry control characters, pages and offsets are bounded, an
id that is no number answers a JSON 404."""

import csv
import io

from openpyxl import load_workbook
from rest_framework.test import APIClient

from telemetry.api.renderers import safe_cell
from telemetry.models import Site


def api(world, role="admin"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.a.tokens[role]}")
    return client


def test_a_validation_error_asked_for_as_csv_answers_json_400(world):
    response = api(world).post("/api/nodes/?format=csv", {"hostname": "x", "rack": 0, "purchase_price_usd": "AAA"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "purchase_price_usd" in response.json()


def test_spreadsheet_cells_are_never_formulas_or_control_characters(world):
    Site.objects.create(organization=world.a.org, name='=HYPERLINK("http://evil","x")', location="a\x07b\x1bc")
    client = api(world)
    rows = list(csv.reader(io.StringIO(client.get("/api/sites/?format=csv").content.decode())))
    cells = {value for row in rows for value in row}
    assert '\'=HYPERLINK("http://evil","x")' in cells
    book = load_workbook(io.BytesIO(client.get("/api/sites/?format=xlsx").content))
    values = [c.value for row in book.active.iter_rows() for c in row]
    assert '\'=HYPERLINK("http://evil","x")' in values and "abc" in values
    assert safe_cell("-1+2") == "'-1+2" and safe_cell(-1) == -1 and safe_cell(float("nan")) == "nan"


def test_pages_and_offsets_are_bounded(world):
    client = api(world, "viewer")
    assert client.get("/api/sites/?limit=100000000").status_code == 200
    huge = client.get(f"/api/sites/?offset={10**30}")
    assert huge.status_code == 200 and huge.json()["results"] == []


def test_an_id_that_is_no_number_answers_json_404(world):
    for url in ("/api/gpus/0.5/", "/api/planner/forecasts/AAA/", "/api/gpu-models/1e-9/"):
        response = api(world).get(url)
        assert response.status_code == 404, url
        assert response["Content-Type"].startswith("application/json"), url
