"""Public and media complaints (公众和媒体反映的环境问题), the channel the county plan asks for.

云阳府办发〔2021〕75号 chapter 6: "鼓励公众和媒体参与环境监督，畅通工业污染环境问题反映通道". A complaint
is recorded with the enterprise, the date received (local date), the channel and whether it was
substantiated (查实). Substantiated complaints feed the 双随机 target directory: ≥ 3 in the look-back
window make an enterprise special supervision (threshold in the rules file).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from monitoring.config import LOCAL_TZ
from monitoring.db import Base, session_scope

#: channel code → the name a person reads
CHANNELS: dict[str, str] = {
    "12369": "12369环保举报热线",
    "hotline": "12345政务服务热线",
    "web": "网络/微信举报",
    "letter": "来信",
    "visit": "来访",
    "media": "媒体反映",
    "other": "其他",
}


class ComplaintError(ValueError):
    """A complaint that cannot be recorded (unknown enterprise, channel, future date …)."""


class Complaint(Base):
    __tablename__ = "complaint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise: Mapped[str] = mapped_column(String(64), index=True)
    received_on: Mapped[date] = mapped_column(Date, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    substantiated: Mapped[bool] = mapped_column(Boolean)
    summary: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


COLUMNS = ["id", "enterprise", "received_on", "channel", "substantiated", "summary", "recorded_by",
           "recorded_at"]


def add_complaint(sql_url: str, *, enterprise: str, received_on: date, channel: str, substantiated: bool,
                  recorded_by: str, summary: str = "", known_enterprises: set[str] | None = None,
                  today: date | None = None, now: datetime | None = None) -> int:
    """Store one complaint; return its id. Validates the enterprise code (against
    ``known_enterprises`` when given), the channel (:data:`CHANNELS`) and that the date is not in the
    future."""
    if known_enterprises is not None and enterprise not in known_enterprises:
        raise ComplaintError(f"unknown enterprise {enterprise!r} (not in the registry)")
    if channel not in CHANNELS:
        raise ComplaintError(f"unknown channel {channel!r}; one of: {', '.join(CHANNELS)}")
    now = now or datetime.now(UTC)
    today = today or now.astimezone(LOCAL_TZ).date()
    if received_on > today:
        raise ComplaintError(f"received date {received_on} is in the future (today is {today})")
    if not recorded_by.strip():
        raise ComplaintError("recorded_by must name who records the complaint")
    with session_scope(sql_url) as s:
        row = Complaint(enterprise=enterprise, received_on=received_on, channel=channel,
                        substantiated=substantiated, summary=summary, recorded_by=recorded_by,
                        recorded_at=now)
        s.add(row)
        s.flush()
        return row.id


def complaints_frame(sql_url: str, *, recorded_before: datetime | None = None,
                     enterprise: str | None = None) -> pd.DataFrame:
    """All complaints (optionally only those recorded before an instant, for replaying a draw)."""
    with session_scope(sql_url) as s:
        q = select(Complaint).order_by(Complaint.received_on, Complaint.id)
        if enterprise:
            q = q.where(Complaint.enterprise == enterprise)
        rows = list(s.scalars(q))
    df = pd.DataFrame([{c: getattr(r, c) for c in COLUMNS} for r in rows], columns=COLUMNS)
    if df.empty:
        return df.astype({"substantiated": "bool"})
    df["recorded_at"] = pd.to_datetime(df["recorded_at"], utc=True)
    if recorded_before is not None:
        df = df[df["recorded_at"] < pd.Timestamp(recorded_before).tz_convert("UTC")]
    return df.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------
# public submissions
# ---------------------------------------------------------------------------------------------------
PUBLIC_STATUS: dict[str, str] = {"received": "已受理", "handling": "办理中", "answered": "已答复", "closed": "已办结"}
#: (window, submissions allowed per client address in it)
PUBLIC_LIMITS: tuple[tuple[timedelta, int], ...] = ((timedelta(hours=1), 3), (timedelta(days=1), 10))
MAX_WHAT, MAX_WHERE, MAX_WHEN, MAX_CONTACT, MAX_ANSWER = 2000, 200, 100, 100, 2000
_RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O, 1/I: read over the phone


class ComplaintRateLimited(ComplaintError):
    """Too many submissions from one client; ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many submissions from this address; try again in {retry_after} s")
        self.retry_after = retry_after


class PublicComplaint(Base):
    __tablename__ = "public_complaint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receipt: Mapped[str] = mapped_column(String(16), unique=True)
    what: Mapped[str] = mapped_column(Text)
    place: Mapped[str] = mapped_column(String(MAX_WHERE))
    when_text: Mapped[str] = mapped_column(String(MAX_WHEN))
    zone: Mapped[str | None] = mapped_column(String(32))
    contact: Mapped[str | None] = mapped_column(String(MAX_CONTACT))      # personal data: staff only
    client: Mapped[str] = mapped_column(String(64), index=True)           # sha256 of the address
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16), default="received")
    enterprise: Mapped[str | None] = mapped_column(String(64))
    internal_note: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)                     # public
    handled_by: Mapped[str | None] = mapped_column(String(64))
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"))


@dataclass(frozen=True)
class ReceiptStatus:
    """What the public may read about a submission."""

    receipt: str
    submitted_at: datetime
    status: str
    answer: str | None
    answered_at: datetime | None

    @property
    def status_zh(self) -> str:
        return PUBLIC_STATUS[self.status]


