"""Organizations and who belongs to them; every inventory query is scoped through these."""

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
