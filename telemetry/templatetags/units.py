"""Units in templates, the dashboard's one set (rules in telemetry.units):

{% load units %}  {{ gpu_power_w|watts }}  {{ hall_kw|kilowatts }}  {{ bytes|gib }}  {{ kwh|kwh }}
"""

from django import template

from telemetry import units

register = template.Library()


@register.filter
def watts(value):
    return units.power(value)


@register.filter
def kilowatts(value):
    return units.power(None if value in (None, "") else float(value) * 1000)


@register.filter
def gib(value):
    return units.memory(value)


@register.filter
def kwh(value):
    return units.energy(value)
