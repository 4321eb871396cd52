"""Severity of an incident: 一般 / 较重 / 严重 (minor / major / severe); bands in :mod:`monitoring.incidents`.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np

SEVERITY_NAMES: dict[int, tuple[str, str]] = {1: ("一般", "minor"), 2: ("较重", "major"), 3: ("严重", "severe")}


# ---------------------------------------------------------------------------------------------------
# severity
# ---------------------------------------------------------------------------------------------------
RATIO_BANDS = (1.5, 3.0)       # value / limit
NOISE_EXCESS_BANDS_DB = (5.0, 10.0)
DEADMAN_BANDS = (3.0, 10.0)    # silence / (interval × factor)


def severity_level(*, value: float | None, limit: float | None, ratio: float | None, unit: str | None,
                   limit_low: float | None, exceed_seconds: float, long_duration: timedelta) -> int:
    """Severity 1..3 of an exceedance from its peak and summed duration (module docstring)."""
    if unit and unit.lower().startswith("db") and value is not None and limit is not None:
        base = 1 + int(np.digitize(value - limit, NOISE_EXCESS_BANDS_DB))
    else:
        r = ratio if ratio is not None and math.isfinite(ratio) else (
            value / limit if value is not None and limit else 1.0)
        if limit_low is not None and not math.isnan(limit_low):
            r = 1.0 + r                                    # pH: distance outside the range / width
        base = 1 + int(np.digitize(r, RATIO_BANDS))
    if exceed_seconds >= long_duration.total_seconds() > 0:
        base += 1
    return min(base, 3)


def deadman_severity(silence_s: float, threshold_s: float) -> int:
    return 1 + int(np.digitize(silence_s / threshold_s, DEADMAN_BANDS))
