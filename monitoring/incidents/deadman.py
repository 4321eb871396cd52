"""Data-missing (deadman) incidents, designed not to flood (issue #8 §2).

A point is *silent* when its last valid (flag N) reading is older than its threshold::

    threshold_s = interval_s × factor + delay_s

``factor`` (``ENVMON_DEADMAN_FACTOR``, 3) is what the device may miss; ``delay_s``
(``ENVMON_DEADMAN_DELAY_S``, 300) is how late a reading acknowledged by the receiver can reach InfluxDB
in normal operation: the receiver's spool rotation (5 s), up to two ingest cadences (30 s each: one
waited for, one running) and an ingest run's duration on a busy 2-core server (≤ 2 min), rounded up.
The old rule (interval × 3 = 180 s for minute data, against a 300-s ingest cadence) flapped on every
healthy point.

Start-up grace
    Silence is counted from ``watch_since`` at the earliest — when the stack started (``envmon up``
    writes it) or, without one, when the deadman first ran on this data directory — so nothing is
    "missing" because the system itself was not running.

One incident for one cause
    When in one check at least ``ENVMON_DEADMAN_GROUP_SHARE`` (0.5) of a cluster's online points, and
    at least 3, are silent, that is one *cluster-level* incident (series point ``zone:<zone>``) listing
    the points, not one per point; when every cluster is in that state (the receiver or the network is
    down) it is one *county-level* incident (series point ``county``). Points covered by a group
    incident open no incident of their own — nor do points of a cluster whose majority is already
    *quiet* (missed ``factor`` values) though not yet past the longer threshold: a safety sensor
    (10 s → 330 s) is silent minutes before the minute points (480 s) when the receiver stops
    (:func:`stalling_zones`).

Hysteresis on recovery
    An incident clears only when data has been back for ``ENVMON_DEADMAN_RECOVER_MINUTES`` (10): the
    first valid reading after the silence began (``first_back``) must be that old and the point (or
    most of the group, fewer than 20 % silent) must not be silent now. A device that comes back for a
    minute and drops again keeps its one incident open: no "恢复" / "缺失" flapping.

Digest
    Severity changes of an open incident are audit events (``update``); the notifier bundles them into
    one digest per incident and channel per ``ENVMON_NOTIFY_DIGEST_MINUTES``. A point's recovery is
    not urgent either: recoveries wait up to ``ENVMON_DEADMAN_DIGEST_MINUTES`` (15) and go out together
    as one "数据恢复汇总" message listing every point back since the last one
    (:meth:`monitoring.notifications.Notifier._recovery_digest`). Only open, escalation and the
    recovery of a cluster or the county go out at once.

Severity: silence / threshold < 3 → 一般, < 10 → 较重, else 严重
(:func:`monitoring.incidents.severity.deadman_severity`); group incidents are 较重 at least.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from monitoring.db import session_scope
from monitoring.incidents.episodes import _s
from monitoring.incidents.severity import deadman_severity
from monitoring.incidents.tables import SYSTEM_ACTOR, Incident, IncidentSeries
from monitoring.incidents.times import _jsonable, _require_aware, _utc, fmt_hours, fmt_local
from monitoring.incidents.views import ChangeSet, IncidentChange, _view

DEADMAN_PARAMETER = "*"
DEADMAN_CLAUSE = "deadman"
DEADMAN_CHECK = "data_missing"
COUNTY_KEY = "county"
#: A group incident clears when fewer than this share of its points is silent (and data is back long enough).
GROUP_CLEAR_SHARE = 0.2
GROUP_MIN_POINTS = 3
#: A point is *quiet* (not yet silent) once it missed ``factor`` values, and at least this long.
QUIET_MIN_S = 120.0


def zone_key(zone: str) -> str:
    return f"zone:{zone}"


def is_group_key(point: str) -> bool:
    return point == COUNTY_KEY or point.startswith("zone:")


@dataclass(frozen=True)
class DeadmanPolicy:
    """The thresholds of :mod:`monitoring.incidents.deadman` (from :class:`~monitoring.config.Settings`)."""

    factor: float = 3.0
    delay_s: float = 300.0
    recover: timedelta = timedelta(minutes=10)
    group_share: float = 0.5


def silence_frame(last_valid: pd.DataFrame, registry: Any, *, now: datetime, policy: DeadmanPolicy,
                  watch_since: datetime | None = None, points: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per watched point: zone, enterprise, interval_s, last_valid_time, threshold_s, silence_s,
    silent. Silence is counted from ``max(last valid reading, watch_since)``."""
    missing = [c for c in ("point", "last_valid_time") if c not in last_valid]
    if missing:
        raise ValueError(f"last_valid lacks column(s): {', '.join(missing)}")
    lv = last_valid[["point", "last_valid_time"]].copy()
    lv["last_valid_time"] = pd.to_datetime(lv["last_valid_time"], utc=True)
    lv = lv.groupby("point", as_index=False)["last_valid_time"].max()
    wanted = set(points) if points is not None else None
    reg = pd.DataFrame([{"point": p.id, "zone": p.zone, "enterprise": p.enterprise, "interval_s": p.interval_s}
                        for p in registry if wanted is None or p.id in wanted],
                       columns=["point", "zone", "enterprise", "interval_s"])
    frame = reg.merge(lv, on="point", how="left")
    frame["threshold_s"] = frame["interval_s"].astype(float) * policy.factor + policy.delay_s
    since = frame["last_valid_time"]
    if watch_since is not None:
        ws = pd.Timestamp(watch_since).tz_convert("UTC")
        since = since.where(since.notna() & (since > ws), ws)
    frame["silence_s"] = (pd.Timestamp(now) - since).dt.total_seconds()
    frame["silent"] = since.isna() | (frame["silence_s"] > frame["threshold_s"])
    quiet_s = np.maximum(frame["interval_s"].astype(float) * policy.factor, QUIET_MIN_S)
    frame["quiet"] = frame["silent"] | (frame["silence_s"] > quiet_s)
    return frame


