"""Organizations and who belongs to them; every inventory query is scoped through these."""

from django.conf import settings
from django.db import models


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
