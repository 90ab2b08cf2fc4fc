"""OpenAPI descriptions of Headroom's own authentication schemes (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class IngestTokenScheme(OpenApiAuthenticationExtension):
    """A source's write-only ingest token, sent as `Authorization: Bearer <token>`."""

    target_class = "telemetry.api.ingest.IngestTokenAuthentication"
    name = "ingestToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Per-source ingest token (write-only)."}
