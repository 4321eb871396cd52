"""Public and media complaints (公众和媒体反映的环境问题), the channel the county plan asks for.

云阳府办发〔2021〕75号 chapter 6: "鼓励公众和媒体参与环境监督，畅通工业污染环境问题反映通道". A complaint
is recorded with the enterprise, the date received (local date), the channel and whether it was
substantiated (查实). Substantiated complaints feed the 双随机 target directory: ≥ 3 in the look-back
window make an enterprise special supervision (threshold in the rules file).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import Boolean, Date, DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

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
    from monitoring.config import LOCAL_TZ
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
