"""Push API: JSON batches (GPU readings as objects or as columns), Prometheus text exposition and CSV, all
through telemetry.ingest.

Auth: `Authorization: Bearer <ingest token>` of a Source (writes only to that source and its organization),
or an admin user's API token/session with `?source=<id>` naming one of their organization's sources.
Answers 202 with {accepted, duplicate, rejected, errors: [{item, index, field, message}]}; a malformed
payload as a whole answers 400, one larger than TELEMETRY_PUSH_MAX_BYTES 413.
"""

import csv
import gc
import io
import json
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter

import orjson
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import APIException, AuthenticationFailed, ParseError, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from ..collectors import prometheus
from ..collectors.prometheus import parse_exposition
from ..ingest import ingest
from ..ingest.gpu import GpuReadingColumns
from ..models import CollectorRun, Source
from ..sources import record_success
from ..tenancy import user_organization, user_role
from ..timerange import is_id
from ..validation import unit_problem
from ..vocabulary import Batch, EventReading, GpuReading, PointReading
from .authentication import HashedTokenAuthentication

MAX_ERRORS = 1000


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


class IngestTokenAuthentication(BaseAuthentication):
    """`Bearer <token>` of a Source: request.auth is the Source, the user anonymous."""

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = header.removeprefix("Bearer ").strip()
        source = (
            Source.objects.select_related("organization").filter(ingest_token_hash=Source.hash_token(token)).first()
        )
        if token == "" or source is None:
            raise AuthenticationFailed("Unknown ingest token.")
        if not source.enabled:
            raise AuthenticationFailed(f"Source {source.name} is disabled.")
        return AnonymousUser(), source

    def authenticate_header(self, request):
        return 'Bearer realm="ingest"'


class CanPush(BasePermission):
    def has_permission(self, request, view):
        if isinstance(request.auth, Source):
            return True
        if not request.user.is_authenticated:
            return False
        if user_role(request.user) != "admin":
            raise PermissionDenied("Only a source's ingest token or an admin may push telemetry.")
        return True


class IngestThrottle(SimpleRateThrottle):
    """Pushes per ingest token (per source), or per user pushing with an API token: REST_FRAMEWORK's "ingest" rate."""

    scope = "ingest"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, Source):
            return self.cache_format % {"scope": self.scope, "ident": f"source-{request.auth.pk}"}
        return self.cache_format % {"scope": self.scope, "ident": f"user-{request.user.pk}"}


class _PushView(APIView):
    authentication_classes = [IngestTokenAuthentication, HashedTokenAuthentication, SessionAuthentication]
    permission_classes = [CanPush]
    throttle_classes = [IngestThrottle]

    def post(self, request):
        source = self._source(request)
        body = self._body(request)
        now = timezone.now()
        with _gc_paused():
            parsed = self.parse(body, request, now)
            with transaction.atomic():  # the samples and the run's record: one commit, not four
                result = ingest(source, parsed.batch, now=now)
                for error in result.errors:  # items and indices as the client sent them
                    item = error["item"]
                    error["item"], error["index"] = parsed.names.get(item, item), parsed.origin[item][error["index"]]
                result.errors = sorted(parsed.errors + result.errors, key=lambda e: (e["item"], e["index"]))
                result.rejected += len({(e["item"], e["index"]) for e in parsed.errors})
                record_success(source, CollectorRun.objects.create(source=source, started=now), result, now=now)
        answer = result.as_dict()
        if len(answer["errors"]) > MAX_ERRORS:
            answer["errors"], answer["errors_truncated"] = answer["errors"][:MAX_ERRORS], True
        return Response(answer, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _source(request):
        if isinstance(request.auth, Source):
            return request.auth
        source_id = request.query_params.get("source", "")
        if not is_id(source_id):
            raise ParseError("Name the source to push for: ?source=<id>.")
        source = Source.objects.for_org(user_organization(request.user)).filter(pk=int(source_id)).first()
        if source is None:
            raise Http404("No such source.")
        return source

    @staticmethod
    def _body(request):
        """The payload as bytes (JSON is decoded from them directly; text formats go through _text)."""
        limit = settings.TELEMETRY_PUSH_MAX_BYTES
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(
                f"Payload of {int(declared)} bytes exceeds the limit of {limit} bytes; send smaller batches."
            )
        environ = request._request.META
        if not request.META.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            # A chunked body (no Content-Length): gunicorn de-chunks it and ends the stream, but Django reads
            # a body without Content-Length as empty.
            body = environ["wsgi.input"].read(limit + 1)
        else:
            body = request._request.read(limit + 1)  # not request.body: its limit is Django's 2.5 MB
        if len(body) > limit:
            raise PayloadTooLarge(f"Payload exceeds the limit of {limit} bytes; send smaller batches.")
        return body


def _text(body):
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"Payload is not UTF-8 (byte {exc.start}).") from None


