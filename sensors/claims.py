"""Owners and leases of claimed input (spool segments, landing files), so a killed run strands nothing.

An ingest run claims its input by renaming it (``….claimed-<batch>``). Before the first rename it writes
an owner record, ``{batch, host, pid, started, claimed_at, lease_until}`` (fsync'd), next to the claim.
A later run reclaims the input of a claim whose owner is dead:

* same host: the owner process is gone, or its pid now belongs to a process started after the claim
  (pid reuse) — checked through ``/proc``; a live owner is never robbed, however long it runs;
* another host (a shared data directory): the lease has expired.

Reclaiming is exactly once: the reclaimer first renames the owner record to
``<record>.reclaimed-by-<its batch>`` (atomic; a concurrent reclaimer finds it gone and skips), then
gives the input back, then removes the record. Claims left by a version without owner records are
reclaimed once their last change (``ctime``) is older than the lease.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_LEASE", "owner_alive", "pid_running", "process_start", "read_owner", "take_over", "write_owner"]

#: How long another host must wait before it may take over a claim (an ingest run takes seconds).
DEFAULT_LEASE = timedelta(minutes=30)


def pid_running(pid: int) -> bool:
    """Does a process with this number exist on this host (ours, or another user's)?"""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def process_start(pid: int) -> float | None:
    """Start time of ``pid`` (Unix seconds) from /proc, ``None`` when not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_owner(path: Path, batch: str, *, lease: timedelta = DEFAULT_LEASE,
                now: datetime | None = None) -> dict[str, Any]:
    """Write the owner record of ``batch`` at ``path`` (fsync'd, 0600) and return it."""
    now = now or datetime.now(UTC)
    pid = os.getpid()
    rec = {"batch": batch, "host": socket.gethostname(), "pid": pid, "started": process_start(pid),
           "claimed_at": now.isoformat(), "lease_until": (now + lease).isoformat()}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(rec).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return rec


def read_owner(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def owner_alive(rec: dict[str, Any], now: datetime | None = None) -> bool:
    """Is the owner of a claim still (possibly) working on it? See the module docstring."""
    now = now or datetime.now(UTC)
    if rec.get("host") != socket.gethostname():
        try:
            return now < datetime.fromisoformat(rec["lease_until"])
        except (KeyError, TypeError, ValueError):
            return False
    pid = int(rec.get("pid") or 0)
    if pid <= 0 or not pid_running(pid):
        return False
    if pid == os.getpid():
        return True
    started, recorded = process_start(pid), rec.get("started")
    return not (started is not None and recorded is not None and abs(started - float(recorded)) > 1.0)


def orphan_expired(path: Path, lease: timedelta = DEFAULT_LEASE, now: datetime | None = None) -> bool:
    """A claim without an owner record (older versions): reclaimable once unchanged for ``lease``."""
    now = now or datetime.now(UTC)
    try:
        changed = datetime.fromtimestamp(path.stat().st_ctime, UTC)
    except OSError:
        return False
    return now - changed > lease


def take_over(path: Path, by_batch: str) -> dict[str, Any] | None:
    """Atomically take the owner record at ``path`` for ``by_batch``; ``None`` if someone else did.

    Returns the record (with ``_taken`` = the renamed path, to be removed once the input is back)."""
    rec = read_owner(path) or {}
    taken = path.with_name(f"{path.name}.reclaimed-by-{by_batch}")
    try:
        os.rename(path, taken)
    except FileNotFoundError:
        return None
    rec["_taken"] = str(taken)
    return rec
