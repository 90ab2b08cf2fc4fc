"""Every list and chart of the telemetry pages links CSV and XLSX downloads of its own rows, with the page's
filters: the links are followed as a browser would (same session) and their rows compared with the page's."""

import csv
import io
import re
from datetime import timedelta
from html import unescape

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from telemetry import demo_history
from telemetry.models import CollectorRun, Source
from tests.base import PASSWORD

EXPORTS = re.compile(r'<p class="exports">.*?href="([^"]+format=csv)".*?href="([^"]+format=xlsx)"', re.S)
LISTS_AND_CHARTS = re.compile(r'<table\b|class="chart"')


@pytest.fixture
def simulated(world):
    demo_history.seed_history(world.a.org, now=timezone.now(), weeks=1)
    source = Source.objects.create(organization=world.a.org, name="dcgm alpha", kind="prometheus")
    Source.objects.create(organization=world.b.org, name="dcgm beta", kind="prometheus")
    CollectorRun.objects.create(
        source=source, started=timezone.now() - timedelta(minutes=1), finished=timezone.now(), status="ok", accepted=7
    )
    return world


@pytest.fixture
def client_a(client, simulated):
    client.login(username=simulated.a.users["viewer"].username, password=PASSWORD)
    return client


def links(html):
    """[(csv url, xlsx url)] of every exports paragraph; the page must have one per list and chart."""
    found = [(unescape(c), unescape(x)) for c, x in EXPORTS.findall(html)]
    assert len(found) >= len(LISTS_AND_CHARTS.findall(html)), "a list or chart without download links"
    return found


def download(client, csv_url, xlsx_url):
    """(CSV rows as dicts, the XLSX's sheets as {title: [row dicts]}); both must answer 200 as attachments."""
    as_csv, as_xlsx = client.get(csv_url), client.get(xlsx_url)
    for response, media in ((as_csv, "text/csv"), (as_xlsx, "application/vnd.openxmlformats")):
        assert response.status_code == 200, (response.request["PATH_INFO"], response.content[:300])
        assert response["Content-Type"].startswith(media) and "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8"))))
    sheets = {}
    for sheet in openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).worksheets:
        values = list(sheet.values)
        sheets[sheet.title] = [dict(zip(values[0], row, strict=True)) for row in values[1:]]
    return rows, sheets


def test_hall_list_downloads_its_rows_with_the_page_filters(client_a, simulated):
    query = f"?range=7d&site={simulated.a.site.pk}"
    response = client_a.get(reverse("hall-list") + query)
    ((csv_url, xlsx_url),) = links(response.content.decode())
    assert "range=7d" in csv_url and f"site={simulated.a.site.pk}" in csv_url
    rows, sheets = download(client_a, csv_url, xlsx_url)
    page_rows = response.context["rows"]
    assert [r["Hall"] for r in rows] == [r["hall"].name for r in page_rows] == ["alpha-hall"]
    assert float(rows[0]["IT load (kW)"]) == pytest.approx(page_rows[0]["it_kw"])
    (sheet,) = sheets.values()
    assert sheet[0]["IT load (kW)"] == pytest.approx(page_rows[0]["it_kw"])
    assert sheet[0]["As of (UTC)"].tzinfo is None  # a real date-time cell


def test_gpu_explorer_downloads_every_row_in_the_page_order(client_a, simulated):
    response = client_a.get(reverse("gpu-list") + "?sort=-temp&status=active")
    heat, (csv_url, xlsx_url) = links(response.content.decode())  # the heatmap's, then the list's
    assert "/heatmap/" in heat[0] and "/explorer/" in csv_url
    assert "sort=-temp" in csv_url and "status=active" in csv_url
    rows, sheets = download(client_a, csv_url, xlsx_url)
    page_rows = response.context["page"].object_list
    assert [int(r["GPU ID"]) for r in rows] == [r["gpu"].pk for r in page_rows]
    assert simulated.b.gpu.pk not in [int(r["GPU ID"]) for r in rows]
    assert float(rows[0]["Temp (°C)"]) == pytest.approx(page_rows[0]["temp"])
    (sheet,) = sheets.values()
    assert [r["GPU ID"] for r in sheet] == [r["gpu"].pk for r in page_rows]


def points(trace):
    """A line's samples: the None that breaks it at a gap is no sample."""
    return sum(1 for y in trace.y if y is not None)


