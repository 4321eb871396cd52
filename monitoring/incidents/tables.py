"""The incident tables of the SQL store (declared on :class:`monitoring.db.Base`).

``incident_series`` (one per clause identity), ``incident_window`` (every applied assessment window),
``incident`` (an episode with its lifecycle) and ``incident_event`` (the audit trail).
"""

from __future__ import annotations

from datetime import datetime

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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitoring.db import Base

#: Values of ``incident.status`` and their Chinese names.


STATUS_NAMES: dict[str, str] = {"open": "待确认", "acknowledged": "已确认", "closed": "已关闭"}
#: ``incident.kind``.
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


#: ``incident_event.actor`` of changes the rules made (not a person).
SYSTEM_ACTOR = "system"


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
