"""Incident notifications through apprise, every message and attempt recorded in the SQL store.

Channels are apprise URLs:

* e-mail: ``mailtos://user:password@smtp.example.org?to=duty@example.org`` (``mailto://`` for plain SMTP)
* WeCom group robot (企业微信群机器人): ``wecombot://{key}``
* DingTalk robot (钉钉机器人): ``dingtalk://{secret}@{token}/``
* generic JSON webhook: ``json://host:port/path`` (``jsons://`` for HTTPS); apprise POSTs
  ``{"version", "title", "message", "type"}``

Configuration (environment, never the repository):

==============================  ========================================================================
variable                        meaning (default)
==============================  ========================================================================
``ENVMON_NOTIFY_URLS``          apprise URLs, separated by spaces, commas or new lines (none)
``ENVMON_NOTIFY_CONNECTIONS``   Airflow connection ids (e.g. ``envmon_notify_wecom``) whose extra
                                ``url`` (or ``apprise_url``), else whose URI, is an apprise URL. Read
                                lazily through ``airflow.sdk.Connection.get`` — only works inside an
                                Airflow task; elsewhere a clear :class:`NotificationConfigError`.
``ENVMON_PUBLIC_URL``           base of the incident links (``http://localhost:8080``) →
                                ``{base}/incidents/{id}``
``ENVMON_NOTIFY_DIGEST_MINUTES``  digest interval, minutes (360)
``ENVMON_NOTIFY_RETRY``         apprise retries inside one send (1; ``?retry=N`` in a URL wins)
``ENVMON_NOTIFY_MIN_INTERVAL_S``  seconds between two sends to one channel (apprise's default, 5.5 s
                                for most plugins: keeps bursts under the robots' rate limits)
==============================  ========================================================================

Rules
-----
* ``open``, ``clear`` and each ``escalate`` level are sent at most once per incident and channel (a
  ``dedupe_key`` unique per channel). Re-applying assessments (backfill) therefore never repeats them.
  An incident opened and cleared in the same change set (found by a backfill) gets one ``open``
  message saying it already recovered.
* ``update`` changes are never sent one by one: while an incident stays open, its pending updates (audit
  events not yet covered by a message to that channel) go out as one ``digest`` once the last message
  to that channel for that incident is at least ``digest_interval`` old. So at most one update message
  per incident, channel and digest interval.
* Every message is stored before it is sent (``notification``), every send attempt after it
  (``notification_attempt``: time, success, apprise tries, error). Failed and stale pending messages
  are re-sent by :meth:`Notifier.retry_pending` on the next run, with the stored text: nothing is
  silently dropped.
* Messages are Chinese, times Asia/Shanghai with the offset shown (``2025-06-01 14:00+08:00``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import apprise
import jinja2
from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    exists,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from sensors.parameters import parameter_name_zh
from monitoring.db import Base, session_scope
from monitoring.incidents import (
    ChangeSet,
    IncidentChange,
    IncidentEvent,
    IncidentManager,
    EXCEEDANCE_KINDS,
    IncidentView,
    _utc,
    fmt_hours,
    fmt_local,
)

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_PUBLIC_URL = "http://localhost:8080"

CHECK_NAMES_ZH: dict[str, str] = {
    "concentration": "排放浓度", "rate": "排放速率", "boundary": "厂界浓度", "leq_day": "昼间等效声级",
    "leq_night": "夜间等效声级", "lmax_night": "夜间最大声级", "daily_mean": "日均值", "ph_range": "pH范围",
    "single_reading": "单次监测值", "storage_days": "贮存期限", "temporary_stock": "临时贮存量",
    "declaration": "申报登记", "manifest": "转移联单", "licence": "经营许可证", "data_missing": "数据缺失",
    "ambient_1h": "环境空气1小时平均", "ambient_24h": "环境空气24小时平均", "ambient_8h": "臭氧日最大8小时平均",
    "class_iii": "地下水III类", "trend_warning": "上升趋势预警", "screening": "土壤风险筛选值",
    "control": "土壤风险管制值",
}
AVERAGING_NAMES_ZH: dict[str, str] = {"1h": "小时均值", "1d": "日均值", "day": "昼间", "night": "夜间", "8h": "8小时均值",
                                      "single": "单次值", "event": "事件"}
LIMIT_STATUS_ZH: dict[str, str] = {"text": "标准原文", "quoted": "转引值", "unconfirmed": "待核实",
                                   "provisional": "暂定值", "override": "地方核定值（环评批复/排污许可）"}
KIND_TITLES: dict[tuple[str, str], str] = {
    ("open", "exceedance"): "超标告警", ("open", "data_missing"): "数据缺失告警",
    ("clear", "exceedance"): "超标恢复", ("clear", "data_missing"): "数据恢复",
    ("escalate", "exceedance"): "超标升级", ("escalate", "data_missing"): "数据缺失升级",
    ("digest", "exceedance"): "超标进展", ("digest", "data_missing"): "数据缺失进展",
    ("open", "ambient"): "环境空气质量超标", ("clear", "ambient"): "环境空气质量恢复",
    ("escalate", "ambient"): "环境空气质量超标升级", ("digest", "ambient"): "环境空气质量超标进展",
    ("open", "trend"): "地下水趋势预警", ("clear", "trend"): "地下水趋势预警解除",
    ("escalate", "trend"): "地下水趋势预警升级", ("digest", "trend"): "地下水趋势预警进展",
}
NOTIFICATION_KINDS = ("open", "update", "clear", "escalate", "digest")
STALE_PENDING = timedelta(minutes=10)


class NotificationConfigError(ValueError):
    """A channel URL or Airflow connection cannot be used; the message names it (never its secret)."""


# ---------------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------------
class Notification(Base):
    """One message to one channel about one incident."""

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("channel_key", "dedupe_key", name="uq_notification_dedupe"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))                 # open update clear escalate digest
    channel: Mapped[str] = mapped_column(String(255))             # apprise URL with secrets masked
    channel_key: Mapped[str] = mapped_column(String(40), index=True)  # sha1 of the full URL
    dedupe_key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending sent failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)     # apprise tries, all runs together
    last_error: Mapped[str | None] = mapped_column(Text)
    covers_event_id: Mapped[int] = mapped_column(Integer, default=0)  # audit events this message covers
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationAttempt(Base):
    """One send of a :class:`Notification` (apprise may try several times inside it)."""

    __tablename__ = "notification_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean)
    tries: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)


# ---------------------------------------------------------------------------------------------------
# channels
# ---------------------------------------------------------------------------------------------------
def split_urls(text: str | None) -> list[str]:
    """URLs separated by spaces, commas or new lines (commas inside a query string are rare in
    apprise URLs; use one URL per line or space if a URL needs one)."""
    return [u for u in re.split(r"[\s,]+", text or "") if u]


def airflow_connection_urls(conn_ids: Sequence[str]) -> list[str]:
    """Apprise URLs from Airflow connections (only inside a running Airflow task)."""
    if not conn_ids:
        return []
    try:
        from airflow.sdk import Connection  # lazy: Airflow is heavy and optional here
    except ImportError as exc:  # pragma: no cover - Airflow is installed in this project
        raise NotificationConfigError(f"ENVMON_NOTIFY_CONNECTIONS set but Airflow is not importable: {exc}") from None
    urls: list[str] = []
    for cid in conn_ids:
        try:
            conn = Connection.get(cid)
        except Exception as exc:  # noqa: BLE001 - not found, no supervisor, secrets backend down: all fatal here
            raise NotificationConfigError(f"Airflow connection {cid!r} cannot be read: {exc}") from None
        extra = conn.extra_dejson or {}
        url = extra.get("url") or extra.get("apprise_url") or conn.get_uri()
        if not url:
            raise NotificationConfigError(f"Airflow connection {cid!r} holds no apprise URL (extra 'url')")
        urls.append(str(url))
    return urls


def channel_urls_from_env() -> list[str]:
    urls = split_urls(os.environ.get("ENVMON_NOTIFY_URLS"))
    conns = split_urls(os.environ.get("ENVMON_NOTIFY_CONNECTIONS"))
    return urls + airflow_connection_urls(conns)


@dataclass(frozen=True)
class Channel:
    url: str = field(repr=False)
    display: str
    key: str

    @cached_property
    def apprise(self) -> apprise.Apprise:
        """One apprise object per channel and notifier, so apprise's per-service throttle spaces the
        messages of a burst (WeCom and DingTalk robots accept about 20 messages a minute)."""
        a = apprise.Apprise(asset=apprise.AppriseAsset(default_service_retry=_retry_default()))
        a.add(self.url)
        spacing = _min_interval()
        if spacing is not None:
            for plugin in a:
                plugin.request_rate_per_sec = spacing
        return a


def _retry_default() -> int:
    raw = os.environ.get("ENVMON_NOTIFY_RETRY", "1")
    try:
        return max(0, int(raw))
    except ValueError:
        raise NotificationConfigError(f"ENVMON_NOTIFY_RETRY={raw!r} is not an integer") from None


def _min_interval() -> float | None:
    raw = os.environ.get("ENVMON_NOTIFY_MIN_INTERVAL_S")
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise NotificationConfigError(f"ENVMON_NOTIFY_MIN_INTERVAL_S={raw!r} is not a number") from None
    return max(0.0, value)


def make_channel(url: str) -> Channel:
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:12]
        raise NotificationConfigError(f"not a usable apprise URL (scheme {scheme!r}); see the apprise docs")
    return Channel(url=url, display=plugin.url(privacy=True)[:255], key=hashlib.sha1(url.encode()).hexdigest())


# ---------------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------------
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False, trim_blocks=True,
                          lstrip_blocks=True, keep_trailing_newline=False, undefined=jinja2.StrictUndefined)


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.4g}"


def incident_link(incident_id: int, public_url: str | None = None) -> str:
    base = (public_url or os.environ.get("ENVMON_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/")
    return f"{base}/incidents/{incident_id}"


def _context(inc: IncidentView, registry: Any, *, now: datetime, public_url: str | None,
             min_duration: timedelta | None) -> dict[str, Any]:
    zones = getattr(registry, "zones", {}) or {}
    enterprises = getattr(registry, "enterprises", {}) or {}
    points = getattr(registry, "points", {}) or {}
    zone = zones.get(inc.zone) if inc.zone else None
    ent = enterprises.get(inc.enterprise) if inc.enterprise else None
    point = points.get(inc.point)
    multiple = None
    if inc.kind in EXCEEDANCE_KINDS and inc.peak_value is not None and inc.limit and inc.limit_low is None \
            and not (inc.unit or "").lower().startswith("db"):
        multiple = f"{(inc.peak_value - inc.limit) / inc.limit:.2f}"   # 超标倍数 = (C − C0) / C0
    limit_text = _num(inc.limit)
    if inc.limit_low is not None:
        limit_text = f"{_num(inc.limit_low)}～{_num(inc.limit)}"
    silence = ""
    if inc.kind == "data_missing":
        if inc.started_at is None:
            silence = "无任何有效数据记录"
        else:
            end = inc.cleared_at or now
            silence = (f"自 {fmt_local(inc.started_at)} 起无有效数据"
                       f"（{'中断' if inc.cleared_at else '已中断'} {fmt_hours((end - inc.started_at).total_seconds())}）")
    return dict(
        id=inc.id, kind="exceedance" if inc.kind in EXCEEDANCE_KINDS else inc.kind, status=inc.status,
        status_zh=inc.status_zh, severity_zh=inc.severity_zh,
        active=inc.active, escalation_level=inc.escalation_level,
        zone=inc.zone, zone_name=(f"{zone.name_zh}（{zone.town}）" if zone else (inc.zone or "—")),
        enterprise=inc.enterprise, enterprise_name=(ent.name if ent else inc.enterprise),
        point=inc.point, point_name=(point.name if point else f"{inc.point}（未登记）"),
        parameter=inc.parameter, parameter_name=parameter_name_zh(inc.parameter),
        check_name=CHECK_NAMES_ZH.get(inc.check, inc.check),
        averaging_name=AVERAGING_NAMES_ZH.get(inc.averaging or "", inc.averaging or ""),
        peak_value=_num(inc.peak_value), last_value=_num(inc.last_value), limit_text=limit_text,
        unit=inc.unit or "", exceed_multiple=multiple, standard=inc.standard, clause=inc.clause,
        limit_status_zh=LIMIT_STATUS_ZH.get(inc.limit_status or "", inc.limit_status or "未注明"),
        started_local=fmt_local(inc.started_at), last_exceed_local=fmt_local(inc.last_exceed_at),
        confirmed_local=fmt_local(inc.confirmed_at), cleared_local=(fmt_local(inc.cleared_at) if inc.cleared_at else ""),
        created_local=fmt_local(inc.created_at), exceed_hours=fmt_hours(inc.exceed_seconds),
        min_duration_text=fmt_hours(min_duration.total_seconds()) if min_duration else "最短持续时间",
        silence_text=silence, now_local=fmt_local(now), link=incident_link(inc.id, public_url),
    )


def render(kind: str, inc: IncidentView, registry: Any, *, now: datetime, summary: str = "",
           updates: Sequence[dict[str, Any]] = (), since: datetime | None = None,
           public_url: str | None = None, min_duration: timedelta | None = None) -> tuple[str, str]:
    """(title, body) of a message of ``kind`` (open clear escalate digest) about ``inc``."""
    c = _context(inc, registry, now=now, public_url=public_url, min_duration=min_duration)
    label = KIND_TITLES[(kind, inc.kind)]
    what = (f"{c['parameter_name']}（{inc.parameter}）" if inc.kind in EXCEEDANCE_KINDS else "监测数据")
    title = f"【{label}·{inc.severity_zh}】{c['zone_name'].split('（')[0]} {c['point_name']} {what} #{inc.id}"
    body = _env.get_template(f"notification_{kind}.j2").render(
        c=c, kind=c["kind"], summary=summary, updates=list(updates), since_local=fmt_local(since))
    return title, re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"


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
                 min_duration: timedelta | None = None) -> None:
        if db_url is None:
            from monitoring.config import load_settings
            db_url = load_settings().sql_url
        self.db_url = db_url
        self.channels = [make_channel(u) for u in (channel_urls_from_env() if urls is None else urls)]
        if digest_interval is None:
            raw = os.environ.get("ENVMON_NOTIFY_DIGEST_MINUTES", "360")
            try:
                digest_interval = timedelta(minutes=float(raw))
            except ValueError:
                raise NotificationConfigError(f"ENVMON_NOTIFY_DIGEST_MINUTES={raw!r} is not a number") from None
        self.digest_interval = digest_interval
        self.public_url = public_url
        self.min_duration = min_duration or IncidentManager(db_url).config.min_duration
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
                out.append(dict(id=n.id, incident_id=n.incident_id, kind=n.kind, channel=n.channel,
                                status=n.status, attempts=n.attempts, last_error=n.last_error,
                                created_at=_utc(n.created_at), sent_at=_utc(n.sent_at), title=n.title,
                                body=n.body, attempt_log=[dict(at=_utc(a.at), ok=a.ok, tries=a.tries,
                                                               error=a.error) for a in atts]))
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
            updates = [dict(at_local=fmt_local(e.at), note=e.note or "数据更新") for e in evs]
            drafts.append(self._draft("digest", views[iid], registry, now, f"{iid}:digest:{evs[-1].id}",
                                      evs[-1].id, updates=updates, since=last))
        return drafts

    @cached_property
    def _manager(self) -> IncidentManager:
        return IncidentManager(self.db_url)

    # ------------------------------------------------------------------------------ store and send
    @staticmethod
    def _store(session, ch: Channel, d: _Draft, now: datetime, report: NotifyReport) -> list[int]:
        dup = session.scalar(select(Notification.id).where(Notification.channel_key == ch.key,
                                                           Notification.dedupe_key == d.dedupe_key))
        if dup is not None:
            report.duplicates += 1
            return []
        row = Notification(incident_id=d.incident_id, kind=d.kind, channel=ch.display, channel_key=ch.key,
                           dedupe_key=d.dedupe_key, title=d.title, body=d.body, status="pending", attempts=0,
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


def _deliver(ch: Channel, title: str, body: str) -> tuple[bool, int, str | None]:
    """Send through apprise; (ok, tries, error text). apprise retries inside the call (``retry``)."""
    try:
        result = ch.apprise.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    except Exception as exc:  # noqa: BLE001 - a plugin bug must not lose the message: record it
        return False, 1, f"{type(exc).__name__}: {exc}"
    services = list(result) if hasattr(result, "__iter__") else []
    tries = sum(len(s) for s in services) or 1
    if bool(result):
        return True, tries, None
    errors: list[str] = []
    for s in services:
        for entry in s.logs():
            msg = getattr(entry, "message", str(entry))
            if msg not in errors:
                errors.append(msg)
    return False, tries, "; ".join(errors) or f"apprise status {getattr(result, 'status', result)}"
