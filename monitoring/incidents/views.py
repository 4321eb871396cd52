"""What the incident store hands to callers: plain frozen data with no session attached, and the
:class:`ChangeSet` a notifier reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from monitoring.incidents.severity import SEVERITY_NAMES
from monitoring.incidents.tables import STATUS_NAMES, Incident, IncidentEvent, IncidentSeries
from monitoring.incidents.times import _utc

Action = Literal["open", "update", "clear", "escalate"]


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