@contextmanager
def _gc_paused():
    """A decoded payload is a tree of some 10^5 fresh containers and has no cycles, yet each allocation burst
    makes the cyclic garbage collector walk it again: a fifth of a large push went to that. Paused here only."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _error(item, index, field, message):
    return {"item": item, "index": index, "field": field, "message": message}


TS_EXPECTED = "expected an ISO 8601 timestamp with zone or Unix seconds"
UUID_EXPECTED = "expected the GPU's UUID as a string"


def _timestamp(value):
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC) if value == value else None
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


class _Collected:
    """Readings that parsed, with their index in the client's payload (`origin`, per Batch item), the errors of
    those that did not, and the client's name of an item where it is not the Batch's (`names`)."""

    def __init__(self, batch=None, origin=None, errors=None):
        self.batch, self.errors, self.names = batch or Batch(), errors or [], {}
        self.origin = origin or {"gpu_readings": [], "point_readings": [], "events": []}

    def add(self, item, index, reading):
        getattr(self.batch, item).append(reading)
        self.origin[item].append(index)


def _parse_json_items(payload):
    if not isinstance(payload, dict):
        raise ParseError("Expected a JSON object with gpu_readings, point_readings and/or events lists.")
    unknown = set(payload) - {"gpu_readings", "gpu_columns", "point_readings", "events"}
    if unknown:
        raise ParseError(f"Unknown keys {sorted(unknown)}; expected gpu_readings, gpu_columns, point_readings, events.")
    out = _Collected()
    if "gpu_columns" in payload:
        if "gpu_readings" in payload:
            raise ParseError("Send GPU readings either as gpu_readings or as gpu_columns, not both.")
        _take_gpu_columns(payload["gpu_columns"], out)
    for item, build in (("gpu_readings", _gpu_item), ("point_readings", _point_item), ("events", _event_item)):
        entries = payload.get(item, [])
        if not isinstance(entries, list):
            raise ParseError(f"{item} must be a list.")
        if item == "gpu_readings" and (columns := _gpu_columns(entries)) is not None:
            out.batch.gpu_readings, out.origin[item] = columns, range(len(columns))
            continue
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                out.errors.append(_error(item, index, "", "expected an object"))
                continue
            reading, problems = build(entry)
            if problems:
                out.errors.extend(_error(item, index, f, m) for f, m in problems)
            else:
                out.add(item, index, reading)
    return out


def _gpu_columns(entries):
    """The GPU readings as GpuReadingColumns when every one has the plain shape (a string UUID, a timestamp
    string that parses, a values object, no units), else None and each goes through _gpu_item. No object per
    reading: C-level passes over the list, and each distinct timestamp string (a push has a few) parsed once.
    The values themselves are checked by ingest."""
    if not entries or set(map(type, entries)) != {dict} or sum(map(len, entries)) != 3 * len(entries):
        return None  # more keys than the three the itemgetter below requires in each: units, say
    try:
        uuids, stamps, values = zip(*map(itemgetter("gpu_uuid", "ts", "values"), entries), strict=True)
    except KeyError:
        return None
    if set(map(type, uuids)) != {str} or set(map(type, stamps)) != {str} or set(map(type, values)) != {dict}:
        return None
    stamps = _parsed_stamps(stamps)
    if None in stamps:
        return None
    return GpuReadingColumns(list(uuids), stamps, list(values))


def _take_gpu_columns(block, out):
    """The columnar form of n GPU readings: {"gpu_uuid": [n UUIDs], "ts": [n timestamps], "values": {metric:
    [n numbers, null where a reading lacks the metric]}, "units": {metric: unit}}. No object per reading or
    value: ingest turns each metric's list into one numpy column. A malformed block answers 400; a bad cell
    rejects its reading (index: its position in the lists)."""
    if not isinstance(block, dict) or set(block) - {"gpu_uuid", "ts", "values", "units"}:
        raise ParseError("gpu_columns must be an object with gpu_uuid, ts and values (and optionally units).")
    uuids, stamps, metrics, units = block.get("gpu_uuid"), block.get("ts"), block.get("values"), block.get("units")
    if not isinstance(uuids, list) or not isinstance(metrics, dict) or not isinstance(units or {}, dict):
        raise ParseError("gpu_columns needs gpu_uuid as a list, values as an object of metric: list, units as one.")
    n = len(uuids)
    uneven = [
        name for name, column in [("ts", stamps), *metrics.items()] if type(column) is not list or len(column) != n
    ]
    if uneven:
        raise ParseError(f"gpu_columns: {', '.join(uneven)[:300]} must be lists as long as gpu_uuid ({n}).")
    for metric, unit in (units or {}).items():
        if message := unit_problem(metric, unit):
            raise ParseError(f"gpu_columns units: {message}.")
    stamps = _parsed_stamps(stamps)
    origin = range(n)
    if None in stamps or set(map(type, uuids)) - {str}:  # rare: drop those readings from every list
        origin = []
        for index, (uuid, ts) in enumerate(zip(uuids, stamps, strict=True)):
            problems = [("ts", TS_EXPECTED)] if ts is None else []
            problems += [] if type(uuid) is str else [("gpu_uuid", UUID_EXPECTED)]
            out.errors.extend(_error("gpu_columns", index, f, m) for f, m in problems)
            if not problems:
                origin.append(index)
        uuids, stamps = [uuids[i] for i in origin], [stamps[i] for i in origin]
        metrics = {metric: [column[i] for i in origin] for metric, column in metrics.items()}
    out.batch.gpu_readings = GpuReadingColumns(uuids, stamps, metrics=metrics)
    out.origin["gpu_readings"], out.names["gpu_readings"] = origin, "gpu_columns"


def _parsed_stamps(stamps):
    """The timestamps as datetimes (None where one does not parse), each distinct one parsed once: a push
    holds a few instants."""
    if set(map(type, stamps)) <= {str, int, float}:  # hashable, and no bool to be taken for 0 or 1
        parsed = {stamp: _timestamp(stamp) for stamp in set(stamps)}
        return list(map(parsed.__getitem__, stamps))
    return list(map(_timestamp, stamps))


def _gpu_item(entry):
    problems = []
    ts = _timestamp(entry.get("ts"))
    if ts is None:
        problems.append(("ts", TS_EXPECTED))
    values, units = entry.get("values"), entry.get("units") or {}
    if not isinstance(values, dict) or not isinstance(units, dict):
        problems.append(("values", "values (and units, if given) must be objects of metric: number"))
        return None, problems
    for metric, unit in units.items():
        if message := unit_problem(metric, unit):
            problems.append((metric, message))
    uuid = entry.get("gpu_uuid")
    if not isinstance(uuid, str):
        problems.append(("gpu_uuid", UUID_EXPECTED))
    return (None if problems else GpuReading(uuid, ts, values)), problems


def _point_item(entry):
    problems = []
    ts = _timestamp(entry.get("ts"))
    if ts is None:
        problems.append(("ts", TS_EXPECTED))
    for name in ("entity_kind", "entity", "metric"):
        if not isinstance(entry.get(name), str):
            problems.append((name, f"expected {name} as a string"))
    if not problems and "unit" in entry and (message := unit_problem(entry["metric"], entry["unit"])):
        problems.append(("unit", message))
    if problems:
        return None, problems
    return PointReading(entry["entity_kind"], entry["entity"], entry["metric"], ts, entry.get("value")), []


def _event_item(entry):
    ts = _timestamp(entry.get("ts"))
    problems = [] if ts is not None else [("ts", TS_EXPECTED)]
    for name in ("kind", "gpu_uuid", "entity", "detail"):
        if not isinstance(entry.get(name, ""), str):
            problems.append((name, f"expected {name} as a string"))
    if problems:
        return None, problems
    reading = EventReading(
        entry.get("kind", ""),
        ts,
        gpu_uuid=entry.get("gpu_uuid", ""),
        entity=entry.get("entity", ""),
        code=entry.get("code"),
        detail=entry.get("detail", ""),
    )
    return reading, []


_VALUES = inline_serializer("Values", {"gpu_util": serializers.FloatField(), "gpu_power": serializers.FloatField()})
_RESULT = inline_serializer(
    "IngestResult",
    {
        "accepted": serializers.IntegerField(),
        "duplicate": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "errors": inline_serializer(
            "IngestError",
            {
                "item": serializers.ChoiceField(
                    ["gpu_readings", "gpu_columns", "point_readings", "events", "csv", "prometheus"]
                ),
                "index": serializers.IntegerField(),
                "field": serializers.CharField(),
                "message": serializers.CharField(),
            },
            many=True,
        ),
    },
)
_SOURCE_PARAM = OpenApiParameter("source", int, description="Source id, when pushing with an admin's user token.")


class JsonIngestView(_PushView):
    @extend_schema(
        summary="Push a JSON batch",
        description=(
            "GPU readings (one object per GPU and instant, `values` keyed by GPU metric, optional `units`), "
            "point readings of nodes, racks, PDUs, cooling units, halls and sites, and events. Timestamps are "
            "ISO 8601 with zone or Unix seconds; at most 5 minutes ahead, within raw retention. GPU readings may "
            "come instead as `gpu_columns`: parallel lists (`gpu_uuid`, `ts`, and per metric in `values` one "
            "number per reading, null where it lacks the metric), about 1.3x as fast to ingest; errors name "
            "the item `gpu_columns` and the reading's position in the lists."
        ),
        request=inline_serializer(
            "PushBatch",
            {
                "gpu_readings": inline_serializer(
                    "PushGpuReading",
                    {"gpu_uuid": serializers.CharField(), "ts": serializers.DateTimeField(), "values": _VALUES},
                    many=True,
                    required=False,
                ),
                "gpu_columns": inline_serializer(
                    "PushGpuColumns",
                    {
                        "gpu_uuid": serializers.ListField(child=serializers.CharField()),
                        "ts": serializers.ListField(child=serializers.DateTimeField()),
                        "values": serializers.DictField(
                            child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
                            help_text="Per GPU metric, one number per reading (null: the reading lacks it).",
                        ),
                        "units": serializers.DictField(child=serializers.CharField(), required=False),
                    },
                    required=False,
                ),
                "point_readings": inline_serializer(
                    "PushPointReading",
                    {
                        "entity_kind": serializers.ChoiceField(["node", "rack", "pdu", "cooling", "hall", "site"]),
                        "entity": serializers.CharField(),
                        "metric": serializers.CharField(),
                        "ts": serializers.DateTimeField(),
                        "value": serializers.FloatField(),
                        "unit": serializers.CharField(required=False),
                    },
                    many=True,
                    required=False,
                ),
                "events": inline_serializer(
                    "PushEvent",
                    {
                        "kind": serializers.CharField(),
                        "ts": serializers.DateTimeField(),
                        "gpu_uuid": serializers.CharField(required=False),
                        "entity": serializers.CharField(required=False),
                        "code": serializers.IntegerField(required=False),
                        "detail": serializers.CharField(required=False),
                    },
                    many=True,
                    required=False,
                ),
            },
        ),
        responses={202: _RESULT},
        parameters=[_SOURCE_PARAM],
    )
    def post(self, request):
        return super().post(request)

    def parse(self, body, request, now):
        try:
            payload = orjson.loads(body)  # from the bytes: orjson checks the UTF-8 itself, no decoded copy
        except orjson.JSONDecodeError:
            # orjson refuses what the standard module takes (NaN/Infinity literals, integers beyond 64 bits):
            # those items then get their own errors instead of failing the payload. Its message, too.
            try:
                payload = json.loads(_text(body))
            except (ValueError, RecursionError) as exc:
                raise ParseError(f"Payload is not JSON: {exc}") from None
        return _parse_json_items(payload)


class PrometheusIngestView(_PushView):
    @extend_schema(
        summary="Push Prometheus text exposition (dcgm-exporter, node-exporter)",
        description="Mapped like a scrape; all samples stamped with the server's time. `node` names the host.",
        request={"text/plain": str},
        responses={202: _RESULT},
        parameters=[_SOURCE_PARAM, OpenApiParameter("node", str, description="Hostname for node metrics.")],
    )
    def post(self, request):
        return super().post(request)

    def parse(self, body, request, now):
        try:
            samples = prometheus.parse_samples(_text(body))
            batch = parse_exposition("", now, node=request.query_params.get("node", ""), parser=lambda _: samples)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise ParseError(f"Not the Prometheus text exposition format: {exc}") from None
        origin = {item: list(range(len(getattr(batch, item)))) for item in ("gpu_readings", "point_readings", "events")}
        return _Collected(batch, origin, prometheus.non_finite_errors(samples))


CSV_COLUMNS = ("ts", "entity_kind", "entity", "metric", "value")


class CsvIngestView(_PushView):
    @extend_schema(
        summary="Push CSV",
        description=(
            "Header `ts,entity_kind,entity,metric,value`; entity_kind `gpu` takes the GPU UUID as entity, the "
            "others (node, rack, pdu, cooling, hall, site) a name. Errors name the line (index 0 = first data line)."
        ),
        request={"text/csv": str},
        responses={202: _RESULT},
        parameters=[_SOURCE_PARAM],
    )
    def post(self, request):
        return super().post(request)

    def parse(self, body, request, now):
        reader = csv.reader(io.StringIO(_text(body)))
        header = [h.strip() for h in next(reader, [])]
        if tuple(header) != CSV_COLUMNS:
            raise ParseError(f"CSV header must be {','.join(CSV_COLUMNS)}; got {','.join(header)[:200]}")
        out = _Collected()
        gpu_rows = {}  # (uuid, ts) -> (first line, values): one GPU reading per GPU and instant
        try:
            rows = list(enumerate(reader))
        except csv.Error as exc:
            raise ParseError(f"Malformed CSV: {exc}") from None
        for index, row in rows:
            if len(row) != len(CSV_COLUMNS):
                out.errors.append(_error("csv", index, "", f"expected {len(CSV_COLUMNS)} columns, got {len(row)}"))
                continue
            raw_ts, kind, entity, metric, raw_value = (c.strip() for c in row)
            ts = _timestamp(raw_ts)
            try:
                value = float(raw_value)
            except ValueError:
                value = None
            if ts is None or value is None:
                field = "ts" if ts is None else "value"
                out.errors.append(_error("csv", index, field, f"cannot read {field} {row[0 if ts is None else 4]!r}"))
            elif kind == "gpu":
                gpu_rows.setdefault((entity, ts), (index, {}))[1][metric] = value
            else:
                out.add("point_readings", index, PointReading(kind, entity, metric, ts, value))
        for (uuid, ts), (index, values) in gpu_rows.items():
            out.add("gpu_readings", index, GpuReading(uuid, ts, values))
        return out
