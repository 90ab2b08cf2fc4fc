"""API tokens stored hashed (telemetry.models.ApiToken): `Authorization: Token <secret>` as DRF's TokenAuthentication
reads it, looked up by SHA-256, refused once revoked or expired."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from ..models import ApiToken
from ..models.tenancy import hash_api_token


class HashedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        now = timezone.now()
        token = ApiToken.objects.usable(now).select_related("user").filter(key_hash=hash_api_token(key)).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown, revoked or expired token.")
        if token.last_used_at is None or now - token.last_used_at > USE_RECORDED_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token


USE_RECORDED_EVERY = timedelta(minutes=1)  # "last used" without a write per request
