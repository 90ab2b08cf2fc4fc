"""Alert deduplication across runs: a persisting condition is one alert whose last_seen moves on; a
condition the next run no longer forecasts is resolved; a failed run leaves alerts as they were."""

from datetime import timedelta

from django.db.models import F

from planner.forecasts import cooling
from planner.forecasts.models import Alert
from telemetry.models import HallRollup, Node, Rack, Resolution, Series, SeriesRollup

from .helpers import last_hour, seed_hall


def _hot_hall(world):
    # The synthetic inlet is sized to a 250 kW plant, so a hall running ~330 kW sits near 30 C: over 27 C.
    return last_hour(seed_hall(world.a.hall, weeks=3, capacity_kw=250.0))


def test_same_condition_twice_is_one_alert_with_last_seen_updated(world):
    hall = world.a.hall
    as_of = _hot_hall(world)

    first = cooling.run_cooling_forecast(hall.pk, as_of=as_of - timedelta(hours=1))
    alert = Alert.objects.get(hall=hall, kind="inlet_recommended")
    second = cooling.run_cooling_forecast(hall.pk, as_of=as_of)

    assert first.status == second.status == "ok"
    assert Alert.objects.filter(hall=hall, kind="inlet_recommended").count() == 1
    again = Alert.objects.get(pk=alert.pk)
    assert again.resolved_at is None
    assert again.first_seen == alert.first_seen
    assert again.last_seen > alert.last_seen
    assert again.last_run == second
    assert again.threshold == 27.0 and again.unit == "C"
    assert again.margin < 0 and again.peak > 27.0
    assert again.start > as_of and again.peak_at >= again.start
    assert again.dedup_key == f"{hall.pk}:inlet_recommended:27"


def test_condition_gone_resolves_the_alert_and_a_new_one_opens_later(world):
    hall = world.a.hall
    as_of = _hot_hall(world)
    cooling.run_cooling_forecast(hall.pk, as_of=as_of)
    alert = Alert.objects.get(hall=hall, kind="inlet_recommended")

    HallRollup.objects.filter(hall=hall).update(inlet_temp_max=F("inlet_temp_max") - 9)
    cooled = cooling.run_cooling_forecast(hall.pk, as_of=as_of)

    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert alert.last_run == cooled
    assert not Alert.objects.for_org(world.a.org).active().exists()

    HallRollup.objects.filter(hall=hall).update(inlet_temp_max=F("inlet_temp_max") + 9)
    cooling.run_cooling_forecast(hall.pk, as_of=as_of)
    assert Alert.objects.filter(hall=hall, kind="inlet_recommended").count() == 2
    assert Alert.objects.filter(hall=hall, kind="inlet_recommended", resolved_at=None).count() == 1


def test_failed_run_leaves_open_alerts_open(world):
    hall = world.a.hall
    as_of = _hot_hall(world)
    cooling.run_cooling_forecast(hall.pk, as_of=as_of)
    HallRollup.objects.filter(hall=hall).delete()

    failed = cooling.run_cooling_forecast(hall.pk, as_of=as_of + timedelta(hours=1))

    assert failed.status == "failed"
    assert Alert.objects.filter(hall=hall, resolved_at=None, kind="inlet_recommended").exists()


def test_inlet_alert_names_the_hottest_racks(world):
    hall = world.a.hall
    as_of = _hot_hall(world)
    cool_rack = Rack.objects.create(hall=hall, name="alpha-r2", power_budget_kw=40)
    Node.objects.create(rack=cool_rack, hostname="alpha-n2")
    for hostname, inlet in (("alpha-n1", 31.0), ("alpha-n2", 24.0)):
        series = Series.objects.create(
            organization=world.a.org, entity_kind="node", entity=hostname, metric="node_inlet_temp", unit="C", hall=hall
        )
        SeriesRollup.objects.create(
            resolution=Resolution.HOUR, series=series, ts=as_of, min=inlet, max=inlet, avg=inlet, count=1, last=inlet
        )

    cooling.run_cooling_forecast(hall.pk, as_of=as_of)

    assert Alert.objects.get(hall=hall, kind="inlet_recommended").racks == ["alpha-r1"]
