"""Follow-up tasks: findings that call for an investigation rather than an alarm.

Today one source: a soil sample above the GB 36600-2018 **screening** value (筛选值) — the standard asks
for a detailed investigation and risk assessment of the site, not an emergency; a value above the
**control** value (管制值) is an incident instead (:mod:`monitoring.compliance.soil`).

One task per (point, parameter, check, sample window), unique in the SQL store, so re-evaluating the
same sample never makes a second task. A task is ``open`` until a person closes it with a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import DateTime, Float, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from monitoring.db import Base, session_scope

#: (point kind, check) of assessments that become follow-up tasks instead of incidents
FOLLOWUP_CHECKS = {("soil", "screening")}
ACTION_ZH = {("soil", "screening"): "土壤污染状况详细调查和风险评估（GB 36600-2018 超筛选值）"}


class FollowUpTask(Base):
    __tablename__ = "followup_task"
    __table_args__ = (UniqueConstraint("point", "parameter", "check_name", "window_start", name="uq_followup_task"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    point: Mapped[str] = mapped_column(String(64), index=True)
    zone: Mapped[str | None] = mapped_column(String(32))
    enterprise: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    parameter: Mapped[str] = mapped_column(String(32))
    check: Mapped[str] = mapped_column("check_name", String(32))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    value: Mapped[float | None] = mapped_column(Float)
    limit: Mapped[float | None] = mapped_column("limit_value", Float)
    unit: Mapped[str | None] = mapped_column(String(16))
    standard: Mapped[str | None] = mapped_column(String(128))
    clause: Mapped[str | None] = mapped_column(String(255))
    limit_status: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class TaskView:
    id: int
    point: str
    zone: str | None
    enterprise: str | None
    parameter: str
    check: str
    window_start: datetime
    value: float | None
    limit: float | None
    unit: str | None
    standard: str | None
    clause: str | None
    limit_status: str | None
    action: str
    status: str


def _view(t: FollowUpTask) -> TaskView:
    ws = pd.Timestamp(t.window_start)
    ws = ws.tz_localize(UTC) if ws.tzinfo is None else ws.tz_convert(UTC)
    return TaskView(t.id, t.point, t.zone, t.enterprise, t.parameter, t.check, ws.to_pydatetime(), t.value,
                    t.limit, t.unit, t.standard, t.clause, t.limit_status, t.action, t.status)


def split_followups(assessments: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(assessments for incidents, assessments that are follow-up checks)."""
    if assessments.empty:
        return assessments, assessments
    is_f = pd.Series([(k, c) in FOLLOWUP_CHECKS for k, c in zip(assessments["kind"], assessments["check"])],
                     index=assessments.index)
    return assessments[~is_f], assessments[is_f]


def open_tasks(db_url: str, assessments: pd.DataFrame, *, now: datetime | None = None) -> list[TaskView]:
    """A task per exceeding follow-up assessment not seen before; returns the new tasks."""
    now = now or datetime.now(UTC)
    over = assessments[assessments["verdict"] == "exceeds"] if not assessments.empty else assessments
    new: list[TaskView] = []
    if over.empty:
        return new
    with session_scope(db_url) as session:
        for r in over.to_dict("records"):
            ws = pd.Timestamp(r["window_start"]).to_pydatetime()
            exists = session.scalar(select(FollowUpTask.id).where(
                FollowUpTask.point == r["point"], FollowUpTask.parameter == r["parameter"],
                FollowUpTask.check == r["check"], FollowUpTask.window_start == ws))
            if exists is not None:
                continue
            t = FollowUpTask(point=r["point"], zone=_s(r.get("zone")), enterprise=_s(r.get("enterprise")),
                             kind=r["kind"], parameter=r["parameter"], check=r["check"], window_start=ws,
                             value=_f(r.get("value")), limit=_f(r.get("limit")), unit=_s(r.get("unit")),
                             standard=_s(r.get("standard")), clause=_s(r.get("clause")),
                             limit_status=_s(r.get("limit_status")),
                             action=ACTION_ZH.get((r["kind"], r["check"]), "跟进调查"), status="open", created_at=now)
            session.add(t)
            session.flush()
            new.append(_view(t))
    return new


def list_tasks(db_url: str, open_only: bool = False) -> list[TaskView]:
    with session_scope(db_url) as session:
        q = select(FollowUpTask).order_by(FollowUpTask.window_start, FollowUpTask.id)
        if open_only:
            q = q.where(FollowUpTask.status == "open")
        return [_view(t) for t in session.scalars(q)]


def _s(v: Any) -> str | None:
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def _f(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)
