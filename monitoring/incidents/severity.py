"""Severity of an incident: 一般 / 较重 / 严重 (minor / major / severe); bands in :mod:`monitoring.incidents`."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np

SEVERITY_NAMES: dict[int, tuple[str, str]] = {1: ("一般", "minor"), 2: ("较重", "major"), 3: ("严重", "severe")}


#: value / limit at which an exceedance becomes 较重 and 严重.
RATIO_BANDS = (1.5, 3.0)
#: dB(A) above a GB 12348-2008 limit at which a noise exceedance becomes 较重 and 严重 (a ratio of two
#: levels means nothing).
NOISE_EXCESS_BANDS_DB = (5.0, 10.0)
#: silence / (interval_s × deadman factor) at which a data-missing incident becomes 较重 and 严重.
DEADMAN_BANDS = (3.0, 10.0)


def severity_level(*, value: float | None, limit: float | None, ratio: float | None, unit: str | None,
                   limit_low: float | None, exceed_seconds: float, long_duration: timedelta) -> int:
    """Severity 1..3 of an exceedance from its peak and summed duration.

    Parameters
    ----------
    value, limit : float or None
        Peak value and the applied limit, in the assessment's ``unit``.
    ratio : float or None
        The assessments' ``ratio`` (value / limit; for a pH range the distance outside over the width).
    unit : str or None
        ``dB(A)`` selects the noise bands (:data:`NOISE_EXCESS_BANDS_DB`, dB above the limit).
    limit_low : float or None
        Lower bound of a range limit (pH 6–9, GB 8978-1996): then ``1 + ratio`` is banded.
    exceed_seconds : float
        Summed exceedance of the episode, s.
    long_duration : timedelta
        Summed exceedance that raises the level by one (at most 3).

    Returns
    -------
    int
        1 一般, 2 较重, 3 严重.
    """
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
    """Severity 1..3 of a data-missing incident: silence over its threshold, banded by :data:`DEADMAN_BANDS`.

    ``silence_s``: seconds since the last valid value; ``threshold_s``: interval_s × deadman factor.
    """
    return 1 + int(np.digitize(silence_s / threshold_s, DEADMAN_BANDS))
