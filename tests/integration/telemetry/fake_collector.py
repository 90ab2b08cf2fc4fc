"""A tiny collector of the tests' own (HEADROOM_COLLECTOR_MODULES maps a Source kind to it)."""

from django.utils import timezone

from telemetry.vocabulary import Batch, GpuReading

calls = []


def collect(source):
    if source.options.get("fail"):
        raise ValueError(source.options["fail"])
    if source.options.get("unreachable"):
        raise ConnectionError("connection refused")
    ts = timezone.now().replace(microsecond=0)
    return Batch(gpu_readings=[GpuReading(source.options["gpu_uuid"], ts, {"gpu_util": 42.0, "gpu_power": 350.0})])
