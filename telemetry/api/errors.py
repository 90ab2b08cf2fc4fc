"""API errors as JSON a client can act on, never an HTML 500: errors are JSON whatever format was asked for
(`?format=csv` on a 400 must not push a message through the CSV writer); a delete that other rows prevent
answers 409 naming them; a write that breaks a database rule answers 409; a model-level validation error 400."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

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
    if _api(request):
        return JsonResponse({"detail": "Server error; it has been logged."}, status=500)
    return defaults.server_error(request)
