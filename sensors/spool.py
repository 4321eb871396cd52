"""Durable spool of acknowledged HJ 212 packets, between the receiver and the ingest pipeline.

Layout (under ``root`` = ``$ENVMON_DATA_DIR/spool``)::

    spool/
      <zone>/                                       one directory per cluster (registry zone id)
        <UTC yyyymmddTHHMMSS>-p<pid>-<seq>.open     being written by receiver process <pid>
        <…>.ready                                   closed (rotated every rotate_seconds, on shutdown)
        <…>.claimed-<batch>                         claimed by ingest batch <batch>
      consumed/<local date YYYY-MM-DD>/<zone>/<segment>.<batch>
                                                    committed segments, kept for audit

A segment holds one raw packet per line (``##LLLL…CCCC\\r\\n``), exactly the bytes the device sent.
The receiver appends, ``fsync``s, and only then sends the 9014 data answer, so every acknowledged
packet is in a segment file even if the receiver is killed with SIGKILL. An ``.open`` segment whose
writer process is gone is claimable like a ``.ready`` one; its last line may be torn (a write cut by the
crash — never acknowledged), which :func:`read_segments` quarantines instead of failing.

Consumers: ``Spool(root).claim(zone, batch)`` → paths; read them with :meth:`Spool.read_segments`;
then ``commit(batch)`` on success or ``release(batch)`` on failure (segments go back to ``.ready``).
Every rename is atomic (same file system) and followed by a directory fsync.

A claim carries its owner and a lease (:mod:`sensors.claims`): ``<zone>/.claims/<batch>.json`` is
written before the first rename. A run killed with SIGKILL leaves its ``.claimed-<batch>`` segments
behind; :meth:`Spool.reclaim` (called by every ingest run first) gives the segments of a dead owner
back to ``.ready``, exactly once, and says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sensors.claims import (
    DEFAULT_LEASE,
    orphan_expired,
    owner_alive,
    pid_running,
    process_start,
    read_owner,
    take_over,
    write_owner,
)
from sensors.quarantine import Quarantine, private_dir
from sensors.timezone import LOCAL_TZ

__all__ = ["Quarantine", "SegmentWriter", "Spool", "read_segments", "writer_alive"]

CLAIMS = ".claims"
_SEG_RE = re.compile(r"^(?P<stem>\d{8}T\d{6}-p(?P<pid>\d+)-\d+)\.(?P<state>open|ready|claimed-(?P<batch>.+))$")
_BATCH_RE = re.compile(r"^[A-Za-z0-9_.:+-]+$")
CONSUMED = "consumed"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def writer_alive(pid: int, created: float | None = None) -> bool:
    """Is the process that wrote a segment still running? A live pid that started after the segment was
    created (``created``, Unix seconds) is a different process reusing the number: not the writer."""
    if not pid_running(pid):
        return False
    if pid == os.getpid():
        return True
    if created is not None:
        started = process_start(pid)
        if started is not None and started > created + 1:
            return False
    return True


class SegmentWriter:
    """The receiver's side: one ``.open`` segment per zone, appended with ``os.write``.

    ``append`` buffers nothing (the bytes are in the kernel when it returns); ``dirty_fds`` tells the
    caller which descriptors need an ``fsync`` before the corresponding packets may be acknowledged.
    ``rotate`` turns every open segment into ``.ready``; call it after the data was fsync'd.
    """

    def __init__(self, root: Path):
        self.root = private_dir(Path(root))
        self.pid = os.getpid()
        self._seq = 0
        self._open: dict[str, tuple[int, Path]] = {}
        self.dirty: set[int] = set()
        self.written = 0

    def _segment(self, zone: str) -> int:
        cur = self._open.get(zone)
        if cur is not None:
            return cur[0]
        d = self.root / zone
        new_dir = not d.exists()
        private_dir(d)
        self._seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = d / f"{stamp}-p{self.pid}-{self._seq:06d}.open"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        _fsync_dir(d)  # the new name must survive a crash together with its data
        if new_dir:
            _fsync_dir(self.root)
        self._open[zone] = (fd, path)
        return fd

    def append(self, zone: str, raws: Iterable[bytes]) -> int:
        """Append packets (without tail) as lines; returns the number of packets written."""
        raws = raws if isinstance(raws, list) else list(raws)
        if not raws:
            return 0
        if not _zone_ok(zone):
            raise ValueError(f"zone id {zone!r} is not a safe directory name")
        fd = self._segment(zone)
        data = b"\r\n".join([*raws, b""])   # one copy, every line ending \r\n
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        self.dirty.add(fd)
        self.written += len(raws)
        return len(raws)

    def take_dirty(self) -> list[int]:
        fds, self.dirty = list(self.dirty), set()
        return fds

    def rotate(self) -> list[Path]:
        """Close every open segment and rename it to ``.ready`` (fsync'd). Returns the ready paths."""
        ready = []
        for zone, (fd, path) in list(self._open.items()):
            os.fsync(fd)
            os.close(fd)
            self.dirty.discard(fd)
            target = path.with_suffix(".ready")
            os.rename(path, target)
            _fsync_dir(path.parent)
            ready.append(target)
            del self._open[zone]
        return ready

    def close(self) -> list[Path]:
        return self.rotate()


def _zone_ok(zone: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_-]+", zone)) and zone != CONSUMED


def read_segments(paths: Iterable[Path], on_torn: Callable[[Path, int, bytes, str], None] | None = None
                  ) -> Iterator[tuple[Path, int, bytes]]:
    """``(file, line number, raw packet)`` for every complete line of the segments (blank lines skipped).

    A last line without its ``\\n`` is a write torn by a crash (never acknowledged): it is passed to
    ``on_torn(path, line, bytes, reason)`` (e.g. a :class:`Quarantine`) and not yielded.
    """
    for path in map(Path, paths):   # one Path per file, not per line (was a third of the read time)
        data = path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        for n, line in enumerate(lines, start=1):
            line = line.rstrip(b"\r")
            if line:
                yield path, n, line
        if tail:
            reason = f"{path.name}: line {len(lines) + 1}: torn last line (writer stopped mid-write; " \
                     "never acknowledged)"
            if on_torn is not None:
                on_torn(path, len(lines) + 1, tail, reason)


class Spool:
    """The ingest pipeline's view of the spool: claim, read, commit or release segments by batch."""

    def __init__(self, root: Path, quarantine_dir: Path | None = None):
        self.root = Path(root)
        self.quarantine = Quarantine(Path(quarantine_dir) if quarantine_dir else self.root.parent / "quarantine",
                                     "spool", daily=True)

    def zones(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(d.name for d in self.root.iterdir() if d.is_dir() and d.name != CONSUMED)

    def _segments(self, zone: str) -> Iterator[tuple[Path, re.Match]]:
        d = self.root / zone
        if not d.is_dir():
            return
        for p in sorted(d.iterdir()):
            m = _SEG_RE.match(p.name)
            if m:
                yield p, m

    def pending_bytes(self, zone: str) -> int:
        """Bytes of the zone's segments not yet claimed (``.ready`` and ``.open``): how much its next
        ingest run will read, about."""
        total = 0
        for path, m in self._segments(zone):
            if m["state"] in ("ready", "open"):
                try:
                    total += path.stat().st_size
                except FileNotFoundError:          # claimed or rotated meanwhile
                    pass
        return total

    def claim(self, zone: str, batch: str, *, lease: timedelta = DEFAULT_LEASE) -> list[Path]:
        """Atomically rename the zone's ``.ready`` segments, and ``.open`` ones whose writer is dead, to
        ``.claimed-<batch>``, after writing the claim's owner record. A segment claimed concurrently by
        someone else is skipped."""
        _check_batch(batch)
        candidates = []
        for path, m in self._segments(zone):
            state = m["state"]
            if state == "open":
                created = datetime.strptime(m["stem"][:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC).timestamp()
                if writer_alive(int(m["pid"]), created):
                    continue
            elif state != "ready":
                continue
            candidates.append((path, m))
        if not candidates:
            return []
        owner = self._owner_path(zone, batch)
        write_owner(owner, batch, lease=lease)
        claimed = []
        for path, m in candidates:
            target = path.with_name(f"{m['stem']}.claimed-{batch}")
            try:
                os.rename(path, target)
            except FileNotFoundError:
                continue
            claimed.append(target)
        if claimed:
            _fsync_dir(self.root / zone)
        else:
            owner.unlink(missing_ok=True)
        return claimed

    def _owner_path(self, zone: str, batch: str) -> Path:
        return self.root / zone / CLAIMS / f"{batch}.json"

    def reclaim(self, zone: str, by_batch: str, *, lease: timedelta = DEFAULT_LEASE) -> dict[str, list[Path]]:
        """Give back (``.ready``) the zone's segments claimed by owners that are dead; returns
        ``{dead batch: segments}``. Each dead claim is reclaimed by exactly one caller."""
        _check_batch(by_batch)
        held: dict[str, list[Path]] = {}
        for path, m in self._segments(zone):
            if m["batch"]:
                held.setdefault(m["batch"], []).append(path)
        out: dict[str, list[Path]] = {}
        for batch, paths in sorted(held.items()):
            if batch == by_batch:
                continue
            owner = self._owner_path(zone, batch)
            if owner.exists():
                rec = read_owner(owner)
                if rec is not None and owner_alive(rec):
                    continue
                if take_over(owner, by_batch) is None:
                    continue                      # another run took it first
                taken = owner.with_name(f"{owner.name}.reclaimed-by-{by_batch}")
            else:
                if not all(orphan_expired(p, lease) for p in paths):
                    continue
                taken = None
            back = []
            for p in paths:
                dest = p.with_name(p.name.split(".claimed-")[0] + ".ready")
                try:
                    os.rename(p, dest)
                except FileNotFoundError:
                    continue
                back.append(dest)
            _fsync_dir(self.root / zone)
            if taken is not None:
                taken.unlink(missing_ok=True)
            if back:
                out[batch] = back
        return out

    def claimed(self, batch: str) -> list[Path]:
        _check_batch(batch)
        return sorted(p for z in self.zones() for p, m in self._segments(z) if m["batch"] == batch)

    def commit(self, batch: str) -> list[Path]:
        """Move the batch's claimed segments to ``consumed/<local date>/<zone>/`` (kept for audit)."""
        day = datetime.now(LOCAL_TZ).strftime("%Y-%m-%d")
        moved = []
        for p in self.claimed(batch):
            dest_dir = self.root / CONSUMED / day / p.parent.name
            dest_dir.mkdir(parents=True, exist_ok=True)
            dest = dest_dir / f"{p.name.split('.claimed-')[0]}.{batch}"
            os.rename(p, dest)
            _fsync_dir(dest_dir)
            _fsync_dir(p.parent)
            moved.append(dest)
        self._drop_owner(batch)
        return moved

    def release(self, batch: str) -> list[Path]:
        """Give the batch's claimed segments back (``.ready``), e.g. after a failed ingest run."""
        back = []
        for p in self.claimed(batch):
            dest = p.with_name(p.name.split(".claimed-")[0] + ".ready")
            os.rename(p, dest)
            _fsync_dir(p.parent)
            back.append(dest)
        self._drop_owner(batch)
        return back

    def _drop_owner(self, batch: str) -> None:
        for zone in self.zones():
            self._owner_path(zone, batch).unlink(missing_ok=True)

    def read_segments(self, paths: Iterable[Path]) -> Iterator[tuple[Path, int, bytes]]:
        """:func:`read_segments` with torn lines quarantined in this spool's quarantine directory."""
        def torn(path: Path, line: int, raw: bytes, reason: str) -> None:
            self.quarantine.add(stage="spool", origin=f"{path}:{line}", reason=reason, raw=raw)
        try:
            yield from read_segments(paths, on_torn=torn)
        finally:
            self.quarantine.flush()


def _check_batch(batch: str) -> None:
    if not _BATCH_RE.match(batch):
        raise ValueError(f"batch id {batch!r}: use letters, digits and _ . : + - only")
