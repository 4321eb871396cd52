"""Data-missing (deadman) incidents: a point silent for longer than ``interval_s × factor``.

The series of a point is ``(point, "*", "", "deadman", "data_missing")``; severity from silence /
threshold (:func:`monitoring.incidents.severity.deadman_severity`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    func,
    select,
)

from monitoring.db import session_scope
from monitoring.incidents.episodes import _s
from monitoring.incidents.severity import deadman_severity
from monitoring.incidents.tables import SYSTEM_ACTOR, Incident, IncidentSeries
from monitoring.incidents.times import _jsonable, _require_aware, _utc, fmt_hours, fmt_local
from monitoring.incidents.views import (
    ChangeSet,
    IncidentChange,
    _view,
)

DEADMAN_PARAMETER = "*"
DEADMAN_CLAUSE = "deadman"
DEADMAN_CHECK = "data_missing"


class DeadmanMixin:
    """``check_deadman`` of :class:`monitoring.incidents.manager.IncidentManager`."""

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

