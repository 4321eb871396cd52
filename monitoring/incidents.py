"""Incidents: exceedance and data-missing episodes with their lifecycle, kept in the SQL store.

Identity of an incident series (the "clause identity")
------------------------------------------------------
One series per ``(point, parameter, standard, clause, check)`` of the assessments frame
(:data:`sensors.schema.ASSESSMENT_COLUMNS`). ``check`` is part of the key because one clause can
set two limits on the same parameter (GB 16297-1996 §4: a stack must meet both the concentration and
the height-based rate). At most one *active, not closed* incident exists per series (a partial unique
index enforces it). Data-missing (deadman) incidents use the series ``(point, "*", "", "deadman",
"data_missing")``.

Hysteresis (exceedance incidents)
---------------------------------
Windows of one series are read in time order; ``invalid`` and ``no_data`` windows are gaps: they are
stored but neither open nor clear anything and do not break a run of compliant windows.

* An *episode* starts at the first ``exceeds`` window after the series was idle.
* It becomes an incident once the summed length of its exceeding windows (their union, as windows
  such as the hazardous-waste storage check can overlap) reaches ``min_duration``; compliant windows
  in between do not reset the sum, so a value hovering at the limit still opens. An exceeding window
  with averaging ``single`` (a lab sample) or ``event`` (a ledger event) opens at once.
* It clears at the ``clear_after``-th consecutive compliant window; an episode that never reached
  ``min_duration`` is dropped the same way.
* A person closing an incident while it is still active cuts the episode at the last window seen:
  exceedances after that start a new episode (closing does not mute an ongoing exceedance).

Every applied window is stored (``incident_window``), so processing is idempotent and order-free:
re-applying the same assessments changes nothing; a late or re-evaluated window re-derives the
series from the last point where it was certainly idle (``clear_after`` consecutive compliant
windows before the earliest changed window) and updates the matching incidents in place. Incidents
are matched to episodes by overlap of their exceedance spans, so a backfill never opens a second
incident for an episode already known, and the notifier never re-sends what it sent.

Severity (一般 / 较重 / 严重 — minor / major / severe)
----------------------------------------------------
From the peak of the episode, ``r`` = value / limit (the assessments' ``ratio``):

====================  =============  ====================  ==============================
level                 ratio bands    noise (dB(A)) excess  pH (range limit) ``1 + ratio``
====================  =============  ====================  ==============================
1 一般 minor           1 ≤ r < 1.5    < 5 dB                 < 1.5
2 较重 major           1.5 ≤ r < 3    5 – 10 dB              1.5 – 3
3 严重 severe          r ≥ 3          ≥ 10 dB                ≥ 3
====================  =============  ====================  ==============================

plus one level (at most 3) when the summed exceedance lasts ``long_duration`` or more. A ratio of
two decibel levels means nothing, hence the excess in dB for noise (GB 12348-2008 limits are
levels). For pH the compliance module gives the distance outside the range over the range width.
Data-missing incidents: silence / (interval × factor) < 3 → 一般, < 10 → 较重, else 严重.

Configuration (parameters of :class:`IncidentManager`, defaults from the environment)
--------------------------------------------------------------------------------------
================================  ==========================================================  =======
variable                          meaning                                                     default
================================  ==========================================================  =======
``ENVMON_INCIDENT_MIN_MINUTES``   summed exceedance before an incident opens, minutes          60
``ENVMON_INCIDENT_CLEAR_AFTER``   consecutive compliant windows that clear it                  3
``ENVMON_INCIDENT_ESCALATE_HOURS``  unacknowledged this long → escalate (again each period)    4
``ENVMON_INCIDENT_MAX_ESCALATIONS``  escalation levels at most                                 3
``ENVMON_INCIDENT_LONG_HOURS``    summed exceedance that raises the severity one level, h      24
``ENVMON_DEADMAN_FACTOR``         silence longer than interval_s × factor → data missing       3
================================  ==========================================================  =======

Times are stored in UTC (``DateTime(timezone=True)``; SQLite drops tzinfo, so every read goes
through :func:`_utc`). Everything a person reads is formatted with :func:`fmt_local` (Asia/Shanghai).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from monitoring.config import LOCAL_TZ
from monitoring.db import Base, session_scope
from sensors.schema import ASSESSMENT_COLUMNS, VERDICTS

SEVERITY_NAMES: dict[int, tuple[str, str]] = {1: ("一般", "minor"), 2: ("较重", "major"), 3: ("严重", "severe")}
STATUS_NAMES: dict[str, str] = {"open": "待确认", "acknowledged": "已确认", "closed": "已关闭"}
KINDS = ("exceedance", "data_missing", "ambient", "trend")
#: Kinds judged like exceedances (windows, hysteresis, severity by ratio). ``ambient``: GB 3095-2012 at the
#: cluster's air stations — the bureau's concern is the neighbourhood, not one stack (issue #14);
#: ``trend``: a groundwater well rising towards GB/T 14848-2017 Class III (a warning before the class).
EXCEEDANCE_KINDS = ("exceedance", "ambient", "trend")


def series_kind(point_kind: str | None, check: str) -> str:
    """The incident kind of an assessment series."""
    if check == "trend_warning":
        return "trend"
    return "ambient" if point_kind == "ambient_air" else "exceedance"
DEADMAN_PARAMETER = "*"
DEADMAN_CLAUSE = "deadman"
DEADMAN_CHECK = "data_missing"
SYSTEM_ACTOR = "system"

Action = Literal["open", "update", "clear", "escalate"]

#: Averagings whose one exceeding window is the whole evidence (a lab sample, a ledger event such as a
#: missing manifest): the incident opens at once, whatever ``min_duration``.
INSTANT_AVERAGING = frozenset({"single", "event"})


class IncidentError(ValueError):
    """A lifecycle request that cannot be done (unknown id, closing a closed incident, …)."""


# ---------------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------------
def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"environment variable {name}={raw!r} must be a finite number ≥ 0")
    return value


@dataclass(frozen=True)
class IncidentConfig:
    """Thresholds of the incident rules; see the module docstring for the variables."""

    min_duration: timedelta = timedelta(minutes=60)
    clear_after: int = 3
    escalate_after: timedelta = timedelta(hours=4)
    max_escalations: int = 3
    long_duration: timedelta = timedelta(hours=24)
    deadman_factor: float = 3.0

    @classmethod
    def from_env(cls) -> IncidentConfig:
        return cls(
            min_duration=timedelta(minutes=_env_float("ENVMON_INCIDENT_MIN_MINUTES", 60)),
            clear_after=max(1, int(_env_float("ENVMON_INCIDENT_CLEAR_AFTER", 3))),
            escalate_after=timedelta(hours=_env_float("ENVMON_INCIDENT_ESCALATE_HOURS", 4)),
            max_escalations=int(_env_float("ENVMON_INCIDENT_MAX_ESCALATIONS", 3)),
            long_duration=timedelta(hours=_env_float("ENVMON_INCIDENT_LONG_HOURS", 24)),
            deadman_factor=_env_float("ENVMON_DEADMAN_FACTOR", 3),
        )


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
    return f"{seconds / 3600:.1f} 小时"


# ---------------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------------
class IncidentSeries(Base):
    """One (point, parameter, standard, clause, check): what an incident is about."""

    __tablename__ = "incident_series"
    __table_args__ = (UniqueConstraint("point", "parameter", "standard", "clause", "check_name",
                                       name="uq_incident_series_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    point: Mapped[str] = mapped_column(String(64), index=True)
    parameter: Mapped[str] = mapped_column(String(64))
    standard: Mapped[str] = mapped_column(String(128))
    clause: Mapped[str] = mapped_column(String(255))
    check: Mapped[str] = mapped_column("check_name", String(32))
    zone: Mapped[str | None] = mapped_column(String(32))
    enterprise: Mapped[str | None] = mapped_column(String(64))
    #: any exceeding window ever stored; series that never exceeded skip re-derivation
    has_exceeded: Mapped[bool] = mapped_column(Boolean, default=False)


class IncidentWindow(Base):
    """Every assessment window applied to a series: the idempotency record and the hysteresis input."""

    __tablename__ = "incident_window"
    __table_args__ = (UniqueConstraint("series_id", "window_start", "window_end", name="uq_incident_window"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("incident_series.id"), index=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    verdict: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    limit: Mapped[float | None] = mapped_column("limit_value", Float)
    limit_low: Mapped[float | None] = mapped_column(Float)
    ratio: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(32))
    averaging: Mapped[str | None] = mapped_column(String(16))
    limit_status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Incident(Base):
    """An exceedance episode or a data-missing period, with its lifecycle."""

    __tablename__ = "incident"
    __table_args__ = (
        Index("uq_incident_one_active", "series_id", unique=True,
              sqlite_where=text("active AND status <> 'closed'"),
              postgresql_where=text("active AND status <> 'closed'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("incident_series.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    severity: Mapped[int] = mapped_column(Integer, default=1)
    # data times (UTC)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_exceed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cut_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exceed_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    window_count: Mapped[int] = mapped_column(Integer, default=0)
    peak_value: Mapped[float | None] = mapped_column(Float)
    peak_ratio: Mapped[float | None] = mapped_column(Float)
    peak_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_value: Mapped[float | None] = mapped_column(Float)
    limit: Mapped[float | None] = mapped_column("limit_value", Float)
    limit_low: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(32))
    averaging: Mapped[str | None] = mapped_column(String(16))
    limit_status: Mapped[str | None] = mapped_column(String(16))
    # wall-clock lifecycle (UTC)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ack_note: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_reason: Mapped[str | None] = mapped_column(Text)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IncidentEvent(Base):
    """The audit trail: every change of an incident, by whom, when."""

    __tablename__ = "incident_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))   # open update clear reopen acknowledge close escalate
    data_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)  # JSON: changed fields {name: [old, new]}


# ---------------------------------------------------------------------------------------------------
# views handed to callers (plain data, no session attached)
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IncidentView:
    id: int
    kind: str
    status: str
    active: bool
    severity: int
    point: str
    parameter: str
    standard: str
    clause: str
    check: str
    zone: str | None
    enterprise: str | None
    started_at: datetime | None
    confirmed_at: datetime | None
    last_exceed_at: datetime | None
    cleared_at: datetime | None
    exceed_seconds: float
    window_count: int
    peak_value: float | None
    peak_ratio: float | None
    peak_at: datetime | None
    last_value: float | None
    limit: float | None
    limit_low: float | None
    unit: str | None
    averaging: str | None
    limit_status: str | None
    created_at: datetime
    updated_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_note: str | None
    closed_by: str | None
    closed_at: datetime | None
    close_reason: str | None
    escalation_level: int
    escalated_at: datetime | None

    @property
    def severity_zh(self) -> str:
        return SEVERITY_NAMES[self.severity][0]

    @property
    def severity_en(self) -> str:
        return SEVERITY_NAMES[self.severity][1]

    @property
    def status_zh(self) -> str:
        return STATUS_NAMES[self.status]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.isoformat() if isinstance(v, datetime) else v
        out["severity_name"] = self.severity_zh
        return out


_TIME_FIELDS = {f.name for f in fields(IncidentView)} & {
    "started_at", "confirmed_at", "last_exceed_at", "cleared_at", "peak_at", "created_at", "updated_at",
    "acknowledged_at", "closed_at", "escalated_at"}


def _view(inc: Incident, s: IncidentSeries) -> IncidentView:
    values: dict[str, Any] = {}
    for f in fields(IncidentView):
        src = s if f.name in ("point", "parameter", "standard", "clause", "check", "zone", "enterprise") else inc
        v = getattr(src, f.name)
        values[f.name] = _utc(v) if f.name in _TIME_FIELDS else v
    return IncidentView(**values)


@dataclass(frozen=True)
class IncidentEventView:
    id: int
    incident_id: int
    at: datetime
    actor: str
    action: str
    data_time: datetime | None
    note: str | None
    detail: dict[str, Any]


def _event_view(e: IncidentEvent) -> IncidentEventView:
    return IncidentEventView(e.id, e.incident_id, _utc(e.at), e.actor, e.action,  # type: ignore[arg-type]
                             _utc(e.data_time), e.note, json.loads(e.detail) if e.detail else {})


@dataclass(frozen=True)
class IncidentChange:
    """One change a notifier may tell people about. ``event_id`` is its audit-trail row."""

    action: Action
    incident: IncidentView
    summary: str
    event_id: int


@dataclass
class ChangeSet:
    """What an :class:`IncidentManager` call changed (empty when it changed nothing)."""

    changes: list[IncidentChange] = field(default_factory=list)

    def _of(self, action: str) -> list[IncidentView]:
        return [c.incident for c in self.changes if c.action == action]

    @property
    def opened(self) -> list[IncidentView]:
        return self._of("open")

    @property
    def updated(self) -> list[IncidentView]:
        return self._of("update")

    @property
    def cleared(self) -> list[IncidentView]:
        return self._of("clear")

    @property
    def escalated(self) -> list[IncidentView]:
        return self._of("escalate")

    def __len__(self) -> int:
        return len(self.changes)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __iter__(self):
        return iter(self.changes)

    def __add__(self, other: ChangeSet) -> ChangeSet:
        return ChangeSet(self.changes + other.changes)


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


# ---------------------------------------------------------------------------------------------------
# hysteresis (pure)
# ---------------------------------------------------------------------------------------------------
@dataclass
class Episode:
    """A run of exceedances of one series, as derived from its windows."""

    start: datetime
    last_exceed_end: datetime
    exceed_seconds: float = 0.0
    window_count: int = 0
    confirmed_end: datetime | None = None
    cleared_end: datetime | None = None
    cut_end: datetime | None = None
    peak_value: float | None = None
    peak_ratio: float | None = None
    peak_at: datetime | None = None
    last_value: float | None = None
    limit: float | None = None
    limit_low: float | None = None
    unit: str | None = None
    averaging: str | None = None
    limit_status: str | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_end is not None

    @property
    def active(self) -> bool:
        return self.cleared_end is None and self.cut_end is None


def _f(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _s(x: Any) -> str | None:
    return None if x is None or pd.isna(x) else str(x)


def derive_episodes(windows: pd.DataFrame, *, min_duration: timedelta, clear_after: int,
                    cuts: Sequence[datetime] = ()) -> list[Episode]:
    """Run the hysteresis over one series' windows (any order; sorted here) from an idle state.

    ``windows`` has at least ``window_start``, ``window_end``, ``verdict``, ``value``, ``limit``,
    ``ratio``. ``cuts`` are data times at which a person closed the then-active incident: the
    episode in progress ends there and the series restarts idle. The loop is sequential by nature
    (each window's effect depends on the state left by the previous ones); it runs once per series
    over the windows after the last certainly-idle point, not over the whole frame.
    """
    w = windows.sort_values(["window_start", "window_end"], kind="stable")
    starts = [_utc(t) for t in w["window_start"]]
    ends = [_utc(t) for t in w["window_end"]]
    verdicts = w["verdict"].astype(str).to_numpy()
    values = w["value"].to_numpy(dtype=float, na_value=np.nan)
    limits = w["limit"].to_numpy(dtype=float, na_value=np.nan)
    ratios = w["ratio"].to_numpy(dtype=float, na_value=np.nan)
    lows = (w["limit_low"].to_numpy(dtype=float, na_value=np.nan) if "limit_low" in w
            else np.full(len(w), np.nan))
    meta = {c: (w[c].tolist() if c in w else [None] * len(w)) for c in ("unit", "averaging", "limit_status")}
    pending_cuts = sorted(_utc(c) for c in cuts)  # type: ignore[type-var]
    episodes: list[Episode] = []
    current: Episode | None = None
    covered_until: datetime | None = None      # union of exceeding spans (windows may overlap)
    compliant_run = 0
    need = min_duration.total_seconds()
    for i in range(len(w)):
        while pending_cuts and ends[i] > pending_cuts[0]:          # a person closed it: restart idle
            if current is not None:
                current.cut_end = pending_cuts[0]
                if current.confirmed:
                    episodes.append(current)
                current, compliant_run = None, 0
            pending_cuts.pop(0)
        verdict = verdicts[i]
        if verdict == "exceeds":
            if current is None:
                current = Episode(start=starts[i], last_exceed_end=ends[i])
                covered_until = starts[i]
            current.exceed_seconds += max(0.0, (ends[i] - max(starts[i], covered_until)).total_seconds())
            covered_until = max(covered_until, ends[i])
            current.window_count += 1
            current.last_exceed_end = ends[i]
            current.last_value = _f(values[i])
            r = _f(ratios[i])
            if r is None and _f(values[i]) is not None and _f(limits[i]):
                r = values[i] / limits[i]
            if current.peak_ratio is None or (r is not None and r > current.peak_ratio):
                current.peak_ratio, current.peak_value, current.peak_at = r, _f(values[i]), starts[i]
                current.limit, current.limit_low = _f(limits[i]), _f(lows[i])
                current.unit, current.averaging, current.limit_status = (
                    _s(meta["unit"][i]), _s(meta["averaging"][i]), _s(meta["limit_status"][i]))
            compliant_run = 0
            instant = _s(meta["averaging"][i]) in INSTANT_AVERAGING
            if current.confirmed_end is None and (instant or current.exceed_seconds >= need):
                current.confirmed_end = ends[i]
        elif verdict == "compliant" and current is not None:
            compliant_run += 1
            if compliant_run >= clear_after:
                if current.confirmed:
                    current.cleared_end = ends[i]
                    episodes.append(current)
                current, compliant_run = None, 0
        # invalid / no_data: a gap, neither opens nor clears nor breaks a compliant run
    if current is not None and current.confirmed:
        episodes.append(current)
    return episodes


# ---------------------------------------------------------------------------------------------------
# the manager
# ---------------------------------------------------------------------------------------------------
_SERIES_KEY = ["point", "parameter", "standard", "clause", "check"]
_COMPARED = ("verdict", "value", "limit", "limit_low", "ratio", "unit", "limit_status")
_EPISODE_FIELDS = ("started_at", "confirmed_at", "last_exceed_at", "cleared_at", "exceed_seconds",
                   "window_count", "peak_value", "peak_ratio", "peak_at", "last_value", "limit",
                   "limit_low", "unit", "averaging", "limit_status", "severity")


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime):
        return _utc(v).isoformat()  # type: ignore[union-attr]
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) or isinstance(b, datetime):
        return _utc(a) == _utc(b)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return a == b


def _fmt_num(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.3e}"


def _overlaps(inc: Incident, ep: Episode) -> bool:
    """The incident's exceedance span and the episode's share time (touching is not enough), and the
    episode does not start after a person cut the incident."""
    start, last = _utc(inc.started_at), _utc(inc.last_exceed_at)
    if start is None or last is None:
        return False
    if inc.cut_at is not None and ep.start >= _utc(inc.cut_at):  # type: ignore[operator]
        return False
    return start < ep.last_exceed_end and last > ep.start


class IncidentManager:
    """Opens, updates, clears, escalates and records incidents in the SQL store at ``db_url``.

    Every parameter left ``None`` takes its value from the environment (module docstring).
    """

    def __init__(self, db_url: str | None = None, *, min_duration: timedelta | None = None,
                 clear_after: int | None = None, escalate_after: timedelta | None = None,
                 max_escalations: int | None = None, long_duration: timedelta | None = None,
                 deadman_factor: float | None = None) -> None:
        if db_url is None:
            from monitoring.config import load_settings
            db_url = load_settings().sql_url
        self.db_url = db_url
        env = IncidentConfig.from_env()
        self.config = IncidentConfig(
            min_duration=env.min_duration if min_duration is None else min_duration,
            clear_after=env.clear_after if clear_after is None else int(clear_after),
            escalate_after=env.escalate_after if escalate_after is None else escalate_after,
            max_escalations=env.max_escalations if max_escalations is None else int(max_escalations),
            long_duration=env.long_duration if long_duration is None else long_duration,
            deadman_factor=env.deadman_factor if deadman_factor is None else float(deadman_factor),
        )
        if self.config.clear_after < 1:
            raise ValueError("clear_after must be ≥ 1")

    # ------------------------------------------------------------------------------ assessments
    def apply_assessments(self, assessments: pd.DataFrame, *, now: datetime) -> ChangeSet:
        """Store the windows of ``assessments`` and bring the incidents of their series up to date.

        Idempotent: windows already stored with the same verdict and numbers change nothing.
        Raises :class:`ValueError` naming the rows when a column is missing, a verdict is unknown
        or a window time is missing/naive.
        """
        now = _require_aware(now, "now")
        frame = self._validated(assessments)
        if frame.empty:
            return ChangeSet()
        changes = ChangeSet()
        with session_scope(self.db_url) as session:
            series_ids = self._series_ids(session, frame)
            frame["series_id"] = [series_ids[k] for k in frame[_SERIES_KEY].itertuples(index=False, name=None)]
            touched = self._store_windows(session, frame, now)
            if not touched:
                return changes
            series_rows = {s.id: s for s in session.scalars(
                select(IncidentSeries).where(IncidentSeries.id.in_(list(touched))))}
            for sid, t0 in sorted(touched.items()):
                s = series_rows[sid]
                if not s.has_exceeded:
                    continue
                changes += self._rederive(session, s, t0, now)
        return changes

    def _validated(self, assessments: pd.DataFrame) -> pd.DataFrame:
        required = ["window_start", "window_end", "point", "parameter", "verdict"]
        missing = [c for c in required if c not in assessments]
        if missing:
            raise ValueError(f"assessments lack column(s): {', '.join(missing)}")
        df = assessments.copy()
        for c in ASSESSMENT_COLUMNS:
            if c not in df:
                df[c] = pd.NA
        for c in ("standard", "clause", "check"):
            df[c] = df[c].astype("string").fillna("")
        bad_verdict = ~df["verdict"].isin(VERDICTS)
        if bad_verdict.any():
            rows = df.index[bad_verdict][:5].tolist()
            raise ValueError(f"assessments rows {rows}: verdict must be one of {', '.join(VERDICTS)}, "
                             f"got {df.loc[bad_verdict, 'verdict'].head(5).tolist()}")
        for c in ("window_start", "window_end"):
            t = pd.to_datetime(df[c])
            if t.dt.tz is None:
                raise ValueError(f"assessments column {c!r} must be timezone-aware (UTC)")
            if t.isna().any():
                raise ValueError(f"assessments rows {df.index[t.isna()][:5].tolist()}: {c} is missing")
            df[c] = t.dt.tz_convert("UTC")
        bad_span = df["window_end"] < df["window_start"]
        if bad_span.any():
            raise ValueError(f"assessments rows {df.index[bad_span][:5].tolist()}: window_end before window_start")
        if df["point"].isna().any() or df["parameter"].isna().any():
            raise ValueError(f"assessments rows {df.index[df['point'].isna() | df['parameter'].isna()][:5].tolist()}: "
                             "point and parameter are required")
        # a window evaluated twice in one frame: the last row wins (re-evaluation order)
        return df.drop_duplicates(_SERIES_KEY + ["window_start", "window_end"], keep="last").reset_index(drop=True)

    def _series_ids(self, session: Session, frame: pd.DataFrame) -> dict[tuple, int]:
        firsts = frame.drop_duplicates(_SERIES_KEY)
        points = sorted(set(firsts["point"].astype(str)))
        known: dict[tuple, int] = {}
        for chunk in range(0, len(points), 500):
            for s in session.scalars(select(IncidentSeries).where(
                    IncidentSeries.point.in_(points[chunk:chunk + 500]))):
                known[(s.point, s.parameter, s.standard, s.clause, s.check)] = s.id
        for row in firsts.itertuples(index=False):
            key = tuple(str(getattr(row, c)) for c in _SERIES_KEY)
            if key in known:
                continue
            s = IncidentSeries(kind=series_kind(_s(row.kind), key[4]), point=key[0], parameter=key[1], standard=key[2],
                               clause=key[3], check=key[4], zone=_s(row.zone), enterprise=_s(row.enterprise),
                               has_exceeded=False)
            session.add(s)
            session.flush()
            known[key] = s.id
        return {k: v for k, v in known.items()}

    def _store_windows(self, session: Session, frame: pd.DataFrame, now: datetime) -> dict[int, datetime]:
        """Insert new windows, update changed ones; return {series id: earliest changed window start}."""
        ids = sorted(set(frame["series_id"]))
        lo, hi = frame["window_start"].min().to_pydatetime(), frame["window_start"].max().to_pydatetime()
        stored: list[dict[str, Any]] = []
        for chunk in range(0, len(ids), 500):
            rows = session.execute(select(
                IncidentWindow.id, IncidentWindow.series_id, IncidentWindow.window_start,
                IncidentWindow.window_end, *[getattr(IncidentWindow, c) for c in _COMPARED]).where(
                IncidentWindow.series_id.in_(ids[chunk:chunk + 500]),
                IncidentWindow.window_start >= lo, IncidentWindow.window_start <= hi)).mappings().all()
            stored.extend(dict(r) for r in rows)
        old = pd.DataFrame(stored, columns=["id", "series_id", "window_start", "window_end", *_COMPARED])
        for c in ("window_start", "window_end"):
            old[c] = pd.to_datetime(old[c], utc=True)
        new = frame[["series_id", "window_start", "window_end", "verdict", "value", "limit", "limit_low",
                     "ratio", "unit", "averaging", "limit_status", "reason"]].copy()
        for c in ("window_start", "window_end"):
            new[c] = new[c].astype("datetime64[us, UTC]")
            old[c] = old[c].astype("datetime64[us, UTC]")
        merged = new.merge(old, on=["series_id", "window_start", "window_end"], how="left",
                           suffixes=("", "_old"), indicator=True)
        is_new = merged["_merge"] == "left_only"
        changed = pd.Series(False, index=merged.index)
        for c in _COMPARED:
            a, b = merged[c], merged[f"{c}_old"]
            if c in ("value", "limit", "limit_low", "ratio"):
                a = pd.to_numeric(a, errors="coerce").astype(float)
                b = pd.to_numeric(b, errors="coerce").astype(float)
                diff = ~(np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))
            else:
                diff = a.astype("string").fillna("") != b.astype("string").fillna("")
            changed |= np.asarray(diff, dtype=bool)
        changed &= ~is_new
        touched: dict[int, datetime] = {}
        if is_new.any():
            ins = merged.loc[is_new]
            session.execute(insert(IncidentWindow), [self._window_row(r, now) for r in ins.to_dict("records")])
        for r in merged.loc[changed].to_dict("records"):
            row = self._window_row(r, now)
            session.execute(update(IncidentWindow).where(IncidentWindow.id == int(r["id"]))
                            .values(**{k: v for k, v in row.items() if k not in ("series_id", "window_start", "window_end")}))
        hit = merged.loc[is_new | changed]
        for sid, t0 in hit.groupby("series_id")["window_start"].min().items():
            touched[int(sid)] = t0.to_pydatetime()
        exceeding = set(hit.loc[hit["verdict"] == "exceeds", "series_id"].astype(int))
        if exceeding:
            session.execute(update(IncidentSeries).where(IncidentSeries.id.in_(sorted(exceeding)))
                            .values(has_exceeded=True))
        return touched

    @staticmethod
    def _window_row(r: dict[str, Any], now: datetime) -> dict[str, Any]:
        return dict(series_id=int(r["series_id"]), window_start=_utc(r["window_start"]),
                    window_end=_utc(r["window_end"]), verdict=str(r["verdict"]), value=_f(r["value"]),
                    limit=_f(r["limit"]), limit_low=_f(r["limit_low"]), ratio=_f(r["ratio"]),
                    unit=_s(r["unit"]), averaging=_s(r["averaging"]), limit_status=_s(r["limit_status"]),
                    reason=_s(r["reason"]), applied_at=now)

    def _anchor(self, session: Session, series_id: int, t0: datetime) -> tuple[datetime, datetime] | None:
        """The last window before ``t0`` that ends a run of ``clear_after`` compliant windows."""
        need, run, offset, page = self.config.clear_after, 0, 0, max(64, 4 * self.config.clear_after)
        latest: tuple[datetime, datetime] | None = None
        while True:
            rows = session.execute(
                select(IncidentWindow.window_start, IncidentWindow.window_end, IncidentWindow.verdict)
                .where(IncidentWindow.series_id == series_id, IncidentWindow.window_start < t0)
                .order_by(IncidentWindow.window_start.desc(), IncidentWindow.window_end.desc())
                .offset(offset).limit(page)).all()
            if not rows:
                return None
            for start, end, verdict in rows:
                if verdict == "exceeds":
                    run = 0
                    latest = None
                elif verdict == "compliant":
                    if run == 0:
                        latest = (_utc(start), _utc(end))
                    run += 1
                    if run >= need:
                        return latest  # type: ignore[return-value]
            offset += page

    def _rederive(self, session: Session, s: IncidentSeries, t0: datetime, now: datetime) -> ChangeSet:
        anchor = self._anchor(session, s.id, t0)
        q = select(IncidentWindow).where(IncidentWindow.series_id == s.id)
        if anchor is not None:
            q = q.where(IncidentWindow.window_start >= anchor[0])
        rows = session.scalars(q).all()
        win = pd.DataFrame([{c: getattr(r, c) for c in ("window_start", "window_end", "verdict", "value", "limit",
                                                           "limit_low", "ratio", "unit", "averaging",
                                                           "limit_status")} for r in rows])
        win["window_start"] = pd.to_datetime(win["window_start"], utc=True)
        win["window_end"] = pd.to_datetime(win["window_end"], utc=True)
        if anchor is not None:
            a0, a1 = pd.Timestamp(anchor[0]), pd.Timestamp(anchor[1])
            after = (win["window_start"] > a0) | ((win["window_start"] == a0) & (win["window_end"] > a1))
            win = win.loc[after]
        in_scope_q = select(Incident).where(Incident.series_id == s.id, Incident.kind == s.kind)
        if anchor is not None:
            in_scope_q = in_scope_q.where(Incident.started_at >= anchor[1])
        incidents = list(session.scalars(in_scope_q.order_by(Incident.id)))
        cuts = [_utc(i.cut_at) for i in incidents if i.cut_at is not None]
        episodes = derive_episodes(win, min_duration=self.config.min_duration,
                                   clear_after=self.config.clear_after, cuts=cuts) if len(win) else []
        return self._reconcile(session, s, episodes, incidents, now)

    def _episode_values(self, ep: Episode) -> dict[str, Any]:
        return dict(
            started_at=ep.start, confirmed_at=ep.confirmed_end, last_exceed_at=ep.last_exceed_end,
            cleared_at=ep.cleared_end, exceed_seconds=ep.exceed_seconds, window_count=ep.window_count,
            peak_value=ep.peak_value, peak_ratio=ep.peak_ratio, peak_at=ep.peak_at, last_value=ep.last_value,
            limit=ep.limit, limit_low=ep.limit_low, unit=ep.unit, averaging=ep.averaging,
            limit_status=ep.limit_status,
            severity=severity_level(value=ep.peak_value, limit=ep.limit, ratio=ep.peak_ratio, unit=ep.unit,
                                    limit_low=ep.limit_low, exceed_seconds=ep.exceed_seconds,
                                    long_duration=self.config.long_duration))

    def _reconcile(self, session: Session, s: IncidentSeries, episodes: list[Episode],
                   incidents: list[Incident], now: datetime) -> ChangeSet:
        changes = ChangeSet()
        unmatched = {i.id: i for i in incidents}
        plan: list[tuple[Episode, Incident | None]] = []
        for ep in episodes:
            hits = [i for i in unmatched.values() if _overlaps(i, ep)]
            chosen = min(hits, key=lambda i: i.id) if hits else None
            if chosen is not None:
                del unmatched[chosen.id]
            plan.append((ep, chosen))
        # incidents no episode supports any more: retire them first (frees the one-active slot)
        for inc in unmatched.values():
            if inc.status == "closed":
                continue
            absorbed = next((c.id for ep, c in plan if c is not None and _overlaps(inc, ep)), None)
            reason = (f"重新评估：已并入 #{absorbed} / merged into #{absorbed} on re-evaluation" if absorbed
                      else "重新评估：不再构成超标 / no exceedance after re-evaluation")
            was_active = inc.active
            inc.active, inc.status, inc.closed_by, inc.closed_at, inc.close_reason = (
                False, "closed", SYSTEM_ACTOR, now, reason)
            inc.updated_at = now
            ev = self._event(session, inc, now, SYSTEM_ACTOR, "close", None, reason, {})
            if was_active and not absorbed:
                changes.changes.append(IncidentChange("clear", _view(inc, s), reason, ev.id))
        session.flush()
        # deactivations before activations, so the partial unique index never sees two active rows
        plan.sort(key=lambda p: p[0].active)
        for ep, inc in plan:
            values = self._episode_values(ep)
            if inc is None:
                inc = Incident(series_id=s.id, kind=s.kind, status="open", active=ep.active,
                               created_at=now, updated_at=now, escalation_level=0, **values)
                session.add(inc)
                session.flush()
                summary = self._open_summary(ep)
                ev = self._event(session, inc, now, SYSTEM_ACTOR, "open", ep.confirmed_end, summary,
                                 {k: [None, _jsonable(v)] for k, v in values.items()})
                changes.changes.append(IncidentChange("open", _view(inc, s), summary, ev.id))
                continue
            diff = {k: [_jsonable(getattr(inc, k)), _jsonable(v)] for k, v in values.items()
                    if not _same(getattr(inc, k), v)}
            new_active = ep.active and inc.status != "closed"
            if not diff and new_active == inc.active:
                continue
            was_active = inc.active
            for k, v in values.items():
                setattr(inc, k, v)
            inc.active = new_active
            inc.updated_at = now
            session.flush()
            if inc.status == "closed":
                self._event(session, inc, now, SYSTEM_ACTOR, "update", ep.last_exceed_end,
                            "已关闭事件的数据更新（不通知）", diff)
                continue
            if was_active and not new_active:
                summary = f"连续 {self.config.clear_after} 个时段达标，于 {fmt_local(ep.cleared_end)} 恢复"
                ev = self._event(session, inc, now, SYSTEM_ACTOR, "clear", ep.cleared_end, summary, diff)
                changes.changes.append(IncidentChange("clear", _view(inc, s), summary, ev.id))
            elif not was_active and new_active:
                summary = "补录数据显示超标仍在持续，事件重新激活；" + self._update_summary(diff)
                ev = self._event(session, inc, now, SYSTEM_ACTOR, "reopen", ep.last_exceed_end, summary, diff)
                changes.changes.append(IncidentChange("update", _view(inc, s), summary, ev.id))
            else:
                summary = self._update_summary(diff)
                ev = self._event(session, inc, now, SYSTEM_ACTOR, "update", ep.last_exceed_end, summary, diff)
                changes.changes.append(IncidentChange("update", _view(inc, s), summary, ev.id))
        return changes

    def _open_summary(self, ep: Episode) -> str:
        text_ = (f"自 {fmt_local(ep.start)} 起超标，累计 {fmt_hours(ep.exceed_seconds)}，"
                 f"峰值 {_fmt_num(ep.peak_value)} {ep.unit or ''}（限值 {_fmt_num(ep.limit)}）")
        if ep.cleared_end is not None:
            text_ += f"；已于 {fmt_local(ep.cleared_end)} 恢复达标（补录发现）"
        return text_

    @staticmethod
    def _update_summary(diff: dict[str, list[Any]]) -> str:
        parts: list[str] = []
        if "last_exceed_at" in diff:
            parts.append(f"超标持续至 {fmt_local(_utc(diff['last_exceed_at'][1]))}")
        if "peak_value" in diff:
            parts.append(f"峰值 {_fmt_num(diff['peak_value'][0])} → {_fmt_num(diff['peak_value'][1])}")
        if "severity" in diff:
            o, n = diff["severity"]
            parts.append(f"严重程度 {SEVERITY_NAMES.get(o, ('?',))[0]} → {SEVERITY_NAMES[n][0]}")
        if "exceed_seconds" in diff:
            parts.append(f"累计超标 {fmt_hours(diff['exceed_seconds'][0] or 0)} → {fmt_hours(diff['exceed_seconds'][1])}")
        if "started_at" in diff:
            parts.append(f"起始时间更正为 {fmt_local(_utc(diff['started_at'][1]))}")
        if "cleared_at" in diff and diff["cleared_at"][1] is not None:
            parts.append(f"恢复时间更正为 {fmt_local(_utc(diff['cleared_at'][1]))}")
        if "last_value" in diff and not parts:
            parts.append(f"最新值 {_fmt_num(diff['last_value'][1])}")
        return "；".join(parts) or "数据更新"

    @staticmethod
    def _event(session: Session, inc: Incident, now: datetime, actor: str, action: str,
               data_time: datetime | None, note: str | None, detail: dict[str, Any]) -> IncidentEvent:
        ev = IncidentEvent(incident_id=inc.id, at=now, actor=actor, action=action, data_time=data_time,
                           note=note, detail=json.dumps(detail, ensure_ascii=False) if detail else None)
        session.add(ev)
        session.flush()
        return ev

    # ------------------------------------------------------------------------------ deadman
    def check_deadman(self, last_valid: pd.DataFrame, registry: Any, *, now: datetime,
                      factor: float | None = None, points: Iterable[str] | None = None) -> ChangeSet:
        """Open/clear "data missing" incidents from each point's last valid (flag N) time.

        ``last_valid``: columns ``point``, ``last_valid_time`` (UTC). Every registry point (or only
        ``points``) is checked; a point absent from the frame or with NaT has no valid data known and
        counts as silent (reported with no start time). Silent for longer than ``interval_s × factor``
        → open; any valid data after the silence began → clear. A data-missing incident a person
        closed while the point was still silent is not reopened for the same silence.
        """
        now = _require_aware(now, "now")
        factor = self.config.deadman_factor if factor is None else float(factor)
        if factor <= 0:
            raise ValueError("deadman factor must be > 0")
        missing = [c for c in ("point", "last_valid_time") if c not in last_valid]
        if missing:
            raise ValueError(f"last_valid lacks column(s): {', '.join(missing)}")
        lv = last_valid[["point", "last_valid_time"]].copy()
        lv["last_valid_time"] = pd.to_datetime(lv["last_valid_time"], utc=True)
        lv = lv.groupby("point", as_index=False)["last_valid_time"].max()
        wanted = set(points) if points is not None else None
        reg = pd.DataFrame([{"point": p.id, "zone": p.zone, "enterprise": p.enterprise, "interval_s": p.interval_s}
                            for p in registry if wanted is None or p.id in wanted])
        if reg.empty:
            return ChangeSet()
        frame = reg.merge(lv, on="point", how="left")
        frame["threshold_s"] = frame["interval_s"].astype(float) * factor
        silence = (pd.Timestamp(now) - frame["last_valid_time"]).dt.total_seconds()
        frame["silence_s"] = silence
        frame["silent"] = frame["last_valid_time"].isna() | (silence > frame["threshold_s"])
        changes = ChangeSet()
        with session_scope(self.db_url) as session:
            series = {s.point: s for s in session.scalars(select(IncidentSeries).where(
                IncidentSeries.check == DEADMAN_CHECK, IncidentSeries.point.in_(frame["point"].tolist())))}
            open_incs = {}
            if series:
                for inc in session.scalars(select(Incident).where(
                        Incident.series_id.in_([s.id for s in series.values()]), Incident.active.is_(True),
                        Incident.status != "closed")):
                    open_incs[inc.series_id] = inc
            for row in frame.itertuples(index=False):
                s = series.get(row.point)
                inc = open_incs.get(s.id) if s is not None else None
                last = _utc(row.last_valid_time)
                if inc is not None and last is not None and (inc.started_at is None or last > _utc(inc.started_at)):
                    inc.active, inc.cleared_at, inc.updated_at = False, last, now
                    summary = f"{fmt_local(last)} 起恢复有效数据，中断 {fmt_hours((last - (_utc(inc.started_at) or last)).total_seconds())}"
                    ev = self._event(session, inc, now, SYSTEM_ACTOR, "clear", last, summary, {})
                    session.flush()
                    changes.changes.append(IncidentChange("clear", _view(inc, s), summary, ev.id))
                    inc = None
                if not row.silent:
                    continue
                sev = deadman_severity(row.silence_s if not pd.isna(row.silence_s) else math.inf, row.threshold_s)
                if inc is not None:
                    if sev != inc.severity:
                        diff = {"severity": [inc.severity, sev]}
                        inc.severity, inc.updated_at = sev, now
                        summary = f"数据中断已 {fmt_hours(row.silence_s)}；" + self._update_summary(diff)
                        ev = self._event(session, inc, now, SYSTEM_ACTOR, "update", now, summary, diff)
                        changes.changes.append(IncidentChange("update", _view(inc, s), summary, ev.id))
                    continue
                if s is None:
                    s = IncidentSeries(kind="data_missing", point=row.point, parameter=DEADMAN_PARAMETER,
                                       standard="", clause=DEADMAN_CLAUSE, check=DEADMAN_CHECK,
                                       zone=row.zone, enterprise=_s(row.enterprise), has_exceeded=False)
                    session.add(s)
                    session.flush()
                    series[row.point] = s
                started = last
                muted = session.scalar(select(func.count(Incident.id)).where(
                    Incident.series_id == s.id, Incident.status == "closed", Incident.cut_at.is_not(None),
                    Incident.started_at.is_(None) if started is None else Incident.started_at == started))
                if muted:
                    continue
                inc = Incident(series_id=s.id, kind="data_missing", status="open", active=True, severity=sev,
                               started_at=started, confirmed_at=now, created_at=now, updated_at=now,
                               exceed_seconds=0.0, window_count=0, escalation_level=0)
                session.add(inc)
                session.flush()
                summary = (f"自 {fmt_local(started)} 起无有效数据，已 {fmt_hours(row.silence_s)}"
                           f"（应每 {row.interval_s} 秒上报，阈值 {fmt_hours(row.threshold_s)}）"
                           if started is not None else
                           f"无任何有效数据记录（应每 {row.interval_s} 秒上报）")
                ev = self._event(session, inc, now, SYSTEM_ACTOR, "open", now, summary,
                                 {"started_at": [None, _jsonable(started)], "severity": [None, sev]})
                changes.changes.append(IncidentChange("open", _view(inc, s), summary, ev.id))
        return changes

    # ------------------------------------------------------------------------------ lifecycle
    def _load(self, session: Session, incident_id: int) -> tuple[Incident, IncidentSeries]:
        inc = session.get(Incident, int(incident_id))
        if inc is None:
            raise IncidentError(f"incident #{incident_id} does not exist")
        return inc, session.get(IncidentSeries, inc.series_id)  # type: ignore[return-value]

    def acknowledge(self, incident_id: int, by: str, note: str | None = None, *,
                    now: datetime | None = None) -> IncidentView:
        """open → acknowledged, recording who, when and the note (stops escalation)."""
        if not by or not by.strip():
            raise IncidentError("acknowledge needs the name of the person (--by)")
        now = _require_aware(now, "now") if now else datetime.now(UTC)
        with session_scope(self.db_url) as session:
            inc, s = self._load(session, incident_id)
            if inc.status == "acknowledged":
                raise IncidentError(f"incident #{inc.id} was already acknowledged by {inc.acknowledged_by} "
                                    f"at {fmt_local(inc.acknowledged_at)}")
            if inc.status == "closed":
                raise IncidentError(f"incident #{inc.id} is closed ({inc.closed_by}, {fmt_local(inc.closed_at)})")
            inc.status, inc.acknowledged_by, inc.acknowledged_at, inc.ack_note = "acknowledged", by.strip(), now, note
            inc.updated_at = now
            self._event(session, inc, now, by.strip(), "acknowledge", None, note, {"status": ["open", "acknowledged"]})
            return _view(inc, s)

    def close(self, incident_id: int, by: str, reason: str, *, now: datetime | None = None) -> IncidentView:
        """open/acknowledged → closed, recording who and why. Closing while the condition is still
        active cuts the episode at the last window seen (later exceedances open a new incident)."""
        if not by or not by.strip():
            raise IncidentError("close needs the name of the person (--by)")
        if not reason or not reason.strip():
            raise IncidentError("close needs a reason (--reason)")
        now = _require_aware(now, "now") if now else datetime.now(UTC)
        with session_scope(self.db_url) as session:
            inc, s = self._load(session, incident_id)
            if inc.status == "closed":
                raise IncidentError(f"incident #{inc.id} is already closed by {inc.closed_by} at "
                                    f"{fmt_local(inc.closed_at)}: {inc.close_reason}")
            old = inc.status
            if inc.active:
                if inc.kind in EXCEEDANCE_KINDS:
                    inc.cut_at = _utc(session.scalar(select(func.max(IncidentWindow.window_end))
                                                     .where(IncidentWindow.series_id == s.id)))
                else:
                    inc.cut_at = now
            inc.status, inc.closed_by, inc.closed_at, inc.close_reason = "closed", by.strip(), now, reason.strip()
            inc.active = False
            inc.updated_at = now
            self._event(session, inc, now, by.strip(), "close", inc.cut_at, reason.strip(), {"status": [old, "closed"]})
            return _view(inc, s)

    def escalate_due(self, now: datetime) -> ChangeSet:
        """Escalate every active, unacknowledged incident silent for ``escalate_after`` since it was
        recorded (or last escalated), up to ``max_escalations`` levels."""
        now = _require_aware(now, "now")
        changes = ChangeSet()
        after = self.config.escalate_after
        if after <= timedelta(0):
            return changes
        with session_scope(self.db_url) as session:
            rows = session.execute(select(Incident, IncidentSeries).join(
                IncidentSeries, IncidentSeries.id == Incident.series_id).where(
                Incident.status == "open", Incident.active.is_(True),
                Incident.escalation_level < self.config.max_escalations).order_by(Incident.id)).all()
            for inc, s in rows:
                since = _utc(inc.escalated_at) or _utc(inc.created_at)
                if now - since < after:  # type: ignore[operator]
                    continue
                inc.escalation_level += 1
                inc.escalated_at, inc.updated_at = now, now
                summary = (f"{fmt_hours((now - _utc(inc.created_at)).total_seconds())}内无人确认，"  # type: ignore[operator]
                           f"升级为第 {inc.escalation_level} 级")
                ev = self._event(session, inc, now, SYSTEM_ACTOR, "escalate", None, summary,
                                 {"escalation_level": [inc.escalation_level - 1, inc.escalation_level]})
                changes.changes.append(IncidentChange("escalate", _view(inc, s), summary, ev.id))
        return changes

    # ------------------------------------------------------------------------------ queries
    def get(self, incident_id: int) -> IncidentView:
        with session_scope(self.db_url) as session:
            inc, s = self._load(session, incident_id)
            return _view(inc, s)

    def list(self, open_only: bool = False) -> list[IncidentView]:
        """Incidents, newest first; ``open_only`` → not closed (open or acknowledged)."""
        with session_scope(self.db_url) as session:
            q = select(Incident, IncidentSeries).join(IncidentSeries, IncidentSeries.id == Incident.series_id)
            if open_only:
                q = q.where(Incident.status != "closed")
            return [_view(i, s) for i, s in session.execute(q.order_by(Incident.id.desc())).all()]

    list_incidents = list

    def history(self, incident_id: int) -> list[IncidentEventView]:
        """The audit trail of one incident, oldest first."""
        with session_scope(self.db_url) as session:
            self._load(session, incident_id)
            return [_event_view(e) for e in session.scalars(
                select(IncidentEvent).where(IncidentEvent.incident_id == int(incident_id)).order_by(IncidentEvent.id))]

    def views(self, incident_ids: Iterable[int]) -> dict[int, IncidentView]:
        ids = sorted({int(i) for i in incident_ids})
        if not ids:
            return {}
        with session_scope(self.db_url) as session:
            return {i.id: _view(i, s) for i, s in session.execute(
                select(Incident, IncidentSeries).join(IncidentSeries, IncidentSeries.id == Incident.series_id)
                .where(Incident.id.in_(ids))).all()}