def stalling_zones(frame: pd.DataFrame, share: float) -> set[str]:
    """Zones where ≥ ``share`` of the points (and ≥ 3) are *quiet* — they missed ``factor`` values — though
    most are not past their threshold yet: a common cause (the receiver, the network) under way. A point
    whose shorter threshold (a 10-s safety sensor: 330 s) is already passed opens no incident of its own
    then; a minute later the cluster's (or the county's) incident covers it. If the others come back,
    the point is judged alone at the next check."""
    if frame.empty:
        return set()
    g = frame.groupby("zone")["quiet"].agg(["sum", "count"])
    return {z for z, r in g.iterrows() if r["sum"] >= max(GROUP_MIN_POINTS, share * r["count"])}


def silent_groups(frame: pd.DataFrame, share: float) -> tuple[bool, set[str]]:
    """(county down, zones down): a zone is down when ≥ ``share`` of its points, and ≥ 3, are silent;
    the county when every zone (of two or more) is down."""
    if frame.empty:
        return False, set()
    g = frame.groupby("zone")["silent"].agg(["sum", "count"])
    down = {z for z, r in g.iterrows() if r["sum"] >= max(GROUP_MIN_POINTS, share * r["count"])}
    county = len(g) > 1 and down == set(g.index)
    return county, down


