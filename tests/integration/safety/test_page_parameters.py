"""The dashboard pages read the same filter parameters as the API (telemetry.timerange): values that Python
accepts and int() or PostgreSQL do not (digits like '²', offsets past ±15:59) are a message on the page, not
a 500."""

import pytest

PAGES = [
    "/",
    "/gpus/",
    "/halls/",
    "/sources/",
    "/serving/",
    "/anomalies/",
    "/planner/forecasts/",
    "/planner/forecasts/alerts/",
    "/planner/forecasts/risk/",
    "/planner/scenarios/compare/",
    "/planner/reports/deliveries/",
]
HOSTILE = [
    {"site": "²"},
    {"hall": "²"},
    {"width": "²"},
    {"model": "²"},
    {"ids": "²"},
    {"from": "1732-07-22T01:03:28+23:45", "to": "1732-07-23T01:03:28+23:45"},
    {"from": "0001-01-01T00:00:00+05:00"},
    {"to": "9999-12-31T23:59:59-05:00"},
]


@pytest.mark.parametrize("url", PAGES)
def test_hostile_filters_are_a_message_not_a_server_error(client, world, url):
    client.force_login(world.a.users["planner"])
    for query in HOSTILE:
        response = client.get(url, query)
        assert response.status_code < 500, (url, query, response.status_code)


def test_detail_pages_take_hostile_filters_too(client, world):
    client.force_login(world.a.users["viewer"])
    for url in (
        f"/gpus/{world.a.gpu.pk}/",
        f"/halls/{world.a.hall.pk}/",
        f"/planner/forecasts/halls/{world.a.hall.pk}/",
    ):
        for query in HOSTILE:
            response = client.get(url, query)
            assert response.status_code < 500, (url, query, response.status_code)
