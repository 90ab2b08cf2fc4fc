"""Extension points that the apps built on telemetry fill in. Telemetry imports none of them (the layers
point one way: planner may import telemetry, never the reverse); each registers here from its
AppConfig.ready().

- `overview_panels`: fn(request, organization, filters) -> HTML shown on the fleet overview below its
  charts (e.g. the forecasts' cooling outlook and open alerts).
- `alert_rows`: fn(organization, filters, show) -> rows merged into the anomalies page, each with the keys
  of a detector row (source, severity, start, end, subject, what, observed, expected, explanation,
  acknowledged); `show` is "open" or "all".
"""

overview_panels = []
alert_rows = []
