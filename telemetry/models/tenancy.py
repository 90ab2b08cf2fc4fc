"""Organizations and who belongs to them; every inventory query is scoped through these."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q


class Organization(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """Ties a user to one organization; the user's role is their Django group."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")

    def __str__(self):
        return f"{self.user} @ {self.organization}"


class OrgQuerySet(models.QuerySet):
    """Models declare ORG_LOOKUP (the path to their Organization) and get `for_org`."""

    def for_org(self, organization):
        return self.filter(**{self.model.ORG_LOOKUP: organization})


def catalog_owner(related_name):
    """The organization a catalog row belongs to; empty for the shared catalog."""
    return models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name=related_name,
        help_text="Empty for the shared catalog; else the one organization this row belongs to.",
    )


class CatalogQuerySet(models.QuerySet):
    """A catalog shared by all organizations (rows without organization, edited by superusers only) plus
    each organization's own rows. Models declare CATALOG_IDENTITY: the fields naming an entry, so that
    an organization's row with the same identity overrides the shared one for that organization."""

    def for_org(self, organization):
        """Every row the organization may see or point at: the shared ones and its own."""
        return self.filter(Q(organization__isnull=True) | Q(organization=organization))

    def shared(self):
        return self.filter(organization__isnull=True)

    def effective_for(self, organization):
        """The catalog as the organization plans with it: its own rows, and shared rows it did not override."""
        if organization is None:
            return self.shared()
        own = self.model.objects.filter(
            organization=organization, **{field: OuterRef(field) for field in self.model.CATALOG_IDENTITY}
        )
        return self.for_org(organization).exclude(Q(organization__isnull=True) & Exists(own))


def hash_api_token(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self, now):
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """An API token (`Authorization: Token <secret>`): only its SHA-256 is stored, the secret is shown once when
    issued; its first characters (`prefix`) name it in lists. It may expire and can be revoked."""

    PREFIX = "hr_"
    SHOWN = 10  # characters of the secret kept to tell tokens apart

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=120, blank=True, help_text="What the token is for.")
    prefix = models.CharField(max_length=16, editable=False, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: does not expire.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, *, user, name="", expires_at=None):
        """Create a token and return (token, secret); the secret is not recoverable afterwards."""
        secret = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, prefix=secret[: cls.SHOWN], key_hash=hash_api_token(secret), expires_at=expires_at
        )
        return token, secret
