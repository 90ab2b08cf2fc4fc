"""The demo's serving seed on the fixture world (tests.base): shared by the serving pipeline tests and the
browser tests of the serving pages."""

from datetime import timedelta

from django.utils import timezone

from telemetry.models import Gpu, GpuRollup
from telemetry.serving import demo as serving_demo

POWER_W = 500.0


def serve_demo(world):
    """Four H100s on alpha's node with 27 h of 1-minute rollups at 500 W, then the demo serving seed (its
    8B deployment with the queue injected on r2, history, rollups, anomalies); returns the seed's `now`."""
    a = world.a
    gpus = [a.gpu] + [
        Gpu.objects.create(node=a.node, index=i, uuid=f"GPU-0000000{i}-aaaa-0000-0000-000000000000", model=a.gpu.model)
        for i in range(1, 4)
    ]
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(hours=27)
    rows = [
        GpuRollup(
            resolution=60,
            gpu=g,
            ts=start + timedelta(minutes=m),
            gpu_power_avg=POWER_W,
            gpu_power_n=4,
            gpu_util_avg=40 + 30 * ((m // 60) % 24 > 8),
            gpu_util_n=4,
        )
        for g in gpus
        for m in range(27 * 60)
    ]
    GpuRollup.objects.bulk_create(rows, batch_size=5000)
    serving_demo.seed_serving(a.org, now=now)
    return now
