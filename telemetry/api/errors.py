"""API errors as JSON a client can act on, never an HTML 500: a delete that other rows prevent answers 409
naming them; a write that breaks a database rule answers 409."""

from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROTECTORS_NAMED = 5


def protected_message(exc):
    """'GPU model “H100” is still used by 3 GPUs (node-1/gpu0, …); remove or change those first.'"""
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
        return Response({"detail": protected_message(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IntegrityError):
        return Response(
            {"detail": "This conflicts with a record that already exists or with one it refers to."},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)
