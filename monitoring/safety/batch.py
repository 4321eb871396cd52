"""The batch side of safety alarms: the stored history judged with the same rules as the fast path.

Called by every ``evaluate_and_alert`` run (:mod:`monitoring.alerting`) over the period the new readings
touched (up to *now*, not only completed hours — an alarm is not an hourly mean). What the fast path
already raised matches by episode overlap and sends nothing again; what it missed (down, restarted,
queue full) is raised and sent here; undelivered messages are re-sent.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from monitoring.safety.alarms import AlarmBook, channels_from_env, reconcile
from monitoring.safety.thresholds import Thresholds

#: statistic preference when a device sends several values for one time (Rtd, else Avg, else Max)
STATISTIC_RANK = {"rtd": 0, "avg": 1, "max": 2}


def safety_readings(store: Any, start: Any, end: Any, zone: str | None = None) -> pd.DataFrame:
    """The stored readings of safety sensors in [start, end): one value per (point, parameter, time)."""
    r = store.read_readings(start, end, kind="safety", zone=zone, statistic=list(STATISTIC_RANK))
    if r.empty:
        return r
    r = r.assign(_rank=r["statistic"].map(STATISTIC_RANK)).sort_values(["_rank"], kind="stable")
    return r.drop_duplicates(["point", "parameter", "time"]).drop(columns="_rank").sort_values("time")


def book_from_settings(registry: Any, settings: Any, catalogue: Any = None, *, deliver: bool = True) -> AlarmBook:
    """The alarm book with the configured channels; ``deliver=False``: record alarms without messages
    (a backfill run that must not alert)."""
    channels, escalation = channels_from_env() if deliver else ([], [])
    return AlarmBook(settings.sql_url, registry, Thresholds.load(registry, catalogue, settings.safety_plans_path),
                     channels=channels, escalation_channels=escalation)


def reconcile_stored(store: Any, registry: Any, settings: Any, start: Any, end: Any | None = None, *,
                     catalogue: Any = None, zone: str | None = None, now: datetime | None = None,
                     deliver: bool = True) -> dict[str, Any]:
    """Apply the stored safety readings of [start, end or now) and deliver what is pending (``deliver``
    false: record the alarms only, as the incidents of a run that does not notify)."""
    now = now or datetime.now(UTC)
    if not registry.points_of(kind="safety"):
        return {"readings": 0, "messages": 0, "sent": 0, "failed": 0}
    readings = safety_readings(store, start, end or now, zone)
    created, report = reconcile(book_from_settings(registry, settings, catalogue, deliver=deliver), readings, now=now)
    return {"readings": len(readings), "messages": len(created), **asdict(report)}
