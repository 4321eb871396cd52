"""Time helpers of the incident store: UTC on the way in and out (SQLite drops tzinfo), Asia/Shanghai
for what a person reads.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from monitoring.config import LOCAL_TZ


# ---------------------------------------------------------------------------------------------------
# time helpers
# ---------------------------------------------------------------------------------------------------
def _utc(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime (naive values are UTC: SQLite drops tzinfo on the way back)."""
    if value is None or (not isinstance(value, datetime) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
    return ts.to_pydatetime()


def _require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")
    return value.astimezone(UTC)


def fmt_local(value: datetime | None, seconds: bool = False) -> str:
    """``2025-06-01 14:00+08:00``: the time a person reads (Asia/Shanghai, offset shown)."""
    if value is None:
        return "—"
    local = _utc(value).astimezone(LOCAL_TZ)  # type: ignore[union-attr]
    return local.isoformat(sep=" ", timespec="seconds" if seconds else "minutes")


def fmt_hours(seconds: float) -> str:
    """``3.5 小时``: a duration in seconds as hours with one decimal, for messages."""
    return f"{seconds / 3600:.1f} 小时"


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime):
        return _utc(v).isoformat()  # type: ignore[union-attr]
    if isinstance(v, float) and math.isnan(v):
        return None
    return v
