"""Telemetry pages: GPU explorer and detail, halls (headroom, rack heatmap, PUE) and collector sources.

Views stay thin: scope to the user's organization, read the URL filters (telemetry.timerange), read
through telemetry.query, and hand Plotly figures to the templates. Times show in `filters.tz`: a GPU's or
hall's own site's zone on its page, the picked site's (else UTC) on lists.
"""
