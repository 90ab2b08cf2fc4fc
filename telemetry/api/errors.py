"""API errors as JSON a client can act on, never an HTML 500: errors are JSON whatever format was asked for
(`?format=csv` on a 400 must not push a message through the CSV writer); a delete that other rows prevent
answers 409 naming them; a write that breaks a database rule answers 409; a model-level validation error 400."""

import sys

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from telemetry.promstore import RawStoreRefused, RawStoreUnavailable

PROTECTORS_NAMED = 5


def protected_message(exc):
    """'Still used by 3 GPUs (node-1/gpu0, …); remove or change those first.'"""
    protectors = list(exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects)
    if not protectors:
        return "Other records still refer to this one; remove or change them first."
    kind = protectors[0]._meta
    names = ", ".join(str(o) for o in protectors[:PROTECTORS_NAMED])
    more = ", …" if len(protectors) > PROTECTORS_NAMED else ""
    plural = kind.verbose_name_plural if len(protectors) > 1 else kind.verbose_name
    return f"Still used by {len(protectors)} {plural} ({names}{more}); remove or change those first."


def exception_handler(exc, context):
    if isinstance(exc, ProtectedError | RestrictedError):
        response = Response({"detail": protected_message(exc)}, status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, IntegrityError):
        response = Response(
            {"detail": "This conflicts with a record that already exists or with one it refers to."},
            status=status.HTTP_409_CONFLICT,
        )
    elif isinstance(exc, RawStoreRefused):
        response = Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        response = Response(detail, status=status.HTTP_400_BAD_REQUEST)
    else:
        response = drf_exception_handler(exc, context)
    request = context.get("request")
    if response is not None and request is not None:
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
    return response


def _api(request):
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """Django's 404 (a URL no route matches, e.g. /api/gpus/0.5/): JSON under /api/, the page elsewhere."""
    if _api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """Django's 500 handler (called while the exception is being handled): a database, Redis or broker that
    does not answer is an outage, 503 with Retry-After (JSON under /api/, a plain page elsewhere)."""
    exc = sys.exc_info()[1]
    if isinstance(exc, OUTAGE_ERRORS):
        retry = str(settings.OUTAGE_RETRY_AFTER_S)
        if _api(request):
            response = JsonResponse({"detail": f"{outage_name(exc)} is unavailable; retry in {retry} s."}, status=503)
        else:
            page = OUTAGE_PAGE.format(what=outage_name(exc), retry=retry)
            response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = retry
        return response
    if _api(request):
        return JsonResponse({"detail": "Server error; it has been logged."}, status=500)
    return defaults.server_error(request)


OUTAGE_ERRORS = (OperationalError, InterfaceError, RedisError, KombuOperationalError, RawStoreUnavailable)
# No template: the page must render when nothing else works.
OUTAGE_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Headroom is unavailable</title></head>"
    "<body><h1>Headroom is unavailable</h1><p>The {what} does not answer. Try again in {retry} seconds; "
    "nothing you sent before is lost.</p></body></html>"
)


def outage_name(exc):
    if isinstance(exc, OperationalError | InterfaceError):
        return "database"
    if isinstance(exc, RawStoreUnavailable):
        return "raw-sample store (Prometheus)"
    return "cache" if isinstance(exc, RedisError) else "message broker"