def _aware(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _new_receipt() -> str:
    chars = "".join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(8))
    return f"TS-{chars[:4]}-{chars[4:]}"


def _clean(value: str | None, limit: int, name: str, required: bool) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise ComplaintError(f"{name} is required")
    if len(text) > limit:
        raise ComplaintError(f"{name} has {len(text)} characters; at most {limit}")
    return text or None


def submit_public(sql_url: str, *, what: str, where: str, when: str, contact: str | None = None,
                  zone: str | None = None, client: str | None, now: datetime | None = None) -> str:
    """Store a public submission; return its receipt number. Raises :class:`ComplaintRateLimited`."""
    now = now or datetime.now(UTC)
    values = {"what": _clean(what, MAX_WHAT, "what happened (what)", True),
              "place": _clean(where, MAX_WHERE, "where (where)", True),
              "when_text": _clean(when, MAX_WHEN, "when (when)", True),
              "contact": _clean(contact, MAX_CONTACT, "contact", False),
              "zone": _clean(zone, 32, "zone", False)}
    ckey = hashlib.sha256((client or "?").encode()).hexdigest()
    with session_scope(sql_url) as s:
        for window, allowed in PUBLIC_LIMITS:
            count, oldest = s.execute(select(func.count(), func.min(PublicComplaint.submitted_at)).where(
                PublicComplaint.client == ckey, PublicComplaint.submitted_at >= now - window)).one()
            if count >= allowed:
                raise ComplaintRateLimited(max(1, int((_aware(oldest) + window - now).total_seconds()) + 1))
        receipt = _new_receipt()
        while s.scalar(select(PublicComplaint.id).where(PublicComplaint.receipt == receipt)) is not None:
            receipt = _new_receipt()
        s.add(PublicComplaint(receipt=receipt, client=ckey, submitted_at=now, status="received", **values))
    return receipt


def receipt_status(sql_url: str, receipt: str) -> ReceiptStatus | None:
    receipt = receipt.strip().upper()
    with session_scope(sql_url) as s:
        r = s.scalar(select(PublicComplaint).where(PublicComplaint.receipt == receipt))
        if r is None:
            return None
        return ReceiptStatus(r.receipt, _aware(r.submitted_at), r.status, r.answer,  # type: ignore[arg-type]
                             _aware(r.handled_at) if r.answer else None)


def public_submissions(sql_url: str, *, open_only: bool = False, limit: int = 500) -> list[PublicComplaint]:
    """Submissions for the bureau, newest first (detached rows, staff eyes only: they hold contacts)."""
    with session_scope(sql_url) as s:
        q = select(PublicComplaint).order_by(PublicComplaint.submitted_at.desc()).limit(limit)
        if open_only:
            q = q.where(PublicComplaint.status != "closed")
        return list(s.scalars(q))


def get_submission(sql_url: str, submission_id: int) -> PublicComplaint:
    with session_scope(sql_url) as s:
        r = s.get(PublicComplaint, submission_id)
        if r is None:
            raise ComplaintError(f"no public complaint #{submission_id}")
        return r


def handle_public(sql_url: str, submission_id: int, *, by: str, status: str, answer: str | None = None,
                  internal_note: str | None = None, enterprise: str | None = None,
                  substantiated: bool | None = None, known_enterprises: set[str] | None = None,
                  now: datetime | None = None) -> PublicComplaint:
    """The bureau's handling of a submission. With ``enterprise`` and ``substantiated`` given (and not
    recorded yet), it is recorded as a :class:`Complaint` against that enterprise (channel ``web``)."""
    if status not in PUBLIC_STATUS:
        raise ComplaintError(f"unknown status {status!r}; one of: {', '.join(PUBLIC_STATUS)}")
    if not by.strip():
        raise ComplaintError("handling needs the name of the person")
    now = now or datetime.now(UTC)
    answer = _clean(answer, MAX_ANSWER, "answer", False)
    if status in ("answered", "closed") and not answer:
        raise ComplaintError(f"status {PUBLIC_STATUS[status]} needs the answer to the public")
    enterprise = (enterprise or "").strip() or None
    row = get_submission(sql_url, submission_id)
    complaint_id = row.complaint_id
    if enterprise and substantiated is not None and complaint_id is None:
        from monitoring.config import LOCAL_TZ
        complaint_id = add_complaint(sql_url, enterprise=enterprise,
                                     received_on=_aware(row.submitted_at).astimezone(LOCAL_TZ).date(),  # type: ignore[union-attr]
                                     channel="web", substantiated=substantiated, recorded_by=by.strip(),
                                     summary=f"公众投诉 {row.receipt}：{row.what[:200]}",
                                     known_enterprises=known_enterprises, now=now)
    with session_scope(sql_url) as s:
        r = s.get(PublicComplaint, submission_id)
        r.status, r.handled_by, r.handled_at = status, by.strip(), now  # type: ignore[union-attr]
        if answer is not None:
            r.answer = answer  # type: ignore[union-attr]
        if internal_note:
            r.internal_note = internal_note.strip()  # type: ignore[union-attr]
        if enterprise:
            r.enterprise = enterprise  # type: ignore[union-attr]
        r.complaint_id = complaint_id  # type: ignore[union-attr]
        s.flush()
        return r  # type: ignore[return-value]
