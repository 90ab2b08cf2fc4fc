"""Authentication by a per-user export link (`?export_token=hx_...`), for spreadsheet "from web" imports
and other clients that cannot send an Authorization header. Read-only: any other method is refused."""

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .models import ExportLink, hash_export_token

QUERY_PARAMETER = "export_token"
SAFE_METHODS = ("GET", "HEAD")


class ExportLinkAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        secret = request.query_params.get(QUERY_PARAMETER)
        if not secret:
            return None
        if request.method not in SAFE_METHODS:
            raise exceptions.AuthenticationFailed("Export links are read-only; use a token in the header to write.")
        link = ExportLink.objects.usable().select_related("user").filter(token_hash=hash_export_token(secret)).first()
        if link is None:
            raise exceptions.AuthenticationFailed("This export link is unknown or was revoked.")
        # One write per use keeps "last used" honest; exports are not hot paths.
        ExportLink.objects.filter(pk=link.pk).update(last_used_at=timezone.now())
        return link.user, link

    def authenticate_header(self, request):
        return "Token"


class ExportLinkScheme(OpenApiAuthenticationExtension):
    """Describes export links in the OpenAPI schema (an API key in the query string)."""

    target_class = ExportLinkAuthentication
    name = "exportLink"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "query", "name": QUERY_PARAMETER}
