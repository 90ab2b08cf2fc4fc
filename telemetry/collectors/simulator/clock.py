"""Simulated time: seconds since a fixed epoch (every value is a function of it) and site UTC offsets."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
DAY_S = 86_400
HOUR_S = 3_600


def seconds(ts):
    return int((ts - EPOCH).total_seconds())


def utc_offset_h(timezone_name, at):
    try:
        offset = at.astimezone(zoneinfo.ZoneInfo(timezone_name)).utcoffset()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return 0.0
    return offset.total_seconds() / HOUR_S
