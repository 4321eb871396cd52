"""The notification tables: every message stored before it is sent (``notification``), every send attempt
after it (``notification_attempt``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitoring.db import Base

NOTIFICATION_KINDS = ("open", "update", "clear", "escalate", "digest")


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
