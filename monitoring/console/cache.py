"""Per-process caches of the console's heavy read models, keyed by what makes them change.

A console page is read far more often than its data changes: the evaluation writes windows and incident
events every ingest cycle (30 s under ``envmon up``), people record casework steps a few times an hour.
So the expensive part of a page (SQL over a month of windows, the table rendering of the inbox) is
computed once per **stamp** — a cheap query of the newest row ids and counts of the tables it reads —
and reused while the stamp is unchanged:

* :func:`incidents_stamp` — newest ``incident_event`` / ``incident_step`` / ``incident_evidence`` ids and
  the number of incidents: every incident change writes an event (open, update, escalate, clear, close)
  and every casework action a step or evidence row, so a claim shows on the next request, in every
  worker process (each checks the stamp in the shared database).
* :func:`windows_stamp` — newest ``incident_window`` id and the newest ``updated_at`` of an incident:
  the evaluation's output.

Entries also expire after :data:`TTL_S` seconds (times shown relative to now, such as "overdue 3 h",
stay right to the minute) and the cache holds at most :data:`MAX_ENTRIES` (cachetools ``TTLCache``,
least recently used first out); ``slow=True`` entries (InfluxDB figures such as the AQI, keyed by a time
bucket) live :data:`SLOW_TTL_S`. One thread computes a missing entry while the others asking for the
same key wait for it (no stampede of 20 identical queries). Charts have their own cache
(:mod:`monitoring.console.charts`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import TTLCache
from sqlalchemy import func, select

from monitoring.db import session_scope

TTL_S = 60.0
SLOW_TTL_S = 900.0
MAX_ENTRIES = 512
T = TypeVar("T")

_cache: TTLCache = TTLCache(maxsize=MAX_ENTRIES, ttl=TTL_S)
_slow: TTLCache = TTLCache(maxsize=64, ttl=SLOW_TTL_S)
_lock = threading.Lock()
_computing: dict[Hashable, threading.Lock] = {}


def incidents_stamp(sql_url: str) -> tuple:
    """Changes whenever an incident, its audit trail or its casework changes (one round trip)."""
    from monitoring.casework import Evidence, IncidentStep
    from monitoring.incidents.tables import Incident, IncidentEvent

    with session_scope(sql_url) as s:
        return tuple(s.execute(select(
            select(func.max(IncidentEvent.id)).scalar_subquery(),
            select(func.max(IncidentStep.id)).scalar_subquery(),
            select(func.max(Evidence.id)).scalar_subquery(),
            select(func.count(Incident.id)).scalar_subquery())).one())


def windows_stamp(sql_url: str) -> tuple:
    """Changes whenever the evaluation writes an assessment window or updates an incident."""
    from monitoring.incidents.tables import Incident, IncidentWindow

    with session_scope(sql_url) as s:
        return tuple(s.execute(select(
            select(func.max(IncidentWindow.id)).scalar_subquery(),
            select(func.max(Incident.updated_at)).scalar_subquery())).one())


def cached(key: Hashable, compute: Callable[[], T], *, slow: bool = False) -> T:
    """``compute()`` once per ``key`` (which must contain the stamp or time bucket) while the entry lives."""
    store = _slow if slow else _cache
    with _lock:
        try:
            return store[key]
        except KeyError:
            gate = _computing.setdefault(key, threading.Lock())
    with gate:                              # one computes, the others wait and then read its result
        with _lock:
            try:
                return store[key]
            except KeyError:
                pass
        value = compute()
        with _lock:
            store[key] = value
            _computing.pop(key, None)
    return value


def clear() -> None:
    """Forget every entry (tests)."""
    with _lock:
        _cache.clear()
        _slow.clear()


__all__: list[Any] = ["cached", "clear", "incidents_stamp", "windows_stamp"]
