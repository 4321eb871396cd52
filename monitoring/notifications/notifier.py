"""The :class:`Notifier`: turns incident changes into stored messages and sends them once per channel
(rules in :mod:`monitoring.notifications`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import (
    exists,
    func,
    select,
)

from monitoring.config import Settings, load_settings
from monitoring.db import serialize_writers, session_scope
from monitoring.incidents import (
    ChangeSet,
    IncidentChange,
    IncidentEvent,
    IncidentManager,
    IncidentView,
    fmt_local,
)
from monitoring.incidents.deadman import DEADMAN_CHECK, is_group_key
from monitoring.incidents.tables import Incident, IncidentSeries
from monitoring.incidents.times import _utc
from monitoring.notifications.channels import (
    Channel,
    _deliver,
    channel_urls,
    make_channel,
)
from monitoring.notifications.rendering import render, render_recovery_digest
from monitoring.notifications.tables import Notification, NotificationAttempt

log = logging.getLogger(__name__)

STALE_PENDING = timedelta(minutes=10)
#: How far back a recovery still waiting for its digest is looked for.
RECOVERY_LOOKBACK = timedelta(days=7)


def _digested_recovery(inc: IncidentView) -> bool:
    """A point's data-missing recovery: not urgent, it goes into the recovery digest (group-level
    recoveries — a cluster or the county back — are sent at once)."""
    return inc.kind == DEADMAN_CHECK and not is_group_key(inc.point)


# ---------------------------------------------------------------------------------------------------
# notifier
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SendOutcome:
    notification_id: int
    incident_id: int
    kind: str
    channel: str
    ok: bool
    tries: int
    error: str | None


@dataclass
class NotifyReport:
    """What one :meth:`Notifier.notify` / :meth:`Notifier.retry_pending` call did."""

    outcomes: list[SendOutcome] = field(default_factory=list)
    duplicates: int = 0     # messages not created because that channel already has them (backfill)
    held: int = 0           # incidents whose updates wait for the next digest

    @property
    def sent(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(not o.ok for o in self.outcomes)


@dataclass
class _Draft:
    incident_id: int
    kind: str
    dedupe_key: str
    title: str
    body: str
    covers_event_id: int


class Notifier:
    """Sends incident changes to every channel and keeps the record. See the module docstring."""

    def __init__(self, urls: Iterable[str] | None = None, *, db_url: str | None = None,
                 digest_interval: timedelta | None = None, public_url: str | None = None,
                 min_duration: timedelta | None = None, settings: Settings | None = None) -> None:
        """Parameters left ``None`` come from ``settings`` (default :func:`load_settings`): channels from
        ``notify_urls`` and ``notify_connections``, ``notify_digest``, ``public_url``, the incident rule's
        ``incident_min_duration``."""
        settings = settings or load_settings()
        self.db_url = db_url or settings.sql_url
        self.channels = [make_channel(u, retry=settings.notify_retry, min_interval_s=settings.notify_min_interval_s)
                         for u in (channel_urls(settings) if urls is None else urls)]
        self.digest_interval = settings.notify_digest if digest_interval is None else digest_interval
        self.public_url = public_url or settings.public_url
        self.min_duration = min_duration or settings.incident_min_duration
        self.recovery_digest = settings.deadman_digest
        self.recover = settings.deadman_recover
        self._by_key = {c.key: c for c in self.channels}

    # ------------------------------------------------------------------------------ public
    def notify(self, changes: ChangeSet, registry: Any, *, now: datetime | None = None) -> NotifyReport:
        """Turn ``changes`` (and digests now due) into stored messages, then send them."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        report = NotifyReport()
        if not self.channels:
            if changes:
                log.warning("no notification channel configured (ENVMON_NOTIFY_URLS): %d incident change(s) "
                            "recorded in the audit trail only", len(changes))
            return report
        drafts = self._immediate_drafts(changes, registry, now)
        created: list[int] = []
        with session_scope(self.db_url) as session:
            for ch in self.channels:
                for d in drafts:
                    created += self._store(session, ch, d, now, report)
                for d in self._digest_drafts(session, ch, registry, now, report):
                    created += self._store(session, ch, d, now, report)
                created += self._recovery_digest(session, ch, registry, now, report)
        for nid in created:
            report.outcomes.append(self._send(nid, now))
        return report

    def retry_pending(self, *, now: datetime | None = None) -> NotifyReport:
        """Re-send every failed message (and pending ones left by a crashed run) with its stored text."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        with session_scope(self.db_url) as session:
            ids = list(session.scalars(select(Notification.id).where(
                (Notification.status == "failed")
                | ((Notification.status == "pending") & (Notification.created_at <= now - STALE_PENDING)))
                .order_by(Notification.id)))
        report = NotifyReport()
        for nid in ids:
            report.outcomes.append(self._send(nid, now))
        return report

    def notify_case_escalations(self, registry: Any, *, now: datetime | None = None,
                                lookback: timedelta = timedelta(days=7)) -> NotifyReport:
        """Send every handling-stage escalation recorded by :meth:`monitoring.casework.Casework.escalate_overdue`
        in the last ``lookback``: one message per incident, stage, level and channel (``dedupe_key``
        ``<id>:sla:<stage>:<level>``), linking to the incident's console page; of levels recorded
        together (a stage found two periods overdue at once) only the highest is sent. It reads the recorded
        steps, not only those just made, so a step recorded by a process that stopped before sending is
        sent by the next call, and a step is never sent twice."""
        from monitoring.casework import ORDER, SLA, STAGES, IncidentCase, IncidentStep
        from monitoring.notifications.rendering import render_sla

        now = (now or datetime.now(UTC)).astimezone(UTC)
        report = NotifyReport()
        if not self.channels:
            return report
        with session_scope(self.db_url) as session:
            serialize_writers(session, "notification:sla")    # several console workers run this loop
            steps = session.execute(select(IncidentStep, IncidentCase).join(
                IncidentCase, IncidentCase.incident_id == IncidentStep.incident_id).where(
                IncidentStep.action == "escalate", IncidentStep.at >= now - lookback)
                .order_by(IncidentStep.id)).all()
            sent = set(session.scalars(select(Notification.channel_key + "|" + Notification.dedupe_key).where(
                Notification.kind == "sla", Notification.created_at >= now - lookback - timedelta(days=1))))
            top: dict[tuple[int, str], tuple] = {}      # levels recorded together: only the highest is sent
            for st, case in steps:
                if st.level >= top.get((st.incident_id, st.stage), (st, case))[0].level:
                    top[(st.incident_id, st.stage)] = (st, case)
            todo = [(st, case) for st, case in top.values()
                    if any(f"{ch.key}|{st.incident_id}:sla:{st.stage}:{st.level}" not in sent for ch in self.channels)]
            views = self._manager.views([st.incident_id for st, _ in todo]) if todo else {}
            created: list[int] = []
            for st, case in todo:
                inc = views.get(st.incident_id)
                if inc is None or st.stage != case.stage:
                    continue            # the stage was finished meanwhile: a late "overdue" message is noise
                since = _utc(case.stage_since)
                due = _utc(case.due_at) if st.stage == "decided" else (
                    since + SLA[st.stage] if since is not None and st.stage in SLA else None)
                title, body = render_sla(inc, registry, now=now, stage_zh=STAGES.get(st.stage or "", st.stage or ""),
                                         level=int(st.level), note=st.note or "", stage_since=since,
                                         due_at=due, assignee=case.assignee, public_url=self.public_url,
                                         next_zh=STAGES[ORDER[ORDER.index(st.stage) + 1]] if st.stage in ORDER[:-1]
                                         else "")
                draft = _Draft(st.incident_id, "sla", f"{st.incident_id}:sla:{st.stage}:{st.level}", title, body, 0)
                for ch in self.channels:
                    created += self._store(session, ch, draft, now, report)
        for nid in created:
            report.outcomes.append(self._send(nid, now))
        return report

    def history(self, incident_id: int | None = None) -> list[dict[str, Any]]:
        """Stored messages (oldest first) with their attempts, for reports and tests."""
        with session_scope(self.db_url) as session:
            q = select(Notification).order_by(Notification.id)
            if incident_id is not None:
                q = q.where(Notification.incident_id == incident_id)
            out = []
            for n in session.scalars(q):
                atts = session.scalars(select(NotificationAttempt).where(
                    NotificationAttempt.notification_id == n.id).order_by(NotificationAttempt.id)).all()
                out.append({"id": n.id, "incident_id": n.incident_id, "kind": n.kind, "channel": n.channel,
                                "status": n.status, "attempts": n.attempts, "last_error": n.last_error,
                                "created_at": _utc(n.created_at), "sent_at": _utc(n.sent_at), "title": n.title,
                                "body": n.body, "attempt_log": [{"at": _utc(a.at), "ok": a.ok, "tries": a.tries,
                                                               "error": a.error} for a in atts]})
            return out

    # ------------------------------------------------------------------------------ drafting
    def _immediate_drafts(self, changes: ChangeSet, registry: Any, now: datetime) -> list[_Draft]:
        by_incident: dict[int, list[IncidentChange]] = defaultdict(list)
        for ch in changes:
            by_incident[ch.incident.id].append(ch)
        drafts: list[_Draft] = []
        for iid, items in by_incident.items():
            latest = items[-1].incident
            covers = max(c.event_id for c in items)
            acts = {c.action: c for c in items}
            if "open" in acts:
                drafts.append(self._draft("open", latest, registry, now, f"{iid}:open", covers,
                                          summary=acts["open"].summary))
            elif "clear" in acts and _digested_recovery(latest):
                pass                                  # → the recovery digest (_recovery_digest)
            elif "clear" in acts:
                drafts.append(self._draft("clear", latest, registry, now, f"{iid}:clear", covers,
                                          summary=acts["clear"].summary))
            if "escalate" in acts:
                drafts.append(self._draft("escalate", latest, registry, now,
                                          f"{iid}:escalate:{latest.escalation_level}", covers,
                                          summary=acts["escalate"].summary))
        return drafts

    def _draft(self, kind: str, inc: IncidentView, registry: Any, now: datetime, key: str, covers: int,
               **kw: Any) -> _Draft:
        title, body = render(kind, inc, registry, now=now, public_url=self.public_url,
                             min_duration=self.min_duration, **kw)
        return _Draft(inc.id, kind, key, title, body, covers)

    def _digest_drafts(self, session, ch: Channel, registry: Any, now: datetime,
                       report: NotifyReport) -> list[_Draft]:
        """Digests due on ``ch``: incidents this channel was told about with update events not yet
        covered, whose last message to this channel is at least ``digest_interval`` old."""
        n = Notification
        watermark = (select(func.coalesce(func.max(n.covers_event_id), 0))
                     .where(n.incident_id == IncidentEvent.incident_id, n.channel_key == ch.key)
                     .scalar_subquery())
        known = exists().where(n.incident_id == IncidentEvent.incident_id, n.channel_key == ch.key)
        events = session.scalars(select(IncidentEvent).where(
            IncidentEvent.action.in_(("update", "reopen")), IncidentEvent.id > watermark, known)
            .order_by(IncidentEvent.id)).all()
        pending: dict[int, list[IncidentEvent]] = defaultdict(list)
        for e in events:
            pending[e.incident_id].append(e)
        if not pending:
            return []
        last_sent = dict(session.execute(select(n.incident_id, func.max(n.created_at)).where(
            n.channel_key == ch.key, n.incident_id.in_(list(pending))).group_by(n.incident_id)).all())
        views = self._manager.views(pending)
        drafts = []
        for iid, evs in pending.items():
            last = _utc(last_sent.get(iid))
            if last is not None and now - last < self.digest_interval:
                report.held += 1
                continue
            updates = [{"at_local": fmt_local(e.at), "note": e.note or "数据更新"} for e in evs]
            drafts.append(self._draft("digest", views[iid], registry, now, f"{iid}:digest:{evs[-1].id}",
                                      evs[-1].id, updates=updates, since=last))
        return drafts

    def _recovery_digest(self, session, ch: Channel, registry: Any, now: datetime, report: NotifyReport) -> list[int]:
        """One message for the points whose data-missing incident cleared and whose recovery this channel
        has not been told yet — once the oldest of them is ``deadman_digest`` old
        (``ENVMON_DEADMAN_DIGEST_MINUTES``). Each incident keeps its own ``{id}:clear`` record (so a
        recovery is never told twice); the first carries the message, the others are ``bundled``."""
        n = Notification
        rows = session.execute(
            select(Incident.id, Incident.cleared_at, IncidentSeries.point, func.max(n.created_at))
            .join(IncidentSeries, IncidentSeries.id == Incident.series_id)
            .join(n, (n.incident_id == Incident.id) & (n.channel_key == ch.key) & (n.kind == "open"))
            .where(Incident.kind == DEADMAN_CHECK, Incident.cleared_at.is_not(None),
                   Incident.cleared_at >= now - RECOVERY_LOOKBACK)
            .group_by(Incident.id, Incident.cleared_at, IncidentSeries.point).order_by(Incident.id)).all()
        told = set(session.scalars(select(n.dedupe_key).where(
            n.channel_key == ch.key, n.dedupe_key.in_([f"{r[0]}:clear" for r in rows]))))
        # an "open" sent after the clear (a backfill found both) already said it recovered
        rows = [r for r in rows if f"{r[0]}:clear" not in told and _utc(r[3]) < _utc(r[1])]
        rows = [r for r in rows if not is_group_key(r[2])]
        # when the clear was decided (its audit event), not when the data came back
        decided = dict(session.execute(select(IncidentEvent.incident_id, func.max(IncidentEvent.at)).where(
            IncidentEvent.incident_id.in_([r[0] for r in rows]), IncidentEvent.action == "clear")
            .group_by(IncidentEvent.incident_id)).all()) if rows else {}
        pending = [(iid, _utc(decided.get(iid, at))) for iid, at, _, _ in rows]
        if not pending or now - min(at for _, at in pending) < self.recovery_digest:
            report.held += len(pending)
            return []
        views = self._manager.views(iid for iid, _ in pending)
        incidents = [views[iid] for iid, _ in pending]
        title, body = render_recovery_digest(incidents, registry, now=now, public_url=self.public_url,
                                             recover=self.recover, interval=self.recovery_digest)
        covers = {iid: 0 for iid, _ in pending}
        ids: list[int] = []
        for k, inc in enumerate(incidents):
            d = _Draft(inc.id, "clear", f"{inc.id}:clear", title, body, covers[inc.id])
            ids += self._store(session, ch, d, now, report, status="pending" if k == 0 else "bundled")
        return ids[:1]

    @cached_property
    def _manager(self) -> IncidentManager:
        return IncidentManager(self.db_url)

    # ------------------------------------------------------------------------------ store and send
    @staticmethod
    def _store(session, ch: Channel, d: _Draft, now: datetime, report: NotifyReport,
               status: str = "pending") -> list[int]:
        dup = session.scalar(select(Notification.id).where(Notification.channel_key == ch.key,
                                                           Notification.dedupe_key == d.dedupe_key))
        if dup is not None:
            report.duplicates += 1
            return []
        row = Notification(incident_id=d.incident_id, kind=d.kind, channel=ch.display, channel_key=ch.key,
                           dedupe_key=d.dedupe_key, title=d.title, body=d.body, status=status, attempts=0,
                           covers_event_id=d.covers_event_id, created_at=now)
        session.add(row)
        session.flush()
        return [row.id]

    def _send(self, notification_id: int, now: datetime) -> SendOutcome:
        with session_scope(self.db_url) as session:
            n = session.get(Notification, notification_id)
            title, body, key, display = n.title, n.body, n.channel_key, n.channel
            iid, kind = n.incident_id, n.kind
        ch = self._by_key.get(key)
        if ch is None:
            ok, tries, error = False, 0, f"channel {display} is no longer configured"
        else:
            ok, tries, error = _deliver(ch, title, body)
        with session_scope(self.db_url) as session:
            n = session.get(Notification, notification_id)
            n.attempts += tries
            n.status = "sent" if ok else "failed"
            n.last_error = None if ok else error
            if ok:
                n.sent_at = now
            session.add(NotificationAttempt(notification_id=notification_id, at=now, ok=ok, tries=tries,
                                            error=None if ok else error))
        return SendOutcome(notification_id, iid, kind, display, ok, tries, error)
