"""Write synthetic hourly telemetry (tests.unit.forecasts.synthetic) into the rollup tables the
forecast services read: hall IT power and hottest inlet, cooling-unit load, site outdoor temperature."""

from datetime import timedelta

from telemetry.models import GpuRollup, HallRollup, Resolution, Series, SeriesRollup
from tests.unit.forecasts.synthetic import hall_history


def write_hall_history(hall, frame):
    """Store `frame` (columns it_load_kw, cooling_load_kw, max_inlet_c, outdoor_c; UTC hourly index)."""
    org = hall.site.organization
    HallRollup.objects.bulk_create(
        HallRollup(
            resolution=Resolution.HOUR,
            hall=hall,
            ts=ts.to_pydatetime(),
            gpu_count=8,
            it_power_w=row.it_load_kw * 1000,
            inlet_temp_max=row.max_inlet_c,
        )
        for ts, row in frame.iterrows()
    )
    cooling, _ = Series.objects.get_or_create(
        organization=org,
        entity_kind="cooling",
        entity=f"{hall.name}-CRAH-1",
        metric="cooling_load",
        defaults={"unit": "W", "hall": hall},
    )
    outdoor, _ = Series.objects.get_or_create(
        organization=org, entity_kind="site", entity=hall.site.name, metric="site_outdoor_temp", defaults={"unit": "C"}
    )
    rows = []
    for ts, row in frame.iterrows():
        for series, value in ((cooling, row.cooling_load_kw * 1000), (outdoor, row.outdoor_c)):
            rows.append(
                SeriesRollup(
                    resolution=Resolution.HOUR,
                    series=series,
                    ts=ts.to_pydatetime(),
                    min=value,
                    max=value,
                    avg=value,
                    count=360,
                    last=value,
                )
            )
    SeriesRollup.objects.bulk_create(rows)


def seed_hall(hall, weeks=4, **kwargs):
    """Synthetic history for a hall sized to it; returns the frame. kwargs go to hall_history."""
    kwargs.setdefault("base_kw", 300.0)
    kwargs.setdefault("daily_kw", 50.0)
    kwargs.setdefault("weekly_kw", 25.0)
    kwargs.setdefault("trend_kw_per_day", 0.5)
    kwargs.setdefault("noise_kw", 6.0)
    kwargs.setdefault("capacity_kw", hall.cooling_capacity_kw)
    frame = hall_history(weeks=weeks, **kwargs)
    write_hall_history(hall, frame)
    return frame


def last_hour(frame):
    return frame.index[-1].to_pydatetime()


def write_gpu_hours(gpu, end, hours=24 * 30, **values):
    """Hourly GPU rollups for the `hours` before `end`, setting the given columns (e.g. gpu_temp_max=60)
    on rows already there and creating the missing ones."""
    start = end - timedelta(hours=hours)
    existing = GpuRollup.objects.filter(resolution=Resolution.HOUR, gpu=gpu, ts__gte=start, ts__lt=end)
    existing.update(**values)
    have = set(existing.values_list("ts", flat=True))
    GpuRollup.objects.bulk_create(
        GpuRollup(resolution=Resolution.HOUR, gpu=gpu, ts=ts, **values)
        for ts in (start + timedelta(hours=h) for h in range(hours))
        if ts not in have
    )
