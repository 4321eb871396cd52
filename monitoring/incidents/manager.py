"""The incident manager: applies assessments, re-derives series, records every change, runs the
lifecycle (acknowledge, close, escalate). Rules in :mod:`monitoring.incidents`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from monitoring.config import Settings, load_settings
from monitoring.db import session_scope
from monitoring.incidents.config import IncidentConfig
from monitoring.incidents.deadman import DeadmanMixin
from monitoring.incidents.episodes import Episode, _f, _s, derive_episodes
from monitoring.incidents.severity import SEVERITY_NAMES, severity_level
from monitoring.incidents.tables import (
    EXCEEDANCE_KINDS,
    SYSTEM_ACTOR,
    Incident,
    IncidentEvent,
    IncidentSeries,
    IncidentWindow,
    series_kind,
)
from monitoring.incidents.times import _jsonable, _require_aware, _utc, fmt_hours, fmt_local
from monitoring.incidents.views import (
    ChangeSet,
    IncidentChange,
    IncidentEventView,
    IncidentView,
    _event_view,
    _view,
)
from sensors.schema import ASSESSMENT_COLUMNS, VERDICTS


class IncidentError(ValueError):
    """A lifecycle request that cannot be done (unknown id, closing a closed incident, …)."""



# ---------------------------------------------------------------------------------------------------
# the manager
# ---------------------------------------------------------------------------------------------------
_SERIES_KEY = ["point", "parameter", "standard", "clause", "check"]
_COMPARED = ("verdict", "value", "limit", "limit_low", "ratio", "unit", "limit_status")
_EPISODE_FIELDS = ("started_at", "confirmed_at", "last_exceed_at", "cleared_at", "exceed_seconds",
                   "window_count", "peak_value", "peak_ratio", "peak_at", "last_value", "limit",
                   "limit_low", "unit", "averaging", "limit_status", "severity")


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


class IncidentManager(DeadmanMixin):
    """Opens, updates, clears, escalates and records incidents in the SQL store at ``db_url``.

    Every parameter left ``None`` takes its value from ``settings`` (default: :func:`load_settings`, i.e.
    the ``ENVMON_INCIDENT_*`` variables).
    """

    def __init__(self, db_url: str | None = None, *, min_duration: timedelta | None = None,
                 clear_after: int | None = None, escalate_after: timedelta | None = None,
                 max_escalations: int | None = None, long_duration: timedelta | None = None,
                 deadman_factor: float | None = None, settings: Settings | None = None) -> None:
        settings = settings or load_settings()
        self.db_url = db_url or settings.sql_url
        env = IncidentConfig.from_settings(settings)
        self.config = IncidentConfig(
            min_duration=env.min_duration if min_duration is None else min_duration,
            clear_after=env.clear_after if clear_after is None else int(clear_after),
            escalate_after=env.escalate_after if escalate_after is None else escalate_after,
            max_escalations=env.max_escalations if max_escalations is None else int(max_escalations),
            long_duration=env.long_duration if long_duration is None else long_duration,
            deadman_factor=env.deadman_factor if deadman_factor is None else float(deadman_factor),
            deadman_delay_s=env.deadman_delay_s, deadman_recover=env.deadman_recover,
            deadman_group_share=env.deadman_group_share,
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
            s = IncidentSeries(kind=series_kind(_s(row.kind), key[4]), point=key[0], parameter=key[1],
                               standard=key[2],
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
        return {"series_id": int(r["series_id"]), "window_start": _utc(r["window_start"]),
                    "window_end": _utc(r["window_end"]), "verdict": str(r["verdict"]), "value": _f(r["value"]),
                    "limit": _f(r["limit"]), "limit_low": _f(r["limit_low"]), "ratio": _f(r["ratio"]),
                    "unit": _s(r["unit"]), "averaging": _s(r["averaging"]), "limit_status": _s(r["limit_status"]),
                    "reason": _s(r["reason"]), "applied_at": now}

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
        return {
            "started_at": ep.start, "confirmed_at": ep.confirmed_end, "last_exceed_at": ep.last_exceed_end,
            "cleared_at": ep.cleared_end, "exceed_seconds": ep.exceed_seconds, "window_count": ep.window_count,
            "peak_value": ep.peak_value, "peak_ratio": ep.peak_ratio, "peak_at": ep.peak_at, "last_value": ep.last_value,
            "limit": ep.limit, "limit_low": ep.limit_low, "unit": ep.unit, "averaging": ep.averaging,
            "limit_status": ep.limit_status,
            "severity": severity_level(value=ep.peak_value, limit=ep.limit, ratio=ep.peak_ratio, unit=ep.unit,
                                    limit_low=ep.limit_low, exceed_seconds=ep.exceed_seconds,
                                    long_duration=self.config.long_duration)}

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


    @property
    def deadman_policy(self):
        """The data-missing thresholds (:class:`monitoring.incidents.deadman.DeadmanPolicy`)."""
        from monitoring.incidents.deadman import DeadmanPolicy

        c = self.config
        return DeadmanPolicy(factor=c.deadman_factor, delay_s=c.deadman_delay_s, recover=c.deadman_recover,
                             group_share=c.deadman_group_share)
    @staticmethod
    def _event(session: Session, inc: Incident, now: datetime, actor: str, action: str,
               data_time: datetime | None, note: str | None, detail: dict[str, Any]) -> IncidentEvent:
        ev = IncidentEvent(incident_id=inc.id, at=now, actor=actor, action=action, data_time=data_time,
                           note=note, detail=json.dumps(detail, ensure_ascii=False) if detail else None)
        session.add(ev)
        session.flush()
        return ev

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
