"""Serving rollups: the aggregation one refresh runs over its two-hour window, against a plain grouped sum.

    .venv/bin/python bench/serving_rollups.py              # 200 replicas scraped every 15 s
    BENCH_REPLICAS=50 BENCH_SCRAPE_S=60 ...                # resize

`telemetry.serving.rollups.refresh_serving_rollups` runs every minute and recomputes every bucket of the
last two hours from the raw samples, at three levels (1 minute, 5 minutes, 1 hour). This times its
aggregation (`_aggregate`) per level on generated samples of that window (a tenth of the values missing,
as scrapes that lack a metric). Baseline, in the same run: `groupby([replica, bucket]).sum()` of the same
columns, the least work any per-bucket aggregation does. Needs nothing (no database).
"""

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")

import django  # noqa: E402

django.setup()

from telemetry.models import SERVING_FIELDS, Resolution  # noqa: E402
from telemetry.serving.rollups import _aggregate  # noqa: E402

REPLICAS = int(os.environ.get("BENCH_REPLICAS", 200))
SCRAPE_S = int(os.environ.get("BENCH_SCRAPE_S", 15))
WINDOW_S = 2 * 3600
RUNS = 3


def samples():
    rng = np.random.default_rng(2026)
    steps = WINDOW_S // SCRAPE_S
    start = pd.Timestamp("2026-12-07 10:00", tz="UTC")
    frame = pd.DataFrame(
        {
            "replica_id": np.repeat(np.arange(1, REPLICAS + 1), steps),
            "ts": np.tile(start + pd.to_timedelta(np.arange(steps) * SCRAPE_S, unit="s"), REPLICAS),
            "interval_s": float(SCRAPE_S),
        }
    )
    for name in SERVING_FIELDS:
        values = rng.gamma(2.0, 10.0, len(frame))
        values[rng.random(len(frame)) < 0.1] = np.nan
        frame[name] = values
    return frame


def best_of(fn):
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    frame = samples()
    print(f"{REPLICAS} replicas x {WINDOW_S // SCRAPE_S} scrapes ({len(frame):,} samples), best of {RUNS}")
    print(f"{'level':>6} {'buckets':>8} {'aggregate s':>12} {'baseline s':>11} {'ratio':>6}")
    columns = ["interval_s", *SERVING_FIELDS]
    for resolution in Resolution:
        seconds = int(resolution)
        buckets = len(_aggregate(frame, seconds))
        took = best_of(lambda s=seconds: _aggregate(frame, s))
        keyed = frame.assign(bucket=frame["ts"].dt.floor(f"{seconds}s"))
        base = best_of(lambda k=keyed: k.groupby(["replica_id", "bucket"], sort=False)[columns].sum())
        print(f"{seconds:>5}s {buckets:>8,} {took:>12.3f} {base:>11.3f} {took / base:>6.1f}")


if __name__ == "__main__":
    main()
