"""The safety alarm book: episodes, levels, escalation and messages, shared by the fast and batch paths.

Alarm identity
--------------
An *episode* of a (point, parameter) is a run of readings at or above the first-level threshold
(:mod:`monitoring.safety.thresholds`), ended by the first reading back below it. One alarm row per
episode (``safety_alarm``); a partial unique index allows at most one *active* (not cleared) alarm per
(point, parameter). A new episode matches a stored alarm when their spans overlap — so the fast path
(one packet at a time, as packets become durable) and the batch path (the stored history, every
ingest run) derive the **same** alarm whichever runs first, and a path that starts in the middle of
an episode joins the alarm the other one opened.

Severity and escalation (安全报警等级)
-------------------------------------
==========  ==================  =================================================================
level       name                what happens
==========  ==================  =================================================================
1           一级报警 (warning)   ``open`` message to the alarm channels; escalated when nobody
                                acknowledged it within ``escalate_after`` (10 min by default)
2           二级报警 (act now)   ``open`` (or, when a level-1 alarm rises, ``escalate``) message to
                                the alarm channels **and at once** an ``escalate`` message to the
                                escalation channels (the bureau's duty leader); no waiting
==========  ==================  =================================================================

``clear`` is sent when the first reading back below the first-level threshold arrives.

Never twice, never missed
-------------------------
Every message is a row (``safety_message``) unique per (alarm, action, level, channel) written in the
same transaction as the alarm change; a sender *claims* a row with one conditional ``UPDATE`` before
sending (so two processes never send the same row) and marks it sent afterwards. Rows not sent —
the fast path was down, the channel failed, a process died after claiming — are sent by
:meth:`AlarmBook.deliver_pending`, which the batch path calls every run; a claim older than
``CLAIM_TTL`` is taken over. (A process killed between the channel's acceptance and the ``sent``
mark can repeat that one message after ``CLAIM_TTL``: at-least-once at a crash, exactly once otherwise.)

Readings counted: flag ``N`` and ``T`` (above range: the true value is at least the reported one, so
it is valid evidence of an alarm, hj212.md); every other flag is ignored for alarms.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from limits.loader import STATUS_ZH
from monitoring.config import LOCAL_TZ, load_settings
from monitoring.db import Base, session_scope
from monitoring.safety.thresholds import LEVEL_NAMES_ZH, Thresholds
from sensors.parameters import parameter_name_zh

log = logging.getLogger(__name__)

ALARM_FLAGS = ("N", "T")
CLAIM_TTL = timedelta(seconds=60)
ACTIONS = ("open", "escalate", "clear")
SENSOR_NAMES_ZH = {"combustible_gas": "可燃气体", "toxic_gas": "有毒气体", "oxygen": "氧气",
                   "ammonia": "氨气", "dust_collector": "粉尘除尘器"}
#: Threshold statuses in Chinese: the limits' wording, except that a safety override comes from the enterprise's
#: own safety plan (not an EIA approval or permit).
STATUS_TEXT_ZH = {**STATUS_ZH, "override": "企业安全预案值"}


def _utc(value: Any) -> datetime | None:
    if value is None or (not isinstance(value, datetime) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
    return ts.to_pydatetime()


def fmt_local(value: datetime | None) -> str:
    return "—" if value is None else _utc(value).astimezone(LOCAL_TZ).isoformat(sep=" ", timespec="seconds")


# ---------------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------------
class SafetyAlarm(Base):
    """One alarm episode of a safety sensor's parameter."""

    __tablename__ = "safety_alarm"
    __table_args__ = (
        Index("uq_safety_alarm_one_active", "point", "parameter", unique=True,
              sqlite_where=text("cleared_at IS NULL"), postgresql_where=text("cleared_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    point: Mapped[str] = mapped_column(String(64), index=True)
    parameter: Mapped[str] = mapped_column(String(32))
    zone: Mapped[str | None] = mapped_column(String(32))
    enterprise: Mapped[str | None] = mapped_column(String(64))
    sensor: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))      # data time, UTC
    level2_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_over_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    peak_value: Mapped[float | None] = mapped_column(Float)
    peak_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unit: Mapped[str | None] = mapped_column(String(16))
    threshold: Mapped[float | None] = mapped_column(Float)          # of the level reached
    threshold_low: Mapped[float | None] = mapped_column(Float)
    standard: Mapped[str | None] = mapped_column(String(128))
    clause: Mapped[str | None] = mapped_column(String(255))
    threshold_status: Mapped[str | None] = mapped_column(String(16))
    threshold_source: Mapped[str | None] = mapped_column(Text)
    detected_by: Mapped[str] = mapped_column(String(8))              # fast | batch
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SafetyMessage(Base):
    """One message about one alarm to one channel; the unique key makes every message at most once."""

    __tablename__ = "safety_message"
    __table_args__ = (UniqueConstraint("alarm_id", "action", "level", "channel_key", name="uq_safety_message"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("safety_alarm.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer)
    channel_key: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(255))              # apprise URL with secrets hidden
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


# ---------------------------------------------------------------------------------------------------
# channels (apprise, no throttle: an alarm must not wait behind the robots' rate spacing)
# ---------------------------------------------------------------------------------------------------
@dataclass
class AlarmChannel:
    url: str
    key: str
    display: str
    _apprise: Any = None

    @classmethod
    def from_url(cls, url: str) -> AlarmChannel:
        import apprise

        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            scheme = url.split("://", 1)[0] if "://" in url else url[:12]
            raise ValueError(f"not a usable apprise URL (scheme {scheme!r})")
        return cls(url, hashlib.sha1(url.encode()).hexdigest(), plugin.url(privacy=True)[:255])

    def send(self, title: str, body: str) -> tuple[bool, str | None]:
        import apprise

        if self._apprise is None:
            a = apprise.Apprise()
            a.add(self.url)
            for plugin in a:
                plugin.request_rate_per_sec = load_settings().safety_min_interval_s
            self._apprise = a
        try:
            ok = bool(self._apprise.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT))
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not lose the alarm: recorded, retried
            return False, f"{type(exc).__name__}: {exc}"
        return ok, None if ok else "channel refused the message"


def channels_from_env() -> tuple[list[AlarmChannel], list[AlarmChannel]]:
    """(alarm channels, escalation channels) from ``ENVMON_SAFETY_NOTIFY_URLS`` (default: the incident
    channels ``ENVMON_NOTIFY_URLS``) and ``ENVMON_SAFETY_ESCALATE_URLS`` (default: the alarm channels)."""
    settings = load_settings()
    urls, esc = settings.safety_notify_urls, settings.safety_escalate_urls
    alarm = [AlarmChannel.from_url(u) for u in urls]
    return alarm, ([AlarmChannel.from_url(u) for u in esc] or alarm)


# ---------------------------------------------------------------------------------------------------
# episodes (pure)
# ---------------------------------------------------------------------------------------------------
@dataclass
class Episode:
    start: datetime
    last_over: datetime
    level: int
    peak_value: float
    peak_at: datetime
    level2_at: datetime | None = None
    end: datetime | None = None          # first reading back below the first level


def episodes_of(times: np.ndarray, values: np.ndarray, lvls: np.ndarray, low_side: bool = False
                ) -> tuple[list[Episode], list[datetime]]:
    """Episodes of one (point, parameter) from time-sorted readings, and the times of level-0 readings
    that precede the first episode (they can clear an alarm that started before this batch).

    The peak is the worst reading: the highest, or for a range threshold (O₂) whose readings fell below
    it (``low_side``) the lowest."""
    eps: list[Episode] = []
    leading_below: list[datetime] = []
    cur: Episode | None = None
    sign = -1.0 if low_side else 1.0
    for t, v, lv in zip(times, values, lvls):
        t = _utc(t)
        if lv > 0:
            if cur is None:
                cur = Episode(start=t, last_over=t, level=int(lv), peak_value=float(v), peak_at=t)
            cur.last_over = t
            if lv > cur.level:
                cur.level = int(lv)
            if lv == 2 and cur.level2_at is None:
                cur.level2_at = t
            if sign * float(v) > sign * cur.peak_value:
                cur.peak_value, cur.peak_at = float(v), t
        elif cur is not None:
            cur.end = t
            eps.append(cur)
            cur = None
        elif not eps:
            leading_below.append(t)
    if cur is not None:
        eps.append(cur)
    return eps, leading_below


# ---------------------------------------------------------------------------------------------------
# the book
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlarmView:
    id: int
    point: str
    parameter: str
    zone: str | None
    enterprise: str | None
    sensor: str | None
    level: int
    started_at: datetime
    level2_at: datetime | None
    last_over_at: datetime
    cleared_at: datetime | None
    peak_value: float | None
    unit: str | None
    threshold: float | None
    threshold_low: float | None
    standard: str | None
    clause: str | None
    threshold_status: str | None
    detected_by: str
    created_at: datetime
    acknowledged_by: str | None

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    @property
    def level_zh(self) -> str:
        return LEVEL_NAMES_ZH[self.level]


def _view(a: SafetyAlarm) -> AlarmView:
    return AlarmView(a.id, a.point, a.parameter, a.zone, a.enterprise, a.sensor, a.level, _utc(a.started_at),
                     _utc(a.level2_at), _utc(a.last_over_at), _utc(a.cleared_at), a.peak_value, a.unit,
                     a.threshold, a.threshold_low, a.standard, a.clause, a.threshold_status, a.detected_by,
                     _utc(a.created_at), a.acknowledged_by)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0      # claimed by another sender, or already sent


class AlarmBook:
    """Applies readings to the alarms in the SQL store and delivers their messages."""

    def __init__(self, db_url: str, registry: Any, thresholds: Thresholds, *,
                 channels: Iterable[AlarmChannel] = (), escalation_channels: Iterable[AlarmChannel] | None = None,
                 public_url: str | None = None, escalate_after: timedelta | None = None,
                 sender_id: str | None = None) -> None:
        self.db_url = db_url
        self.registry = registry
        self.thresholds = thresholds
        self.channels = list(channels)
        esc = list(escalation_channels) if escalation_channels is not None else []
        self.escalation_channels = esc or self.channels
        settings = load_settings()
        self.public_url = (public_url or settings.console_url).rstrip("/")
        self.escalate_after = escalate_after if escalate_after is not None else settings.safety_escalate
        self.sender_id = sender_id or f"pid{os.getpid()}"
        self._by_key = {c.key: c for c in self.channels + self.escalation_channels}

    # ------------------------------------------------------------------ apply
    def apply(self, readings: pd.DataFrame, *, detected_by: str, now: datetime | None = None) -> list[int]:
        """Apply readings (columns ``point``, ``parameter``, ``time``, ``value``, ``flag``); return the ids of
        the messages created (to be delivered). Idempotent: applying the same readings again creates none."""
        now = now or datetime.now(UTC)
        if readings.empty:
            return []
        r = readings[readings["flag"].astype("string").isin(ALARM_FLAGS)]
        r = r[np.isfinite(r["value"].to_numpy(dtype=float))]
        watched = np.fromiter((self.thresholds.watched(p, q) for p, q in zip(r["point"], r["parameter"])),
                              dtype=bool, count=len(r))
        r = r[watched]
        if r.empty:
            return []
        lv = self.thresholds.evaluate(r["point"].to_numpy(dtype=object), r["parameter"].to_numpy(dtype=object),
                                      r["value"].to_numpy(dtype=float))
        r = r.assign(level=lv, time=pd.to_datetime(r["time"], utc=True)).sort_values("time", kind="stable")
        created: list[int] = []
        with session_scope(self.db_url) as session:
            for (point, parameter), g in r.groupby(["point", "parameter"], sort=False):
                if (g["level"] == 0).all() and not self._has_active(session, point, parameter):
                    continue
                th = self.thresholds.describe(point, parameter, 2) or self.thresholds.describe(point, parameter, 1) or {}
                low = th.get("low")
                over = g[g["level"] > 0]["value"]
                low_side = low is not None and not pd.isna(low) and len(over) > 0 and bool((over < low).any())
                eps, leading = episodes_of(g["time"].to_numpy(), g["value"].to_numpy(dtype=float),
                                           g["level"].to_numpy(), low_side)
                created += self._apply_series(session, str(point), str(parameter), eps, leading, detected_by, now)
        return created

    @staticmethod
    def _has_active(session: Session, point: str, parameter: str) -> bool:
        return session.scalar(select(SafetyAlarm.id).where(
            SafetyAlarm.point == point, SafetyAlarm.parameter == parameter,
            SafetyAlarm.cleared_at.is_(None))) is not None

    def _apply_series(self, session: Session, point: str, parameter: str, eps: list[Episode],
                      leading_below: list[datetime], detected_by: str, now: datetime) -> list[int]:
        msgs: list[int] = []
        if leading_below:
            active = session.scalar(select(SafetyAlarm).where(
                SafetyAlarm.point == point, SafetyAlarm.parameter == parameter, SafetyAlarm.cleared_at.is_(None)))
            if active is not None:
                after = [t for t in leading_below if t > _utc(active.last_over_at)]
                if after:
                    msgs += self._clear(session, active, after[0], now)
        for ep in eps:
            alarm = self._match(session, point, parameter, ep)
            if alarm is None:
                alarm, new_msgs = self._open(session, point, parameter, ep, detected_by, now)
                msgs += new_msgs
                if alarm is None:
                    continue
            else:
                msgs += self._extend(session, alarm, ep, now)
            if ep.end is not None and alarm.cleared_at is None and ep.end > _utc(alarm.last_over_at):
                msgs += self._clear(session, alarm, ep.end, now)
        return msgs

    @staticmethod
    def _match(session: Session, point: str, parameter: str, ep: Episode) -> SafetyAlarm | None:
        """The stored alarm whose span overlaps the episode (the active one first)."""
        return session.scalars(select(SafetyAlarm).where(
            SafetyAlarm.point == point, SafetyAlarm.parameter == parameter,
            SafetyAlarm.started_at <= ep.last_over,
            or_(SafetyAlarm.cleared_at.is_(None), SafetyAlarm.cleared_at > ep.start))
            .order_by(SafetyAlarm.cleared_at.is_not(None), SafetyAlarm.id)).first()

    def _threshold(self, point: str, parameter: str, level: int) -> dict[str, Any]:
        return self.thresholds.describe(point, parameter, level) or self.thresholds.describe(point, parameter, 1) or {}

    def _open(self, session: Session, point: str, parameter: str, ep: Episode, detected_by: str,
              now: datetime) -> tuple[SafetyAlarm | None, list[int]]:
        p = self.registry.points.get(point)
        th = self._threshold(point, parameter, ep.level)
        alarm = SafetyAlarm(point=point, parameter=parameter, zone=getattr(p, "zone", None),
                            enterprise=getattr(p, "enterprise", None), sensor=getattr(p, "sensor", None),
                            level=ep.level, started_at=ep.start, level2_at=ep.level2_at, last_over_at=ep.last_over,
                            peak_value=ep.peak_value, peak_at=ep.peak_at, unit=th.get("unit"),
                            threshold=th.get("value"), threshold_low=_nan_none(th.get("low")),
                            standard=th.get("standard"), clause=th.get("clause"),
                            threshold_status=th.get("status"), threshold_source=th.get("source"),
                            detected_by=detected_by, created_at=now, updated_at=now,
                            escalated_at=now if ep.level == 2 else None)
        try:
            with session.begin_nested():
                session.add(alarm)
                session.flush()
        except IntegrityError:
            # another path holds the active alarm of this series (a race): join it instead
            other = session.scalar(select(SafetyAlarm).where(
                SafetyAlarm.point == point, SafetyAlarm.parameter == parameter, SafetyAlarm.cleared_at.is_(None)))
            if other is None:
                raise
            return other, self._extend(session, other, ep, now)
        msgs = self._messages(session, alarm, "open", ep.level, self.channels, now)
        if ep.level == 2:
            msgs += self._messages(session, alarm, "escalate", 2, self.escalation_channels, now)
        return alarm, msgs

    def _extend(self, session: Session, alarm: SafetyAlarm, ep: Episode, now: datetime) -> list[int]:
        msgs: list[int] = []
        if ep.start < _utc(alarm.started_at):
            alarm.started_at = ep.start
        if ep.last_over > _utc(alarm.last_over_at):
            alarm.last_over_at = ep.last_over
        low_side = alarm.threshold_low is not None and ep.peak_value < alarm.threshold_low
        if alarm.peak_value is None or (ep.peak_value < alarm.peak_value if low_side else ep.peak_value > alarm.peak_value):
            alarm.peak_value, alarm.peak_at = ep.peak_value, ep.peak_at
        if ep.level > alarm.level:
            th = self._threshold(alarm.point, alarm.parameter, ep.level)
            alarm.level, alarm.level2_at, alarm.escalated_at = ep.level, ep.level2_at, now
            alarm.threshold, alarm.threshold_low = th.get("value"), _nan_none(th.get("low"))
            alarm.clause, alarm.threshold_status = th.get("clause"), th.get("status")
            alarm.standard, alarm.threshold_source = th.get("standard"), th.get("source")
            msgs += self._messages(session, alarm, "escalate", 2, self.channels, now)
            msgs += self._messages(session, alarm, "escalate", 2, self.escalation_channels, now)
        alarm.updated_at = now
        return msgs

    def _clear(self, session: Session, alarm: SafetyAlarm, at: datetime, now: datetime) -> list[int]:
        alarm.cleared_at, alarm.updated_at = at, now
        session.flush()
        return self._messages(session, alarm, "clear", alarm.level, self.channels, now)

    def _messages(self, session: Session, alarm: SafetyAlarm, action: str, level: int,
                  channels: list[AlarmChannel], now: datetime) -> list[int]:
        ids: list[int] = []
        if not channels:
            return ids
        title, body = self.render(alarm, action, level)
        for ch in channels:
            exists = session.scalar(select(SafetyMessage.id).where(
                SafetyMessage.alarm_id == alarm.id, SafetyMessage.action == action, SafetyMessage.level == level,
                SafetyMessage.channel_key == ch.key))
            if exists is not None:
                continue
            m = SafetyMessage(alarm_id=alarm.id, action=action, level=level, channel_key=ch.key,
                              channel=ch.display, title=title, body=body, created_at=now, attempts=0)
            try:
                with session.begin_nested():
                    session.add(m)
                    session.flush()
            except IntegrityError:
                continue
            ids.append(m.id)
        return ids

    # ------------------------------------------------------------------ text
    def render(self, alarm: SafetyAlarm, action: str, level: int) -> tuple[str, str]:
        """Chinese title and body; times Asia/Shanghai with the offset."""
        from sensors.hj212.local_codes import LOCAL_NAMES_ZH

        p = self.registry.points.get(alarm.point)
        ent = self.registry.enterprises.get(alarm.enterprise) if alarm.enterprise else None
        zone = self.registry.zones.get(alarm.zone) if alarm.zone else None
        who = ent.name if ent else (zone.sewage_plant if zone and zone.sewage_plant else alarm.point)
        where = getattr(p, "location", "") or ""
        pname = LOCAL_NAMES_ZH.get(alarm.parameter) or parameter_name_zh(alarm.parameter)
        lvl = LEVEL_NAMES_ZH[level]
        unit = alarm.unit or ""
        head = {"open": f"【安全{lvl}】", "escalate": f"【安全{lvl}·升级·立即处置】", "clear": "【安全报警解除】"}[action]
        title = f"{head}{who} {where} {pname}"
        if alarm.threshold_low is not None:
            th_text = f"{alarm.threshold_low:g}–{alarm.threshold:g} {unit}（超出范围报警）"
        else:
            th_text = f"{alarm.threshold:g} {unit}" if alarm.threshold is not None else "—"
        lines = [
            f"集聚区：{zone.name_zh if zone else alarm.zone}　单位：{who}",
            f"监测点：{alarm.point}（{getattr(p, 'name', '')}）",
            f"因子：{pname}　峰值：{alarm.peak_value:.4g} {unit}（{fmt_local(alarm.peak_at)}）",
            f"报警等级：{LEVEL_NAMES_ZH[alarm.level]}　设定值：{th_text}",
            f"依据：{alarm.standard or '—'} {alarm.clause or ''}（{STATUS_TEXT_ZH.get(alarm.threshold_status or '', alarm.threshold_status or '')}）",
            f"开始：{fmt_local(alarm.started_at)}",
        ]
        if action == "escalate":
            lines.append("二级报警：立即通知值班领导，按应急预案处置（撤离、切断、通风）。" if level == 2
                         else f"一级报警 {self.escalate_after.total_seconds() / 60:g} 分钟未确认，升级通知。")
        if action == "clear":
            lines.append(f"已于 {fmt_local(alarm.cleared_at)} 恢复至一级设定值以下。")
        lines.append(f"详情：{self.public_url}/console/safety/{alarm.id}")
        return title, "\n".join(lines)

    # ------------------------------------------------------------------ delivery
    def deliver(self, message_ids: Iterable[int], now: datetime | None = None) -> DeliveryReport:
        """Claim and send each message; a message another sender claimed (or sent) is skipped."""
        report = DeliveryReport()
        for mid in message_ids:
            t = now or datetime.now(UTC)
            with session_scope(self.db_url) as session:
                claimed = session.execute(update(SafetyMessage).where(
                    SafetyMessage.id == mid, SafetyMessage.sent_at.is_(None),
                    or_(SafetyMessage.claimed_at.is_(None), SafetyMessage.claimed_at < t - CLAIM_TTL))
                    .values(claimed_at=t, claimed_by=self.sender_id)).rowcount
                m = session.get(SafetyMessage, mid) if claimed else None
                if m is None:
                    report.skipped += 1
                    continue
                key, title, body = m.channel_key, m.title, m.body
            ch = self._by_key.get(key)
            ok, error = (False, "channel not configured in this process") if ch is None else ch.send(title, body)
            with session_scope(self.db_url) as session:
                m = session.get(SafetyMessage, mid)
                m.attempts = (m.attempts or 0) + 1
                if ok:
                    m.sent_at, m.error = datetime.now(UTC), None
                    report.sent += 1
                else:
                    m.claimed_at, m.claimed_by, m.error = None, None, error
                    report.failed += 1
                    log.warning("safety message %s to %s failed: %s", mid, m.channel, error)
        return report

    def deliver_pending(self, now: datetime | None = None) -> DeliveryReport:
        """Send every message not sent yet (fast path down, channel failure, stale claim)."""
        t = now or datetime.now(UTC)
        if not self._by_key:
            return DeliveryReport()
        with session_scope(self.db_url) as session:
            ids = list(session.scalars(select(SafetyMessage.id).where(
                SafetyMessage.sent_at.is_(None), SafetyMessage.channel_key.in_(list(self._by_key)),
                or_(SafetyMessage.claimed_at.is_(None), SafetyMessage.claimed_at < t - CLAIM_TTL))
                .order_by(SafetyMessage.id)))
        return self.deliver(ids, now)

    def escalate_due(self, now: datetime | None = None) -> list[int]:
        """Level-1 alarms still active and unacknowledged after ``escalate_after`` → escalate messages."""
        now = now or datetime.now(UTC)
        ids: list[int] = []
        with session_scope(self.db_url) as session:
            due = session.scalars(select(SafetyAlarm).where(
                SafetyAlarm.cleared_at.is_(None), SafetyAlarm.level == 1, SafetyAlarm.acknowledged_at.is_(None),
                SafetyAlarm.escalated_at.is_(None), SafetyAlarm.created_at <= now - self.escalate_after)).all()
            for a in due:
                a.escalated_at = now
                ids += self._messages(session, a, "escalate", 1, self.escalation_channels, now)
        return ids

    # ------------------------------------------------------------------ reading
    def acknowledge(self, alarm_id: int, by: str, now: datetime | None = None) -> AlarmView:
        with session_scope(self.db_url) as session:
            a = session.get(SafetyAlarm, alarm_id)
            if a is None:
                raise KeyError(f"no safety alarm #{alarm_id}")
            if a.acknowledged_at is None:
                a.acknowledged_by, a.acknowledged_at = by, now or datetime.now(UTC)
            return _view(a)

    def alarms(self, active_only: bool = False) -> list[AlarmView]:
        with session_scope(self.db_url) as session:
            q = select(SafetyAlarm).order_by(SafetyAlarm.started_at.desc(), SafetyAlarm.id.desc())
            if active_only:
                q = q.where(SafetyAlarm.cleared_at.is_(None))
            return [_view(a) for a in session.scalars(q)]

    def messages(self, alarm_id: int | None = None) -> list[dict[str, Any]]:
        with session_scope(self.db_url) as session:
            q = select(SafetyMessage).order_by(SafetyMessage.id)
            if alarm_id is not None:
                q = q.where(SafetyMessage.alarm_id == alarm_id)
            return [{"id": m.id, "alarm_id": m.alarm_id, "action": m.action, "level": m.level,
                     "channel": m.channel, "title": m.title, "sent_at": _utc(m.sent_at),
                     "attempts": m.attempts, "error": m.error} for m in session.scalars(q)]


def _nan_none(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def reconcile(book: AlarmBook, readings: pd.DataFrame, *, now: datetime | None = None) -> tuple[list[int], DeliveryReport]:
    """The batch path: apply the stored history, escalate what is overdue, send everything unsent."""
    created = book.apply(readings, detected_by="batch", now=now)
    book.escalate_due(now)
    return created, book.deliver_pending(now)
