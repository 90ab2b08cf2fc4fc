from django import template

register = template.Library()


@register.filter
def percent(value, digits=1):
    """0.0123 -> "1.2%" (probabilities and shares as percentages)."""
    if value is None:
        return "—"
    return f"{100 * float(value):.{int(digits)}f}%"
