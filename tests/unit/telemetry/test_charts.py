from datetime import UTC, datetime, timedelta

from telemetry.charts import Marker, add_markers, figure, with_gaps

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def minutes(*offsets):
    return [T0 + timedelta(minutes=m) for m in offsets]


def test_a_run_of_missing_samples_breaks_the_line():
    times = minutes(*range(10), *range(30, 40))
    xs, ys = with_gaps(times, list(range(20)))
    assert ys.count(None) == 1
    assert ys.index(None) == 10 and xs[10] == xs[11] == times[10]


def test_a_change_of_resolution_or_a_jittery_step_is_no_gap():
    hourly_then_minutes = [T0 + timedelta(hours=h) for h in range(24)] + [
        T0 + timedelta(hours=24, minutes=m) for m in range(60)
    ]
    assert None not in with_gaps(hourly_then_minutes, [1.0] * 84)[1]
    assert None not in with_gaps(minutes(0, 1, 2, 4, 5, 6, 7), [1.0] * 7)[1]


def test_markers_go_on_their_own_axis_one_trace_per_kind_with_hover_text():
    fig = figure()
    fig.add_scatter(x=[T0.isoformat()], y=[5])
    markers = [
        Marker(T0, "xid", "XID 79: fallen off the bus"),
        Marker(T0, "xid", "XID 63"),
        Marker(T0, "simulated", "simulated restart", end=T0 + timedelta(minutes=40)),
    ]
    add_markers(fig, markers, UTC)
    xid, simulated = fig.data[1:]
    assert xid.name == "XID / GPU error" and list(xid.hovertext) == ["XID 79: fallen off the bus", "XID 63"]
    assert xid.yaxis == simulated.yaxis == "y9" and fig.layout.yaxis9.visible is False
    assert len(fig.layout.shapes) == 1  # the simulated stretch is shaded