class DeadmanMixin:
    """``check_deadman`` and ``open_deadman`` of :class:`monitoring.incidents.manager.IncidentManager`."""

    def open_deadman(self) -> list[tuple[str, str | None, datetime | None]]:
        """(series point, zone, started_at) of every active data-missing incident: what
        :func:`monitoring.alerting.check_data_capture` asks InfluxDB about (first reading back)."""
        with session_scope(self.db_url) as session:
            rows = session.execute(select(IncidentSeries.point, IncidentSeries.zone, Incident.started_at)
                                   .join(Incident, Incident.series_id == IncidentSeries.id)
                                   .where(IncidentSeries.check == DEADMAN_CHECK, Incident.active.is_(True),
                                          Incident.status != "closed")).all()
        return [(p, z, _utc(t)) for p, z, t in rows]

    def check_deadman(self, last_valid: pd.DataFrame, registry: Any, *, now: datetime,
                      factor: float | None = None, points: Iterable[str] | None = None,
                      watch_since: datetime | None = None, first_back: dict[str, datetime] | None = None,
                      policy: DeadmanPolicy | None = None) -> ChangeSet:
        """Open/clear data-missing incidents (module docstring: thresholds, grace, groups, hysteresis).

        ``last_valid``: columns ``point``, ``last_valid_time`` (UTC). ``first_back``: series point →
        first valid reading after the incident's start (None: the data-back time is the last valid
        reading, no hysteresis — the behaviour of callers that do not ask InfluxDB).
        """
        now = _require_aware(now, "now")
        policy = policy or self.deadman_policy
        if factor is not None:
            if factor <= 0:
                raise ValueError("deadman factor must be > 0")
            policy = DeadmanPolicy(factor=float(factor), delay_s=policy.delay_s, recover=policy.recover,
                                   group_share=policy.group_share)
        frame = silence_frame(last_valid, registry, now=now, policy=policy, watch_since=watch_since,
                              points=points)
        if frame.empty:
            return ChangeSet()
        county_down, zones_down = silent_groups(frame, policy.group_share)
        changes = ChangeSet()
        with session_scope(self.db_url) as session:
            series = {s.point: s for s in session.scalars(select(IncidentSeries).where(
                IncidentSeries.check == DEADMAN_CHECK))}
            open_incs = {inc.series_id: inc for inc in session.scalars(select(Incident).where(
                Incident.series_id.in_([s.id for s in series.values()] or [-1]), Incident.active.is_(True),
                Incident.status != "closed"))}
            ctx = _Ctx(self, session, series, open_incs, changes, now, policy, first_back)
            # --- groups ------------------------------------------------------------------------
            zone_frames = dict(tuple(frame.groupby("zone")))
            groups: dict[str, pd.DataFrame] = {COUNTY_KEY: frame}
            groups.update({zone_key(z): f for z, f in zone_frames.items()})
            for key, part in groups.items():
                down = county_down if key == COUNTY_KEY else (key[5:] in zones_down and not county_down)
                share = float(part["silent"].mean())
                ctx.group(key, part, down=down, back=share < GROUP_CLEAR_SHARE)
            covered = set(frame.loc[frame["zone"].isin(zones_down), "point"]) if (county_down or zones_down) else set()
            covered |= set(frame.loc[frame["zone"].isin(stalling_zones(frame, policy.group_share)), "point"])
            # --- points ------------------------------------------------------------------------
            for row in frame.itertuples(index=False):
                ctx.point(row, covered=row.point in covered)
        return changes


