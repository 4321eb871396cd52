"""Attachments people upload as evidence (incident handling, inspection results): photos and PDF letters.

* Recognised by their first bytes (JPEG ``FF D8 FF``, PNG signature, ``%PDF-``), never by the file name
  or the browser's content type; at most :data:`MAX_ATTACHMENT_BYTES`.
* Stored under ``$ENVMON_DATA_DIR/evidence/`` with mode 0600 (folders 0700), named by owner, row id and
  SHA-256 prefix, written with ``O_EXCL`` and fsync'd; served to staff only.
* :class:`InspectionPhoto` keeps the photos of an inspection result (双随机 task); incident evidence has
  its own table in :mod:`monitoring.casework`.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitoring.db import Base

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"%PDF-", "application/pdf", ".pdf"),
)


class AttachmentError(ValueError):
    """Not an accepted file (type by content, size)."""


@dataclass(frozen=True)
class Checked:
    filename: str
    content_type: str
    ext: str
    sha256: str
    size: int


def check_attachment(filename: str | None, data: bytes) -> Checked:
    """The type (by content), a safe display name and the digest of an upload, or :class:`AttachmentError`."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentError(f"attachment {filename!r} has {len(data)} bytes; at most {MAX_ATTACHMENT_BYTES}")
    for magic, ctype, ext in MAGIC:
        if data.startswith(magic):
            break
    else:
        raise AttachmentError(f"attachment {filename!r} is not a JPEG, PNG or PDF file (by its content)")
    safe = re.sub(r"[^\w.\-一-鿿]+", "_", Path(filename or "").name)[:120] or f"attachment{ext}"
    return Checked(safe, ctype, ext, hashlib.sha256(data).hexdigest(), len(data))


def write_private(root: Path, relative: str, data: bytes) -> Path:
    """Write ``data`` to ``root/relative`` (new file, mode 0600, fsync'd); folders are made 0700."""
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return target


class InspectionPhoto(Base):
    """A photo (or PDF) attached to the result of a 双随机 inspection task. Internal: never published."""

    __tablename__ = "inspection_photo"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_as: Mapped[str] = mapped_column(String(255))
