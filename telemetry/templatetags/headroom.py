from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def plotly_figure(fig, element_id, height=380):
    """A div that static/js/charts.js fills with the figure (JSON, no inline script)."""
    return format_html(
        '<div class="chart" id="{}" style="min-height:{}px" data-figure="{}" role="img" aria-label="{}">'
        '<p class="chart-loading">Loading chart…</p></div>',
        element_id,
        height,
        fig.to_json(),
        fig.layout.title.text or element_id,
    )