def test_gpu_page_downloads_each_charts_points(client_a, simulated):
    response = client_a.get(reverse("gpu-detail", args=[simulated.a.gpu.pk]) + "?range=24h")
    found = links(response.content.decode())
    figures = response.context["figures"]
    assert len(found) == len(figures) + 1  # one per chart, and the events table
    for (_id, fig, title), (csv_url, xlsx_url) in zip(figures, found, strict=False):
        rows, sheets = download(client_a, csv_url, xlsx_url)
        assert list(sheets) == [title]  # ?table= picks the chart's sheet in the XLSX too
        assert len(sheets[title]) == len(rows)
        for trace in (t for t in fig.data if t.yaxis != "y9"):  # not the event markers
            column = next(h for h in rows[0] if h.lower().startswith(trace.name.replace("_", " ").lower()))
            assert sum(1 for r in rows if r[column] != "") == points(trace), (title, trace.name)
    events_csv, _ = found[-1]
    assert "table=Events" in events_csv


def test_hall_page_downloads_each_charts_rows(client_a, simulated):
    response = client_a.get(reverse("hall-detail", args=[simulated.a.hall.pk]) + "?range=7d")
    found = links(response.content.decode())
    tables = {re.search(r"table=(\w+)", c).group(1): (c, x) for c, x in found}
    assert set(tables) == {"Load", "Inlet", "Racks", "PUE"}
    load, _ = download(client_a, *tables["Load"])
    it_trace = response.context["load_figure"].data[0]
    assert sum(1 for r in load if r["IT load (kW)"] != "") == points(it_trace)
    assert float(load[-1]["IT load (kW)"]) == pytest.approx(it_trace.y[-1])
    inlet, _ = download(client_a, *tables["Inlet"])
    assert len(inlet) == points(response.context["inlet_figure"].data[0])
    racks, _ = download(client_a, *tables["Racks"])
    heatmap = response.context["power_map"].data[0]
    assert {r["Rack"] for r in racks} == {name for row in heatmap.text for name in row if name}
    pue, sheets = download(client_a, *tables["PUE"])
    assert len(pue) == points(response.context["pue_figure"].data[0])
    assert sheets["PUE"][0]["PUE"] == pytest.approx(response.context["pue_figure"].data[0].y[0])


def test_sources_page_downloads_sources_and_runs_of_its_organization(client_a, simulated):
    response = client_a.get(reverse("source-list"))
    (sources_links, runs_links) = links(response.content.decode())
    sources, _ = download(client_a, *sources_links)
    assert [r["Name"] for r in sources] == [r["source"].name for r in response.context["rows"]]
    assert "dcgm beta" not in [r["Name"] for r in sources]
    assert "Password" not in sources[0] and "Endpoint" not in sources[0]
    runs, _ = download(client_a, *runs_links)
    assert [(r["Source"], r["Accepted"]) for r in runs if r["Source"] == "dcgm alpha"] == [("dcgm alpha", "7")]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/halls/headroom/?site=999999", "No site with id 999999"),
        ("/api/gpus/explorer/?range=2w", "Unknown range '2w'"),
    ],
)
def test_bad_filters_answer_400_saying_which(client_a, url, message):
    response = client_a.get(url)
    assert response.status_code == 400 and message in response.json()["filters"][0]


def test_another_organizations_charts_are_404(client_a, simulated):
    assert client_a.get(f"/api/gpus/{simulated.b.gpu.pk}/charts/").status_code == 404
    assert client_a.get(f"/api/halls/{simulated.b.hall.pk}/charts/").status_code == 404


def test_unknown_table_answers_400_in_xlsx_too(client_a, simulated):
    response = client_a.get(f"/api/halls/{simulated.a.hall.pk}/charts/?format=xlsx&table=Nope")
    assert response.status_code == 400
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert "not one of: Load, Inlet, Racks, PUE" in sheet["A2"].value


@pytest.mark.parametrize(
    ("url", "max_queries"),
    [
        ("/api/halls/headroom/?range=7d", 12),
        ("/api/gpus/explorer/", 12),
        ("gpu-charts", 40),
        ("hall-charts", 30),
        ("/api/sources/runs/", 10),
    ],
)
def test_page_exports_stay_within_the_pages_query_budget(
    client_a, simulated, django_assert_max_num_queries, url, max_queries
):
    if not url.startswith("/"):
        obj = simulated.a.gpu if url.startswith("gpu") else simulated.a.hall
        url = reverse(url, args=[obj.pk])
    with django_assert_max_num_queries(max_queries):
        assert client_a.get(url + ("&" if "?" in url else "?") + "format=xlsx").status_code == 200
