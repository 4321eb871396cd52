"""Handling an incident to closure (事件处置流程): 报警 → 认领 → 核实 → 处置 → 反馈 → 办结.

An incident (:mod:`monitoring.incidents`) is the *alarm*; this module records what people did about it:

=========  ============  ======================================================  ========================
stage      name          what is recorded                                        time allowed (SLA)
=========  ============  ======================================================  ========================
alarm      报警           the incident exists (opened by the evaluation)           ``claim`` (escalate_after)
claimed    认领           who takes it (and to whom it is assigned); the           24 h to verify
                         incident is acknowledged, which stops its escalation
verified   核实           off-site check (非现场核查): finding and notes            24 h to decide
decided    处置           decision with a reason code (:data:`REASONS`) and the   the deadline set here
                         deadline for the enterprise's answer
feedback   反馈           the enterprise's / operator's feedback                   72 h to close
closed     办结           closing note; needs evidence (a note **and** at least
                         one attachment) recorded before; closes the incident
=========  ============  ======================================================  ========================

Every step is a row of ``incident_step`` (who, when, what, reason code): the audit trail, shown together
with the incident's own events. A stage past its allowed time is *overdue*; :func:`escalate_overdue`
records one escalation step per SLA period overdue (at most :data:`MAX_ESCALATION`), idempotently, so
the console's periodic check and a notifier never duplicate it.

Evidence attachments are photos (JPEG/PNG) or PDF letters, checked and stored by
:mod:`monitoring.attachments` under ``$ENVMON_DATA_DIR/evidence/incident-<id>/`` (mode 0600), served to
staff only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from monitoring.attachments import AttachmentError, check_attachment, write_private
from monitoring.db import Base, session_scope
from monitoring.incidents import IncidentConfig, IncidentError, IncidentManager

STAGES: dict[str, str] = {
    "alarm": "报警", "claimed": "认领", "verified": "核实", "decided": "处置", "feedback": "反馈", "closed": "办结",
}
ORDER = list(STAGES)
FINDINGS: dict[str, str] = {"confirmed": "核实属实", "suspect_false": "疑似误报", "unclear": "无法判断，需现场核查"}
#: decision reason codes: code → (category, description)
REASONS: dict[str, tuple[str, str]] = {
    "false_calibration": ("误报", "校准/标定期间的数据"),
    "false_device": ("误报", "监测设备故障"),
    "false_comm": ("误报", "停电或通讯中断"),
    "false_maintenance": ("误报", "运维作业期间"),
    "rectify": ("整改通知", "下达整改通知，限期整改"),
    "onsite": ("现场检查", "安排现场检查"),
    "referral": ("移送执法", "移送执法，立案查处"),
}
SLA: dict[str, timedelta] = {
    "claimed": timedelta(hours=24),    # → verified
    "verified": timedelta(hours=24),   # → decided
    "feedback": timedelta(hours=72),   # → closed
}
MAX_ESCALATION = 3


class CaseError(ValueError):
    """A step that cannot be taken now (wrong stage, missing evidence, bad attachment …)."""


class IncidentCase(Base):
    """The handling state of one incident (absent: still 报警)."""

    __tablename__ = "incident_case"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), index=True)
    stage_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    assignee: Mapped[str | None] = mapped_column(String(64))
    finding: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IncidentStep(Base):
    """One step of the handling: the audit trail (who, when, what)."""

    __tablename__ = "incident_step"
    __table_args__ = (UniqueConstraint("incident_id", "action", "stage", "level", name="uq_incident_step_escalation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # claimed verified decided feedback closed evidence escalate
    stage: Mapped[str] = mapped_column(String(16))   # the stage after the step
    #: escalation level for ``escalate`` rows (unique per stage); the row id for the others
    level: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Evidence(Base):
    __tablename__ = "incident_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    stored_as: Mapped[str | None] = mapped_column(String(255))


# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepView:
    at: datetime
    actor: str
    action: str
    stage: str
    code: str | None
    note: str | None
    due_at: datetime | None

    @property
    def action_zh(self) -> str:
        return STAGES.get(self.action) or {"evidence": "证据", "escalate": "超时升级"}.get(self.action, self.action)

    @property
    def code_zh(self) -> str:
        if not self.code:
            return ""
        if self.code in REASONS:
            return "：".join(REASONS[self.code])
        return FINDINGS.get(self.code, self.code)


@dataclass(frozen=True)
class EvidenceView:
    id: int
    at: datetime
    actor: str
    note: str
    filename: str | None
    content_type: str | None
    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class CaseView:
    incident_id: int
    stage: str
    stage_since: datetime | None
    assignee: str | None
    finding: str | None
    reason: str | None
    due_at: datetime | None
    sla_due_at: datetime | None
    escalation_level: int

    @property
    def stage_zh(self) -> str:
        return STAGES[self.stage]

    @property
    def next_stage(self) -> str | None:
        i = ORDER.index(self.stage)
        return ORDER[i + 1] if i + 1 < len(ORDER) else None

    def overdue_seconds(self, now: datetime) -> float:
        if self.sla_due_at is None or self.stage == "closed":
            return 0.0
        return max(0.0, (now - self.sla_due_at).total_seconds())

    @property
    def reason_zh(self) -> str:
        return "：".join(REASONS[self.reason]) if self.reason in REASONS else ""


def _utc(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _sla_due(stage: str, since: datetime | None, due_at: datetime | None, created_at: datetime | None,
             config: IncidentConfig) -> datetime | None:
    if stage == "alarm":
        return created_at + config.escalate_after if created_at and config.escalate_after else None
    if stage == "decided":
        return due_at
    if stage in SLA and since is not None:
        return since + SLA[stage]
    return None


def _case_view(incident_id: int, row: IncidentCase | None, created_at: datetime | None,
               config: IncidentConfig) -> CaseView:
    if row is None:
        return CaseView(incident_id, "alarm", _utc(created_at), None, None, None, None,
                        _sla_due("alarm", None, None, _utc(created_at), config), 0)
    since, due = _utc(row.stage_since), _utc(row.due_at)
    return CaseView(incident_id, row.stage, since, row.assignee, row.finding, row.reason, due,
                    _sla_due(row.stage, since, due, _utc(created_at), config), row.escalation_level or 0)


class Casework:
    """The handling workflow over the SQL store at ``sql_url`` (attachments under ``evidence_dir``)."""

    def __init__(self, sql_url: str, evidence_dir: Path, config: IncidentConfig | None = None):
        self.sql_url = sql_url
        self.evidence_dir = Path(evidence_dir)
        self.incidents = IncidentManager(sql_url)
        self.config = config or self.incidents.config

    # ------------------------------------------------------------------ reading
    def cases(self, incident_ids: list[int] | None = None) -> dict[int, CaseView]:
        """Handling state of the given incidents (all when None), incl. those still at 报警."""
        from monitoring.incidents import Incident
        with session_scope(self.sql_url) as s:
            q = select(Incident.id, Incident.created_at, IncidentCase).outerjoin(
                IncidentCase, IncidentCase.incident_id == Incident.id)
            if incident_ids is not None:
                q = q.where(Incident.id.in_([int(i) for i in incident_ids]))
            return {iid: _case_view(iid, row, created, self.config) for iid, created, row in s.execute(q).all()}

    def case(self, incident_id: int) -> CaseView:
        found = self.cases([incident_id])
        if incident_id not in found:
            raise CaseError(f"incident #{incident_id} does not exist")
        return found[incident_id]

    def steps(self, incident_id: int) -> list[StepView]:
        with session_scope(self.sql_url) as s:
            return [StepView(_utc(r.at), r.actor, r.action, r.stage, r.code, r.note, _utc(r.due_at))  # type: ignore[arg-type]
                    for r in s.scalars(select(IncidentStep).where(IncidentStep.incident_id == incident_id)
                                       .order_by(IncidentStep.at, IncidentStep.id))]

    def evidence(self, incident_id: int) -> list[EvidenceView]:
        with session_scope(self.sql_url) as s:
            return [EvidenceView(r.id, _utc(r.at), r.actor, r.note, r.filename, r.content_type, r.size,  # type: ignore[arg-type]
                                 r.sha256)
                    for r in s.scalars(select(Evidence).where(Evidence.incident_id == incident_id)
                                       .order_by(Evidence.id))]

    def evidence_file(self, incident_id: int, evidence_id: int) -> tuple[Path, EvidenceView]:
        with session_scope(self.sql_url) as s:
            r = s.get(Evidence, evidence_id)
            if r is None or r.incident_id != incident_id or not r.stored_as:
                raise CaseError(f"no attachment #{evidence_id} on incident #{incident_id}")
            view = EvidenceView(r.id, _utc(r.at), r.actor, r.note, r.filename, r.content_type, r.size,  # type: ignore[arg-type]
                                r.sha256)
            return self.evidence_dir / r.stored_as, view

    # ------------------------------------------------------------------ steps
    def _advance(self, incident_id: int, *, expect: str, to: str, by: str, now: datetime | None,
                 note: str | None = None, code: str | None = None, due_at: datetime | None = None,
                 **fields: object) -> CaseView:
        if not by or not by.strip():
            raise CaseError("a step needs the name of the person")
        now = (now or datetime.now(UTC)).astimezone(UTC)
        from monitoring.incidents import Incident
        with session_scope(self.sql_url) as s:
            inc = s.get(Incident, int(incident_id))
            if inc is None:
                raise CaseError(f"incident #{incident_id} does not exist")
            row = s.get(IncidentCase, int(incident_id))
            stage = row.stage if row else "alarm"
            if stage != expect:
                raise CaseError(f"incident #{incident_id} is at {STAGES[stage]} ({stage}); "
                                f"{STAGES[to]} needs {STAGES[expect]} first")
            if row is None:
                row = IncidentCase(incident_id=int(incident_id), escalation_level=0)
                s.add(row)
            row.stage, row.stage_since, row.updated_at, row.escalation_level = to, now, now, 0
            for k, v in fields.items():
                setattr(row, k, v)
            if due_at is not None:
                row.due_at = due_at
            s.add(IncidentStep(incident_id=int(incident_id), at=now, actor=by.strip(), action=to, stage=to,
                               code=code, note=(note or "").strip() or None, due_at=due_at))
            s.flush()
            return _case_view(int(incident_id), row, inc.created_at, self.config)

    def claim(self, incident_id: int, *, by: str, assignee: str | None = None, note: str | None = None,
              now: datetime | None = None) -> CaseView:
        """认领: take the incident (assign it to ``assignee``, default the claimer); acknowledges it."""
        self.case(incident_id)  # existence
        inc = self.incidents.get(incident_id)
        if inc.status == "open":
            try:
                self.incidents.acknowledge(incident_id, by=by, note=note or "认领", now=now)
            except IncidentError as exc:  # acknowledged meanwhile by somebody else
                raise CaseError(str(exc)) from None
        return self._advance(incident_id, expect="alarm", to="claimed", by=by, now=now, note=note,
                             assignee=(assignee or by).strip())

    def verify(self, incident_id: int, *, by: str, finding: str, note: str, now: datetime | None = None) -> CaseView:
        """核实: the off-site check (非现场核查): data, device logs, calls with the enterprise."""
        if finding not in FINDINGS:
            raise CaseError(f"unknown finding {finding!r}; one of: {', '.join(FINDINGS)}")
        if not note or not note.strip():
            raise CaseError("核实 needs the notes of the off-site check")
        return self._advance(incident_id, expect="claimed", to="verified", by=by, now=now, note=note,
                             code=finding, finding=finding)

    def decide(self, incident_id: int, *, by: str, reason: str, due_at: datetime, note: str = "",
               now: datetime | None = None) -> CaseView:
        """处置: the decision with its reason code and the deadline for the feedback."""
        if reason not in REASONS:
            raise CaseError(f"unknown reason code {reason!r}; one of: {', '.join(REASONS)}")
        now = (now or datetime.now(UTC)).astimezone(UTC)
        if due_at.tzinfo is None:
            raise CaseError("the deadline must carry its time zone")
        if due_at <= now:
            raise CaseError("the deadline must lie in the future")
        return self._advance(incident_id, expect="verified", to="decided", by=by, now=now, note=note,
                             code=reason, due_at=due_at.astimezone(UTC), reason=reason)

    def feedback(self, incident_id: int, *, by: str, note: str, now: datetime | None = None) -> CaseView:
        """反馈: what the enterprise did / answered (or the operator's finding on the false alarm)."""
        if not note or not note.strip():
            raise CaseError("反馈 needs a note")
        return self._advance(incident_id, expect="decided", to="feedback", by=by, now=now, note=note)

    def close(self, incident_id: int, *, by: str, note: str, now: datetime | None = None) -> CaseView:
        """办结: needs evidence (a note and at least one attachment); closes the incident too."""
        if not note or not note.strip():
            raise CaseError("办结 needs a closing note")
        ev = self.evidence(incident_id)
        if not any(e.filename for e in ev) or not any(e.note.strip() for e in ev):
            raise CaseError("办结 needs evidence first: a note and at least one attachment (photo or PDF)")
        case = self.case(incident_id)
        if case.stage != "feedback":
            raise CaseError(f"incident #{incident_id} is at {case.stage_zh}; 办结 needs 反馈 first")
        inc = self.incidents.get(incident_id)
        if inc.status != "closed":
            reason = f"办结：{case.reason_zh}；{note.strip()}" if case.reason else f"办结：{note.strip()}"
            self.incidents.close(incident_id, by=by, reason=reason, now=now)
        return self._advance(incident_id, expect="feedback", to="closed", by=by, now=now, note=note)

    def add_evidence(self, incident_id: int, *, by: str, note: str, filename: str | None = None,
                     data: bytes | None = None, now: datetime | None = None) -> EvidenceView:
        """Record evidence: a note, optionally with one attachment (JPEG, PNG or PDF)."""
        if not by or not by.strip():
            raise CaseError("evidence needs the name of the person")
        if not note or not note.strip():
            raise CaseError("evidence needs a note saying what it shows")
        case = self.case(incident_id)
        if case.stage == "closed":
            raise CaseError(f"incident #{incident_id} is 办结; no more evidence")
        now = (now or datetime.now(UTC)).astimezone(UTC)
        checked = None
        if data:
            try:
                checked = check_attachment(filename, data)
            except AttachmentError as exc:
                raise CaseError(str(exc)) from None
        ctype = checked.content_type if checked else None
        with session_scope(self.sql_url) as s:
            row = Evidence(incident_id=incident_id, at=now, actor=by.strip(), note=note.strip(),
                           filename=checked.filename if checked else None, content_type=ctype,
                           size=checked.size if checked else None, sha256=checked.sha256 if checked else None)
            s.add(row)
            s.flush()
            if checked and data:
                row.stored_as = f"incident-{incident_id}/{row.id}-{checked.sha256[:16]}{checked.ext}"
                write_private(self.evidence_dir, row.stored_as, data)
            s.add(IncidentStep(incident_id=incident_id, at=now, actor=by.strip(), action="evidence",
                               stage=case.stage, note=note.strip() + (f"（附件 {row.filename}）" if data else "")))
            return EvidenceView(row.id, now, row.actor, row.note, row.filename, ctype, row.size, row.sha256)

    # ------------------------------------------------------------------ SLA
    def escalate_overdue(self, now: datetime | None = None) -> list[tuple[int, str, int]]:
        """Record an escalation step for every claimed-but-unfinished stage past its allowed time: level
        1 when overdue, one more per further SLA period, at most :data:`MAX_ESCALATION`. Idempotent.
        Returns ``(incident_id, stage, level)`` of the steps recorded now. (Unclaimed incidents escalate
        in :meth:`monitoring.incidents.IncidentManager.escalate_due`.)"""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        out: list[tuple[int, str, int]] = []
        with session_scope(self.sql_url) as s:
            from monitoring.incidents import Incident
            rows = s.execute(select(IncidentCase, Incident.created_at).join(
                Incident, Incident.id == IncidentCase.incident_id).where(IncidentCase.stage != "closed")).all()
            for row, created in rows:
                view = _case_view(row.incident_id, row, created, self.config)
                if view.sla_due_at is None or now <= view.sla_due_at:
                    continue
                period = SLA.get(row.stage) or timedelta(hours=24)
                level = min(MAX_ESCALATION, 1 + int((now - view.sla_due_at) / period))
                if level <= (row.escalation_level or 0):
                    continue
                for lv in range((row.escalation_level or 0) + 1, level + 1):
                    s.add(IncidentStep(incident_id=row.incident_id, at=now, actor="system", action="escalate",
                                       stage=row.stage, level=lv,
                                       note=f"{STAGES[row.stage]}阶段超时，升级为第 {lv} 级"))
                row.escalation_level = level
                out.append((row.incident_id, row.stage, level))
        return out
