"""The delivery log shows each delivery's times in its report's own zone and names it; the per-day chart
counts days in the filters' zone and names that."""

from datetime import timedelta

from django.utils import timezone

from planner.reports.models import ReportDelivery, ReportDeliveryAttempt, ReportSubscription
from tests.integration.sites import add_site, shown


def test_each_delivery_reads_in_its_reports_zone(client, world):
    now = timezone.now().replace(second=0, microsecond=0)
    scheduled = {"Asia/Tokyo": now - timedelta(hours=5), "UTC": now - timedelta(hours=7)}
    for zone, moment in scheduled.items():
        subscription = ReportSubscription.objects.create(
            organization=world.a.org, name=f"Daily {zone}", recipients=["ops@example.com"], timezone=zone
        )
        delivery = ReportDelivery.objects.create(
            subscription=subscription,
            scheduled_for=moment,
            status="sent",
            attempts=2,
            sent_at=moment + timedelta(minutes=3),
        )
        for number, offset in ((1, 0), (2, 3)):
            ReportDeliveryAttempt.objects.create(
                delivery=delivery, number=number, started_at=moment + timedelta(minutes=offset), outcome="error"
            )
    client.force_login(world.a.users["viewer"])
    html = shown(client.get("/planner/reports/deliveries/", {"range": "24h"}))

    tokyo = scheduled["Asia/Tokyo"] + timedelta(hours=9)  # Tokyo keeps +09:00 all year
    assert f"<td>Daily Asia/Tokyo</td><td>Asia/Tokyo</td><td>{tokyo:%Y-%m-%d %H:%M}</td>" in html
    assert f"<td>{tokyo + timedelta(minutes=3):%Y-%m-%d %H:%M}</td>" in html
    assert f"Attempt 2, {tokyo + timedelta(minutes=3):%Y-%m-%d %H:%M:%S} Asia/Tokyo:" in html
    utc = scheduled["UTC"]
    assert f"<td>Daily UTC</td><td>UTC</td><td>{utc:%Y-%m-%d %H:%M}</td>" in html
    assert f"Attempt 1, {utc:%Y-%m-%d %H:%M:%S} UTC:" in html


def test_the_chart_counts_days_in_the_picked_site(client, world):
    east = add_site(world.a.org, name="east", timezone="Asia/Tokyo")
    client.force_login(world.a.users["viewer"])
    response = client.get("/planner/reports/deliveries/", {"site": east.site.pk})
    assert response.context["figure"].layout.xaxis.title.text == "time (Asia/Tokyo)"
    assert response.context["figure"].layout.xaxis.range[0].utcoffset() == timedelta(hours=9)
