"""The quarantine: one record format and one writer for every stage that rejects input.

The receiver, the spool reader, the ingest stages (decode, readings, collect, lab, ledger, units,
quality) all write the same JSON-lines records; nothing rejected is dropped silently::

    {"time": "2026-11-28T08:00:00.123+00:00",   # when it was quarantined (UTC)
     "stage": "receiver",                        # which step rejected it
     "origin": "peer 10.1.2.3:50122",            # where it came from: file:line, segment:line, peer
     "reason": "DataTime 2999-12-31 23:59:59 is more than 10 min ahead of the receiver clock",
     "batch": "jiangkou-20261128T080000Z-1a2b3c4d",   # ingest batch (ingest stages only)
     "size": 187,                                # length of the original bytes
     "raw": "##0187QN=…;PW=******;…"}            # text (or "raw_base64" for non-UTF-8 bytes), cut to
                                                 # max_raw bytes; rows of a readings frame: "row": {…}

Secrets never reach a quarantine file: device passwords (``PW=``) and credentials in URLs are replaced
by ``******`` (:func:`redact`) before anything is written. Files are ``0600`` in ``0700`` directories
(the service user's data). A record is appended and ``fsync``'d by :meth:`Quarantine.flush`.

:class:`Rejected` is the one type for "this input did not become data, and why", returned by the HJ 212
decoder, the lab reader and the ledger reader.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sensors.timezone import LOCAL_TZ

__all__ = ["Quarantine", "Rejected", "private_dir", "private_file", "read_records", "redact"]

MASK = "******"
_PW_TEXT = re.compile(r"(?<![A-Za-z0-9])(PW=)[^;&\r\n,]*")
_PW_BYTES = re.compile(rb"(?<![A-Za-z0-9])(PW=)[^;&\r\n,]*")
#: ``scheme://user:password@host`` → ``scheme://user:******@host``
_URL_CRED = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)(?P<pw>[^/\s@]+)(?P<at>@)")
_URL_QUERY_SECRET = re.compile(r"(?i)(?P<k>[?&](?:password|pass|pwd|token|secret|api_key|apikey)=)[^&\s]+")


def redact(value: str | bytes) -> str | bytes:
    """``value`` with HJ 212 device passwords and URL credentials replaced by ``******``."""
    if isinstance(value, bytes):
        return _PW_BYTES.sub(rb"\1" + MASK.encode(), value)
    value = _PW_TEXT.sub(r"\1" + MASK, value)
    value = _URL_CRED.sub(lambda m: m["pre"] + MASK + m["at"], value)
    return _URL_QUERY_SECRET.sub(lambda m: m["k"] + MASK, value)


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) a directory only the service user can enter (0700)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Restrict an existing file to the service user (0600)."""
    if Path(path).stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return Path(path)


@dataclass(frozen=True)
class Rejected:
    """Input that did not become data, and why.

    ``index``: the line (files, 1-based), the packet position in a decoded list, or ``None`` for a
    whole file; ``source``: the file, segment or peer it came from, when known. ``str()`` gives
    ``source:line: reason``.
    """

    index: int | None
    reason: str
    raw: bytes | str | None = b""
    source: str | None = None

    @property
    def line(self) -> int | None:
        return self.index

    @property
    def origin(self) -> str:
        where = self.source or "?"
        return f"{where}:{self.index}" if self.index is not None else where

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}"


def _raw_fields(raw: bytes | str | None, max_raw: int) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        data = raw.encode("utf-8", "surrogateescape")
    else:
        data = bytes(raw)
    out: dict[str, Any] = {"size": len(data)}
    cut = redact(data[:max_raw])
    try:
        out["raw"] = cut.decode("utf-8")
    except UnicodeDecodeError:
        out["raw_base64"] = base64.b64encode(cut).decode("ascii")
    if len(data) > max_raw:
        out["raw_truncated"] = True
    return out


