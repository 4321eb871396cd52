"""SQL tables of the roster (on :class:`monitoring.db.Base`) and the queries the draw needs.

Append-only by design: a draw record is never updated. A redraw of a period is a new record plus a
``roster_supersession`` row; results are written once; publication is a separate row.

Times are stored in UTC (SQLite drops tzinfo: every read goes through :func:`utc`).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from monitoring.db import Base
from monitoring.roster.directories import Conflict, Inspector, InspectorDirectory
from monitoring.roster.period import Period


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class InspectorRow(Base):
    """执法检查人员名录库, mirrored from the inspector directory file."""

    __tablename__ = "roster_inspector"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    certificate: Mapped[str] = mapped_column(String(64), unique=True)
    unit: Mapped[str] = mapped_column(String(128))
    fields: Mapped[list] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean)
    example: Mapped[bool] = mapped_column(Boolean, default=True)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConflictRow(Base):
    """A conflict of interest (回避): the inspector is never drawn for the enterprise."""

    __tablename__ = "roster_conflict"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspector_id: Mapped[str] = mapped_column(ForeignKey("roster_inspector.id"), index=True)
    enterprise: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)


class DrawRow(Base):
    """One draw record (append-only). ``record_json`` is the full replayable record.

    One draw per period and scope, enforced by the database: ``replaces`` is the comma-joined ids of the
    records a redraw supersedes ('' for the first draw), and (period, scope, replaces) is unique, so two
    first draws, or two redraws of the same record, cannot both be stored.
    """

    __tablename__ = "roster_draw"
    __table_args__ = (UniqueConstraint("period", "scope", "replaces", name="uq_roster_draw_one_per_scope"),)

    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), index=True)
    scope: Mapped[str] = mapped_column(String(32))        # a zone id or "county"
    seed: Mapped[int] = mapped_column(BigInteger)
    algorithm: Mapped[str] = mapped_column(String(128))
    drawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    drawn_by: Mapped[str] = mapped_column(String(64))
    rules_sha256: Mapped[str] = mapped_column(String(64))
    target_sha256: Mapped[str] = mapped_column(String(64))
    inspectors_sha256: Mapped[str] = mapped_column(String(64))
    history_sha256: Mapped[str] = mapped_column(String(64))
    previous_sha256: Mapped[str | None] = mapped_column(String(64))
    record_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    record_json: Mapped[str] = mapped_column(Text)
    replaces: Mapped[str] = mapped_column(String(255), default="", server_default="")


class TaskRow(Base):
    """One inspection task of a draw: internal (confidential) until the inspection takes place."""

    __tablename__ = "roster_task"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("roster_draw.record_id"), index=True)
    period: Mapped[str] = mapped_column(String(8), index=True)
    enterprise: Mapped[str] = mapped_column(String(64), index=True)
    zone: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))
    inspectors: Mapped[list] = mapped_column(JSON)


class SupersessionRow(Base):
    """A draw record replaced by a later one (redraw), with the reason."""

    __tablename__ = "roster_supersession"

    record_id: Mapped[str] = mapped_column(ForeignKey("roster_draw.record_id"), primary_key=True)
    superseded_by: Mapped[str] = mapped_column(ForeignKey("roster_draw.record_id"))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ResultRow(Base):
    """The result of one inspection; written once."""

    __tablename__ = "roster_result"

    task_id: Mapped[str] = mapped_column(ForeignKey("roster_task.task_id"), primary_key=True)
    inspected_on: Mapped[date] = mapped_column(Date)             # local date of the inspection
    outcome: Mapped[str] = mapped_column(String(16))             # compliant | violation
    note: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    publish_due: Mapped[date] = mapped_column(Date)
    calendar_note: Mapped[str | None] = mapped_column(Text)


class PublicationRow(Base):
    """A result made public (in the CSV/HTML of its period)."""

    __tablename__ = "roster_publication"

    task_id: Mapped[str] = mapped_column(ForeignKey("roster_result.task_id"), primary_key=True)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)


# ---------------------------------------------------------------------------------------------------
# inspector directory ↔ SQL
# ---------------------------------------------------------------------------------------------------
def sync_inspectors(session: Session, directory: InspectorDirectory, now: datetime) -> None:
    """Make the SQL inspector tables mirror ``directory`` (the data file is the master)."""
    existing = {r.id: r for r in session.scalars(select(InspectorRow))}
    session.execute(delete(ConflictRow))
    for ins in directory.inspectors.values():
        row = existing.pop(ins.id, None) or InspectorRow(id=ins.id)
        row.name, row.certificate, row.unit = ins.name, ins.certificate, ins.unit
        row.fields, row.active, row.example, row.synced_at = list(ins.fields), ins.active, ins.example, now
        session.add(row)
    for gone in existing.values():          # left the directory: kept for the history, marked inactive
        gone.active, gone.synced_at = False, now
    session.flush()
    for c in directory.conflicts:
        session.add(ConflictRow(inspector_id=c.inspector, enterprise=c.enterprise, reason=c.reason))
    session.flush()


def inspectors_from_store(session: Session, source: str = "SQL store") -> InspectorDirectory:
    ins = [Inspector(id=r.id, name=r.name, certificate=r.certificate, unit=r.unit, fields=r.fields,
                     active=r.active, example=r.example) for r in session.scalars(select(InspectorRow))]
    con = [Conflict(inspector=r.inspector_id, enterprise=r.enterprise, reason=r.reason)
           for r in session.scalars(select(ConflictRow))]
    return InspectorDirectory(ins, con, source=source)


# ---------------------------------------------------------------------------------------------------
# history
# ---------------------------------------------------------------------------------------------------
def superseded_ids(session: Session) -> set[str]:
    return set(session.scalars(select(SupersessionRow.record_id)))


def active_draws(session: Session, period: Period | None = None, before: datetime | None = None) -> list[DrawRow]:
    """Non-superseded draw records (optionally of one period, drawn strictly before ``before``)."""
    gone = superseded_ids(session)
    q = select(DrawRow).order_by(DrawRow.drawn_at, DrawRow.record_id)
    if period is not None:
        q = q.where(DrawRow.period == str(period))
    rows = [r for r in session.scalars(q) if r.record_id not in gone]
    if before is not None:
        rows = [r for r in rows if utc(r.drawn_at) < before]
    return rows


def history_rows(session: Session, period: Period, before: datetime | None = None,
                 exclude_records: set[str] | frozenset[str] = frozenset()) -> list[dict]:
    """Tasks of earlier non-superseded rounds that the caps and rotation need: every period of
    ``period``'s year before it, and the previous quarter. Sorted canonically."""
    wanted = {f"{period.year}-Q{q}" for q in range(1, period.quarter)} | {str(period.previous()), str(period)}
    gone = superseded_ids(session)
    q = select(TaskRow, DrawRow.drawn_at).join(DrawRow, DrawRow.record_id == TaskRow.record_id) \
        .where(TaskRow.period.in_(sorted(wanted)))
    out = []
    for task, drawn_at in session.execute(q):
        if task.record_id in gone or task.record_id in exclude_records:
            continue
        if before is not None and utc(drawn_at) >= before:
            continue
        out.append({"period": task.period, "enterprise": task.enterprise, "zone": task.zone,
                    "category": task.category, "inspectors": sorted(task.inspectors)})
    return sorted(out, key=lambda r: (r["period"], r["enterprise"], r["inspectors"]))


def last_record_sha(session: Session) -> str | None:
    row = session.scalars(select(DrawRow).order_by(DrawRow.drawn_at.desc(), DrawRow.record_id.desc())
                          .limit(1)).first()
    return row.record_sha256 if row else None


def record_json(row: DrawRow) -> dict[str, Any]:
    return json.loads(row.record_json)
