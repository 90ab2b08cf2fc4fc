"""OpenAPI descriptions of Headroom's own authentication schemes (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from .renderers import XLSX_MEDIA_TYPE


class IngestTokenScheme(OpenApiAuthenticationExtension):
    """A source's write-only ingest token, sent as `Authorization: Bearer <token>`."""

    target_class = "telemetry.api.ingest.IngestTokenAuthentication"
    name = "ingestToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Per-source ingest token (write-only)."}


# Statuses any operation can answer, beside its own: every one is a JSON object (telemetry.api.errors makes
# errors JSON whatever format was asked for), with "detail" or per-field messages.
ERROR_STATUSES = {
    "400": "Invalid input; the body names each field and what is wrong.",
    "401": "No or unknown credentials.",
    "403": "Your role or organization may not do this (the body says which).",
    "404": "No such object in your organization, or an unknown ?format.",
    "409": "Conflicts with existing records (the body names what protects or duplicates it).",
    "413": "Body larger than the limit.",
    "415": "Unsupported Content-Type for this operation.",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
    "503": "A dependency (database, Redis) is down; retry after the Retry-After header's seconds.",
}
ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` (a message) or messages per field.",
    "additionalProperties": True,
}


ERROR_MEDIA_TYPES = ["application/json", "text/csv", XLSX_MEDIA_TYPE]


def document_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the error statuses and their JSON body."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_STATUSES.items():
                # An unknown ?table= of an export is answered in the format asked for, as a table.
                types = ERROR_MEDIA_TYPES if code == "400" else ["application/json"]
                content = {t: {"schema": {"$ref": "#/components/schemas/Error"}} for t in types}
                responses.setdefault(code, {"description": description, "content": content})
    return result


# JSON Schema's "time" is RFC 3339's full-time, which needs an offset ("07:00:00Z"); a TimeField is a wall-clock
# time in a named zone (a report's send time in its time zone), so it is documented by its shape instead.
LOCAL_TIME = {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"}


def document_local_times(result, generator, request, public):
    """drf-spectacular postprocessing hook: every `format: time` property becomes a local wall-clock time."""

    def walk(node):
        if isinstance(node, dict):
            if node.get("format") == "time" and node.get("type") == "string":
                del node["format"]
                node.update(LOCAL_TIME)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result