class _Ctx:
    """One deadman check's session state (keeps :meth:`DeadmanMixin.check_deadman` readable)."""

    def __init__(self, mgr, session, series, open_incs, changes, now, policy, first_back) -> None:
        self.mgr, self.session, self.series, self.open = mgr, session, series, open_incs
        self.changes, self.now, self.policy, self.first_back = changes, now, policy, first_back

    def _incident(self, key: str) -> tuple[IncidentSeries | None, Incident | None]:
        s = self.series.get(key)
        return s, (self.open.get(s.id) if s is not None else None)

    def _back_long_enough(self, key: str, inc: Incident, fallback: datetime | None) -> datetime | None:
        """When data came back, if it has been back for ``policy.recover`` (else None)."""
        started = _utc(inc.started_at) or _utc(inc.created_at)
        if self.first_back is None:                        # no hysteresis information: old behaviour
            return fallback if fallback is not None and (started is None or fallback > started) else None
        back = self.first_back.get(key)
        back = _utc(back) if back is not None and not pd.isna(back) else None
        if back is None or (started is not None and back <= started):
            return None
        return back if self.now - back >= self.policy.recover else None

    def _clear(self, s: IncidentSeries, inc: Incident, back: datetime) -> None:
        inc.active, inc.cleared_at, inc.updated_at = False, back, self.now
        started = _utc(inc.started_at) or back
        summary = (f"{fmt_local(back)} 起恢复有效数据（已持续 {fmt_hours((self.now - back).total_seconds())}），"
                   f"中断 {fmt_hours((back - started).total_seconds())}")
        ev = self.mgr._event(self.session, inc, self.now, SYSTEM_ACTOR, "clear", back, summary, {})
        self.session.flush()
        self.changes.changes.append(IncidentChange("clear", _view(inc, s), summary, ev.id))

    def _series(self, key: str, zone: str | None, enterprise: str | None) -> IncidentSeries:
        s = self.series.get(key)
        if s is None:
            s = IncidentSeries(kind="data_missing", point=key, parameter=DEADMAN_PARAMETER, standard="",
                               clause=DEADMAN_CLAUSE, check=DEADMAN_CHECK, zone=zone, enterprise=enterprise,
                               has_exceeded=False)
            self.session.add(s)
            self.session.flush()
            self.series[key] = s
        return s

    def _open(self, s: IncidentSeries, started: datetime | None, severity: int, summary: str,
              detail: dict[str, Any]) -> None:
        inc = Incident(series_id=s.id, kind="data_missing", status="open", active=True, severity=severity,
                       started_at=started, confirmed_at=self.now, created_at=self.now, updated_at=self.now,
                       exceed_seconds=0.0, window_count=0, escalation_level=0)
        self.session.add(inc)
        self.session.flush()
        self.open[s.id] = inc
        ev = self.mgr._event(self.session, inc, self.now, SYSTEM_ACTOR, "open", self.now, summary,
                             {"started_at": [None, _jsonable(started)], "severity": [None, severity], **detail})
        self.changes.changes.append(IncidentChange("open", _view(inc, s), summary, ev.id))

    def group(self, key: str, part: pd.DataFrame, *, down: bool, back: bool) -> None:
        s, inc = self._incident(key)
        if inc is not None and not down and back:
            when = self._back_long_enough(key, inc, part["last_valid_time"].max())
            if when is not None:
                self._clear(s, inc, when)
            return
        if not down or inc is not None:
            return
        silent = part[part["silent"]]
        started = silent["last_valid_time"].max()
        started = None if pd.isna(started) else _utc(started)
        zone = None if key == COUNTY_KEY else key[5:]
        s = self._series(key, zone, None)
        where = "全县" if key == COUNTY_KEY else "本集聚区"
        ids = sorted(silent["point"])
        listed = "、".join(ids[:12]) + (f" 等 {len(ids)} 个" if len(ids) > 12 else "")
        summary = (f"{where} {len(ids)}/{len(part)} 个在线监测点位同时无有效数据"
                   + (f"（最后一条有效数据 {fmt_local(started)}）" if started else "")
                   + f"，多为接收服务、网络或供电故障，请先检查数据接收服务器：{listed}")
        sev = max(2, deadman_severity(float(silent["silence_s"].max()), float(silent["threshold_s"].min())))
        self._open(s, started, sev, summary, {"points": ids})

    def point(self, row, *, covered: bool) -> None:
        s, inc = self._incident(row.point)
        last = _utc(row.last_valid_time) if not pd.isna(row.last_valid_time) else None
        if inc is not None and not row.silent:
            when = self._back_long_enough(row.point, inc, last)
            if when is not None:
                self._clear(s, inc, when)
            return
        if not row.silent:
            return
        silence = row.silence_s if not pd.isna(row.silence_s) else math.inf
        sev = deadman_severity(silence, row.threshold_s)
        if inc is not None:
            if sev != inc.severity:
                diff = {"severity": [inc.severity, sev]}
                inc.severity, inc.updated_at = sev, self.now
                summary = f"数据中断已 {fmt_hours(silence)}；" + self.mgr._update_summary(diff)
                ev = self.mgr._event(self.session, inc, self.now, SYSTEM_ACTOR, "update", self.now, summary, diff)
                self.changes.changes.append(IncidentChange("update", _view(inc, s), summary, ev.id))
            return
        if covered:
            return
        s = self._series(row.point, row.zone, _s(row.enterprise))
        muted = self.session.scalar(select(func.count(Incident.id)).where(
            Incident.series_id == s.id, Incident.status == "closed", Incident.cut_at.is_not(None),
            Incident.started_at.is_(None) if last is None else Incident.started_at == last))
        if muted:
            return
        summary = (f"自 {fmt_local(last)} 起无有效数据，已 {fmt_hours(silence)}"
                   f"（应每 {row.interval_s} 秒上报，阈值 {fmt_hours(row.threshold_s)}）"
                   if last is not None else f"无任何有效数据记录（应每 {row.interval_s} 秒上报）")
        self._open(s, last, sev, summary, {})
