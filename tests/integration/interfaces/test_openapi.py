"""The OpenAPI schema describes every endpoint, and its docs page works without any CDN."""

import re

from rest_framework.test import APIClient

from tests.base import PASSWORD


def test_schema_describes_every_operation(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.a.tokens['viewer']}")
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert "exportLink" in schema["components"]["securitySchemes"]
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    assert any(path.startswith("/api/planner/report-subscriptions/") for path, _, _ in operations)
    for path, method, op in operations:
        assert op.get("responses"), f"{method.upper()} {path} has no responses"
    lists = [op for path, method, op in operations if method == "get" and path.endswith("/") and "{" not in path]
    paged = [op for op in lists if any(p["name"] == "limit" for p in op.get("parameters", []))]
    assert len(paged) >= 5  # limit/offset on list endpoints, the same everywhere


def test_docs_page_loads_swagger_ui_from_our_static_files(client, world):
    client.login(username="alpha-viewer", password=PASSWORD)
    html = client.get("/api/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources), sources  # nothing from another host
    assert any("swagger-ui" in s for s in sources)
