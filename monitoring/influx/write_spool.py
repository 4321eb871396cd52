"""The durable write spool: validated line-protocol batches whose InfluxDB write failed, kept on disk
(``Settings.write_spool_dir``, ``*.lp.gz``) and replayed on the next run.

Not to be confused with the receiver's packet spool (:mod:`sensors.spool`), which holds acknowledged
HJ 212 packets before they are decoded.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from monitoring.influx.client import InfluxStore, write_pipeline
from monitoring.influx.errors import InfluxUnavailable, InfluxWriteError
from monitoring.influx.lineprotocol import (
    LineBatch,
    PreparedFrame,
    prepare_frame,
    prepare_readings,
)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------
# Durable write spool
# ---------------------------------------------------------------------------------------------------
@dataclass
class WriteReport:
    """What :class:`SpoolingWriter` did with one call's lines."""

    lines_written: int = 0
    lines_spooled: int = 0
    lines_rejected: int = 0
    spool_files: list[Path] = field(default_factory=list)
    rejected_files: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: seconds spent serialising lines and in ``POST /write`` round trips (overlapped: the next request's
    #: lines are serialised while the previous one is in flight), for the benches' per-stage breakdown
    seconds: dict[str, float] = field(default_factory=lambda: {"serialise": 0.0, "http": 0.0})

    @property
    def spooled(self) -> bool:
        return self.lines_spooled > 0

    @property
    def total(self) -> int:
        return self.lines_written + self.lines_spooled + self.lines_rejected


_HEADER = "# envmon write spool"
_SPOOL_GLOB = "*.lp.gz"
_last_stamp_lock = threading.Lock()
_last_stamp = 0


def _stamp() -> str:
    """A strictly increasing UTC time stamp for file names (``20261122T052018123456789Z``)."""
    global _last_stamp
    with _last_stamp_lock:
        now = max(time.time_ns(), _last_stamp + 1)
        _last_stamp = now
    secs, frac = divmod(now, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y%m%dT%H%M%S") + f"{frac:09d}Z"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _join_multiline(pieces: list[str]) -> list[str]:
    """Re-join physical lines split inside a quoted string field (raw newlines are legal there)."""
    lines: list[str] = []
    current: str | None = None
    for piece in pieces:
        current = piece if current is None else current + "\n" + piece
        if re.sub(r"\\.", "", current).count('"') % 2 == 0:
            lines.append(current)
            current = None
    if current is not None:
        lines.append(current)
    return lines


def read_spool_file(path: Path) -> LineBatch:
    """Lines and precision of a spool file (gzip text after a ``# envmon write spool …`` header line)."""
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    head, _, body = text.partition("\n")
    if not head.startswith(_HEADER):
        raise ValueError(f"{path}: not an envmon write-spool file (missing header)")
    meta = dict(item.split("=", 1) for item in head[len(_HEADER):].split() if "=" in item)
    pieces = body.removesuffix("\n").split("\n") if body else []
    lines = _join_multiline(pieces) if meta.get("multiline") == "1" else pieces
    return LineBatch(lines, meta.get("precision", "ns"))


class SpoolingWriter:
    """Writes through ``store``; what cannot be written now is kept in ``spool_dir`` and replayed later.

    * Server down / 5xx after retries / 401, 403, 404 (credentials, database missing): the exact line
      protocol of the unwritten batches is written to ``spool_dir/<UTC stamp>-<uuid>.lp.gz`` (gzip,
      fsync'd, atomically renamed) and the call returns a :class:`WriteReport` with ``spooled``.
    * 400/422 (the data is wrong, e.g. a field type conflict): that batch goes to
      ``spool_dir/rejected/`` with ``<name>.reason.txt`` (HTTP status, server message, first offending
      line) and is never retried automatically; the other batches are still written.
    * While older spool files exist, new lines are spooled behind them (after one replay attempt), so
      a later correction is never overwritten by an older spooled value.

    :meth:`replay` writes spooled files oldest first and deletes each only after it was written.
    """

    def __init__(self, store: InfluxStore, spool_dir: Path) -> None:
        self.store = store
        self.spool_dir = Path(spool_dir)
        self.rejected_dir = self.spool_dir / "rejected"

    # --- files ------------------------------------------------------------------------------------
    def pending(self) -> list[Path]:
        """Spool files waiting for replay, oldest first."""
        if not self.spool_dir.is_dir():
            return []
        return sorted(p for p in self.spool_dir.glob(_SPOOL_GLOB) if not p.name.startswith("."))

    def _spool(self, lines: Sequence[str], precision: str, directory: Path | None = None) -> Path:
        directory = directory or self.spool_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{_stamp()}-{uuid.uuid4().hex}.lp.gz"
        multiline = int(any("\n" in line for line in lines))
        text = (f"{_HEADER} precision={precision} lines={len(lines)} multiline={multiline}\n"
                + "\n".join(lines) + "\n")
        _write_durably(path, gzip.compress(text.encode("utf-8"), compresslevel=6))
        return path

    def _reason_file(self, rejected: Path, error: InfluxWriteError) -> Path:
        reason = rejected.with_name(rejected.name.removesuffix(".lp.gz") + ".reason.txt")
        text = (f"rejected_at: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
                f"server: {self.store.url} database: {self.store.database}\n"
                f"http_status: {error.status}\nmessage: {error.message}\n"
                f"first_offending_line: {error.first_line}\n")
        _write_durably(reason, text.encode("utf-8"))
        return reason

    def _reject(self, lines: Sequence[str], precision: str, error: InfluxWriteError) -> Path:
        path = self._spool(lines, precision, self.rejected_dir)
        self._reason_file(path, error)
        log.error("InfluxDB rejected %d line(s) (kept in %s): %s", len(lines), path, error)
        return path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[bool]:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        with open(self.spool_dir / ".lock", "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # --- writing ----------------------------------------------------------------------------------
    def write_batch(self, batch: LineBatch) -> WriteReport:
        report = WriteReport()
        if not batch.lines:
            return report
        if self.pending():
            self.replay()
            if self.pending():
                report.spool_files.append(self._spool(batch.lines, batch.precision))
                report.lines_spooled = len(batch.lines)
                report.errors.append("older spool files still pending; new lines spooled behind them")
                return report
        step = self.store.batch_lines
        for start in range(0, len(batch.lines), step):
            chunk = batch.lines[start:start + step]
            try:
                report.lines_written += self.store.write_lines(chunk, batch.precision)
            except InfluxWriteError as exc:
                if exc.bad_data:
                    report.rejected_files.append(self._reject(chunk, batch.precision, exc))
                    report.lines_rejected += len(chunk)
                    report.errors.append(str(exc))
                    continue
                rest = batch.lines[start:]
                report.errors.append(str(exc))
            except InfluxUnavailable as exc:
                rest = batch.lines[start:]
                report.errors.append(str(exc))
            else:
                continue
            path = self._spool(rest, batch.precision)
            report.spool_files.append(path)
            report.lines_spooled += len(rest)
            log.warning("InfluxDB write failed (%s); %d line(s) spooled to %s", report.errors[-1],
                        len(rest), path)
            break
        return report

    def write_readings(self, df: pd.DataFrame) -> WriteReport:
        """Serialise a canonical readings batch and write or spool it (:meth:`write_prepared`)."""
        return self.write_prepared(prepare_readings(df))

    def write_frame(self, df: pd.DataFrame, measurement: str, tags: list[str], fields: list[str],
                    time_column: str) -> WriteReport:
        return self.write_prepared(prepare_frame(df, measurement, tags, fields, time_column))

    def write_prepared(self, prepared: PreparedFrame) -> WriteReport:
        """Write a validated frame ``batch_lines`` rows per request, pipelined: the next request's lines
        are serialised while the previous request is in flight (its thread waits on the socket without
        the GIL). One request at a time, in row order, with :meth:`write_batch`'s rules: a 400/422 batch
        is moved to ``rejected/`` and the next goes on; an unreachable server spools this batch and
        every later row (serialised then), and nothing after it is sent.
        """
        report = WriteReport()
        n = len(prepared)
        if n == 0:
            return report
        if self.pending():
            self.replay()
            if self.pending():
                lines = self._serialise(prepared, 0, n, report)
                report.spool_files.append(self._spool(lines, prepared.precision))
                report.lines_spooled = n
                report.errors.append("older spool files still pending; new lines spooled behind them")
                return report
        step = self.store.batch_lines
        with write_pipeline() as pool:
            in_flight: tuple[Future[float], int, list[str]] | None = None
            for start in [*range(0, n, step), n]:
                lines = self._serialise(prepared, start, start + step, report) if start < n else []
                if in_flight is not None:
                    fut, at, sent = in_flight
                    in_flight = None
                    try:
                        report.seconds["http"] += fut.result()
                        report.lines_written += len(sent)
                    except InfluxWriteError as exc:
                        if exc.bad_data:
                            report.rejected_files.append(self._reject(sent, prepared.precision, exc))
                            report.lines_rejected += len(sent)
                            report.errors.append(str(exc))
                        else:
                            self._spool_rest(prepared, sent, at + step, report, exc)
                            break
                    except InfluxUnavailable as exc:
                        self._spool_rest(prepared, sent, at + step, report, exc)
                        break
                if lines:
                    in_flight = (pool.submit(self._timed_write, lines, prepared.precision), start, lines)
        return report

    def _serialise(self, prepared: PreparedFrame, start: int, stop: int, report: WriteReport) -> list[str]:
        t = time.perf_counter()
        lines = prepared.serialise(start, stop)
        report.seconds["serialise"] += time.perf_counter() - t
        return lines

    def _timed_write(self, lines: list[str], precision: str) -> float:
        t = time.perf_counter()
        self.store.write_lines(lines, precision)
        return time.perf_counter() - t

    def _spool_rest(self, prepared: PreparedFrame, failed: list[str], after: int, report: WriteReport,
                    exc: Exception) -> None:
        """Spool the lines of the failed request and every row after it (nothing of them was sent)."""
        rest = failed + (self._serialise(prepared, after, len(prepared), report) if after < len(prepared) else [])
        report.errors.append(str(exc))
        path = self._spool(rest, prepared.precision)
        report.spool_files.append(path)
        report.lines_spooled += len(rest)
        log.warning("InfluxDB write failed (%s); %d line(s) spooled to %s", exc, len(rest), path)

    def replay(self) -> tuple[int, int, int]:
        """Write spooled files oldest first. Returns ``(files_ok, lines_ok, files_left)``.

        A file is deleted only after all its lines were accepted; a file the server rejects as bad data
        (400/422) moves to ``rejected/`` with a ``.reason.txt``; replay stops at the first file that
        cannot be written for another reason (server still down), keeping the order. Concurrent replays
        are excluded by a lock file (the loser returns at once).
        """
        files_ok = lines_ok = 0
        with self._locked() as got_lock:
            if not got_lock:
                return 0, 0, len(self.pending())
            for path in self.pending():
                try:
                    batch = read_spool_file(path)
                except (OSError, ValueError, EOFError) as exc:
                    target = self.rejected_dir / path.name
                    self.rejected_dir.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target)
                    (target.with_name(target.name.removesuffix(".lp.gz") + ".reason.txt")).write_text(
                        f"unreadable spool file: {exc}\n", encoding="utf-8")
                    continue
                first_error: InfluxWriteError | None = None
                try:
                    for start in range(0, len(batch.lines), self.store.batch_lines):
                        chunk = batch.lines[start:start + self.store.batch_lines]
                        try:
                            self.store.write_lines(chunk, batch.precision)
                        except InfluxWriteError as exc:
                            if not exc.bad_data:
                                raise
                            first_error = first_error or exc
                except (InfluxUnavailable, InfluxWriteError) as exc:
                    log.warning("write spool replay stopped at %s: %s", path.name, exc)
                    break
                if first_error is not None:
                    self.rejected_dir.mkdir(parents=True, exist_ok=True)
                    target = self.rejected_dir / path.name
                    os.replace(path, target)
                    self._reason_file(target, first_error)
                    _fsync_dir(self.spool_dir)
                    log.error("spooled file %s rejected by InfluxDB: %s", path.name, first_error)
                    continue
                path.unlink()
                _fsync_dir(self.spool_dir)
                files_ok += 1
                lines_ok += len(batch.lines)
        return files_ok, lines_ok, len(self.pending())