def _reason_key(reason: str) -> str:
    """The reason without its specifics (after a colon or parenthesis), for counting."""
    return reason.split(":", 1)[0].split(" (")[0].strip()[:80]


class Quarantine:
    """Collects quarantine records and appends them to one JSON-lines file (:meth:`flush`, fsync'd).

    The file is ``<directory>/<name>.jsonl``, or ``<directory>/<name>-<local date>.jsonl`` with
    ``daily=True`` (the long-running receiver). ``batch`` is added to every record when given.
    ``reasons`` counts records by stage and reason; ``count`` and ``bytes_written`` what was written.
    """

    def __init__(self, directory: Path, name: str, *, daily: bool = False, batch: str | None = None,
                 max_raw: int = 4096):
        self.directory = Path(directory)
        self.name = name
        self.daily = daily
        self.batch = batch
        self.max_raw = max_raw
        self.reasons: Counter = Counter()
        self.count = 0
        self.bytes_written = 0
        self._lines: list[str] = []

    # collecting --------------------------------------------------------------------------------------
    def add(self, *, stage: str, origin: str, reason: str, raw: bytes | str | None = None,
            row: dict | None = None, **extra: Any) -> int:
        """Queue one record; returns its size in bytes (what :meth:`flush` will write)."""
        rec: dict[str, Any] = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "stage": stage,
                               "origin": redact(origin), "reason": redact(reason)}
        if self.batch is not None:
            rec["batch"] = self.batch
        rec.update({k: v for k, v in extra.items() if v is not None})
        rec.update(_raw_fields(raw, self.max_raw))
        if row is not None:
            rec["row"] = row
        line = json.dumps(rec, ensure_ascii=False, default=str) + "\n"
        self._lines.append(line)
        self.reasons[f"{stage}: {_reason_key(reason)}"] += 1
        return len(line.encode("utf-8"))

    def add_rejected(self, rejected: Rejected, *, stage: str, source: str | None = None) -> None:
        """Queue a :class:`Rejected` (``source`` names the file when the rejection does not)."""
        origin = rejected.origin if rejected.source or source is None else \
            (f"{source}:{rejected.index}" if rejected.index is not None else source)
        self.add(stage=stage, origin=origin, reason=rejected.reason, raw=rejected.raw)

    def add_rows(self, rows, *, stage: str, reason_column: str = "reason") -> None:
        """Queue the rows of a readings frame, each with all its columns and its reason. ``origin`` is
        the row's own ``origin`` column (file:line or segment:line), which every adapter fills."""
        if rows is None or len(rows) == 0:
            return
        records = json.loads(rows.drop(columns=[reason_column]).to_json(orient="records", date_format="iso"))
        reasons = rows[reason_column].astype(str).tolist()
        for rec, reason in zip(records, reasons, strict=True):
            origin = rec.pop("origin", None) or f"batch {rec.get('batch') or self.batch}"
            self.add(stage=stage, origin=str(origin), reason=reason, row=rec)

    def __len__(self) -> int:
        return len(self._lines)

    # writing -----------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        if self.daily:
            return self.directory / f"{self.name}-{datetime.now(LOCAL_TZ):%Y-%m-%d}.jsonl"
        return self.directory / f"{self.name}.jsonl"

    def flush(self) -> Path | None:
        """Append the queued records to the file and fsync it. Returns the path (``None`` if nothing)."""
        if not self._lines:
            return None
        path = self.path
        private_dir(path.parent)
        data = "".join(self._lines).encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        private_file(path)
        self.count += len(self._lines)
        self.bytes_written += len(data)
        self._lines.clear()
        return path

    def close(self) -> None:
        self.flush()

    @staticmethod
    def records(directory: Path) -> list[dict]:
        return read_records(directory)


def read_records(directory: Path) -> list[dict]:
    """Every record of the quarantine files under ``directory`` (recursively), file by file."""
    out: list[dict] = []
    for f in sorted(Path(directory).rglob("*.jsonl")):
        out += [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line]
    return out
