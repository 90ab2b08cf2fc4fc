"""Filters shared by the API's filter sets."""

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField
from rest_framework import exceptions

from ..timerange import is_id


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment turned to UTC: PostgreSQL refuses offsets past ±15:59 that Python accepts
    (e.g. +23:45), and an early moment with a positive offset can fall before year 1 in UTC."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError(f"{value!r} is outside the years 1-9999 in UTC.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


def require_ids(query, names):
    """400 naming each of `names` that the query gives but that is no id (a page shows such a
    value as a message; code past this point may call int() on it)."""
    bad = {name: f"{query[name]!r} is not an id." for name in names if query.get(name) and not is_id(query[name])}
    if bad:
        raise exceptions.ValidationError(bad)
