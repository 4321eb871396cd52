"""Asyncio TCP receiver for HJ 212 devices (HJ 212-2017 §6: the platform side of the link).

Per connection a :class:`~sensors.hj212.framing.FrameBuffer` cuts the stream into packets; the packets
of each read are validated together (:func:`~sensors.hj212.packet.check_packets`: exactly what
``parse_packet`` accepts, the CP left undecoded — the ingest decodes the spool), each one's MN and PW are checked against
the registry, and valid packets are appended to the durable spool (:mod:`sensors.spool`, layout in its
docstring). When the packet's Flag has A=1 the receiver answers with the 9014 data answer (§6.6.4,
"数据应答")::

    QN=<device's QN>;ST=91;CN=9014;PW=<pw>;MN=<mn>;Flag=<device's version bits, A=D=0>;CP=&&&&

**Durability precedes every answer**: packets are written and ``fsync``'d before their 9014 is sent.
fsyncs are group-committed: all packets of one read are written, then one fsync round (worker threads,
one per dirty segment, shared by every connection that wrote meanwhile) covers them, then the answers go out.

**Durable hook** (``on_durable``): a callable given by the layer that starts the receiver (``sensors/``
never imports ``monitoring/``). After each fsync round it is called with the ``(packet, point)`` pairs
that round made durable, before their answers go out; it must only enqueue (the safety fast path,
:mod:`monitoring.safety.fastpath`, evaluates alarm thresholds in its own thread). A packet is usually a
:class:`~sensors.hj212.packet.LeanPacket`: header fields and ``data_time`` at hand, its CP decoded on
first use (``pkt.cp``), so a hook that looks only at some points' packets pays only for those. An
exception in the hook is logged and never costs a packet or an answer.

Everything else — bad CRC, wrong length, junk bytes, over-long frames, unknown MN, wrong PW, missing
DataTime — goes to the quarantine (JSON lines with time, peer, reason, raw bytes in base64), without an
answer. Idle connections are closed after ``idle_timeout`` seconds; memory per connection is bounded
by the frame size limit.

Abuse and faults (issue 9), each in its own function below:

* **DataTime bounds** (:func:`datatime_problem`): a packet whose ``DataTime`` is more than
  ``max_ahead`` (10 min) ahead of the receiver's clock, or before 2000-01-01, is refused — quarantined
  with the reason, no 9014 — so one bad clock cannot block a zone's ingest later.
* **PW lockout** (:class:`Lockout`): 5 wrong PWs for one MN, or from one peer address, within 10 min
  lock that MN / address for 15 min: nothing it sends is answered or spooled (not even with the right
  PW), its connections are closed, and a security event is written to ``security_dir`` (the bureau
  sees it as an incident of kind ``security``; :mod:`monitoring.security`). Without it the 9014 was
  a password oracle (21,409 guesses/s on one connection).
* **Quarantine budget per connection** (:class:`ConnectionBudget`): at most ``max_records`` records
  and ``max_bytes`` bytes of quarantine per connection and minute; past that the connection is
  dropped and what it would have written is counted (``stats.quarantine_dropped``), not written.
* **Quarantine budget of the receiver** (:class:`ReceiverBudget`): all connections together may write
  at most ``total_quarantine_records_per_min`` records (2,000) and ``total_quarantine_bytes_per_min``
  (2 MiB) per minute, so 500 connections each within its own budget cannot fill the disk either; past
  it records are counted (``stats.quarantine_dropped_global``), not written, and one record per minute
  says how many were dropped. Valid packets are still spooled and answered.
* **Redaction**: quarantine records never hold a PW (:func:`sensors.quarantine.redact`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sensors.hj212.codes import ANSWER_COMMANDS
from sensors.hj212.framing import FrameBuffer
from sensors.hj212.packet import (
    EARLIEST_DATA_TIME,
    MAX_FRAME,
    LeanPacket,
    Packet,
    PacketError,
    check_packets,
    frame_segment,
    frame_segments,
)
from sensors.quarantine import Quarantine
from sensors.spool import SegmentWriter
from sensors.timezone import LOCAL_TZ

__all__ = ["Receiver", "ReceiverStats", "data_answer"]

log = logging.getLogger(__name__)

#: Bytes taken from a connection per read; a read's packets are validated together and made durable with
#: one fsync before their answers. A device sends one packet a minute and a read holds what has arrived,
#: so only a backlog (a logger replaying after an outage, the benches) fills it. Up to 256 KiB per read
#: (about 1,000 packets; asyncio buffers at most twice this per connection before it stops reading):
#: the ratio bench's 49,801 packets over 8 connections took 9.4–10.4 µs of receiver CPU per packet with
#: 64 KiB reads, 8.2–9.2 µs with 256 KiB (512 KiB and 1 MiB: no better).
READ_SIZE = 256 * 1024


def answer_segment(pkt: Packet | LeanPacket) -> bytes:
    """The data segment of the 9014 data answer to ``pkt`` (keeps the device's QN, PW, MN and version
    bits); :func:`data_answer` frames it."""
    flag = ((pkt.flag or 0) >> 2) << 2
    qn = f"QN={pkt.qn};" if pkt.qn is not None else ""
    return f"{qn}ST=91;CN=9014;PW={pkt.pw};MN={pkt.mn};Flag={flag};CP=&&&&".encode()


def data_answer(pkt: Packet | LeanPacket) -> bytes:
    """The framed 9014 data answer to ``pkt``."""
    return frame_segment(answer_segment(pkt))


@dataclass
class ReceiverStats:
    connections: int = 0
    packets: int = 0          # valid packets spooled
    answers: int = 0          # 9014 answers sent
    quarantined: Counter = field(default_factory=Counter)  # by first word of the reason
    quarantine_dropped: int = 0        # records not written: a connection over its quarantine budget
    quarantine_dropped_bytes: int = 0  # their size
    quarantine_dropped_global: int = 0        # records not written: the whole receiver over its budget
    quarantine_dropped_global_bytes: int = 0  # their size
    connections_dropped: int = 0       # connections closed for abuse (budget, lockout)
    lockouts: int = 0                  # MN / address lockouts started
    refused_locked: int = 0            # packets or connections refused during a lockout


# -------------------------------------------------------------------------------------------------
# DataTime bounds
# -------------------------------------------------------------------------------------------------
#: How far a device clock may run ahead of the receiver's before its data is refused.
MAX_AHEAD = timedelta(minutes=10)


def datatime_problem(pkt: Packet | LeanPacket, now: datetime, max_ahead: timedelta = MAX_AHEAD, *,
                     latest: datetime | None = None) -> str | None:
    """Why ``pkt``'s ``DataTime`` cannot be accepted now, or ``None``. The decoder already refuses a
    ``DataTime`` before 2000-01-01 (:data:`~sensors.hj212.packet.EARLIEST_DATA_TIME`).

    ``latest``: ``now + max_ahead`` computed once by a caller that checks many packets, in the packets' own
    time zone (aware datetimes with the same tzinfo compare without utcoffset() calls: 0.03 against 0.7 µs;
    Asia/Shanghai has had no DST since 1991, DataTime is after 2000)."""
    t = pkt.data_time
    if t is None:
        return None
    if t > (latest if latest is not None else now + max_ahead):
        return (f"DataTime {t:%Y-%m-%d %H:%M:%S} is more than {max_ahead.total_seconds() / 60:.0f} min ahead "
                f"of the receiver clock ({now.astimezone(t.tzinfo):%Y-%m-%d %H:%M:%S}); device clock wrong")
    if t < EARLIEST_DATA_TIME:  # pragma: no cover - parse_packet refuses it first
        return f"DataTime {t:%Y-%m-%d %H:%M:%S} is before {EARLIEST_DATA_TIME:%Y-%m-%d}"
    return None


# -------------------------------------------------------------------------------------------------
# PW lockout
# -------------------------------------------------------------------------------------------------
class Lockout:
    """Failed-PW counting with lockout, per key (``"MN <mn>"`` or ``"address <ip>"``).

    ``failure(key, now)`` records a wrong PW and returns ``True`` when it starts a lockout
    (``max_failures`` within ``window``); ``locked(key, now)`` tells whether the key is locked
    (for ``duration`` from the failure that locked it). Times are monotonic seconds.
    """

    def __init__(self, max_failures: int = 5, window: float = 600.0, duration: float = 900.0):
        self.max_failures = max_failures
        self.window = window
        self.duration = duration
        self._failures: dict[str, deque[float]] = {}
        self._until: dict[str, float] = {}

    @property
    def active(self) -> bool:
        """Is any key locked (possibly expired, :meth:`locked` tells)? ``False``: no check needed."""
        return bool(self._until)

    def locked(self, key: str, now: float) -> bool:
        until = self._until.get(key)
        if until is None:
            return False
        if now >= until:
            del self._until[key]
            return False
        return True

    def failure(self, key: str, now: float) -> bool:
        q = self._failures.setdefault(key, deque())
        q.append(now)
        while q and q[0] <= now - self.window:
            q.popleft()
        if len(q) >= self.max_failures and not self.locked(key, now):
            self._until[key] = now + self.duration
            q.clear()
            return True
        return False

    def prune(self, now: float) -> None:
        """Forget old failures (bounded memory under a flood of distinct MNs)."""
        for key in [k for k, q in self._failures.items() if not q or q[-1] <= now - self.window]:
            del self._failures[key]


# -------------------------------------------------------------------------------------------------
# Quarantine budget per connection
# -------------------------------------------------------------------------------------------------
class ConnectionBudget:
    """What one connection may make the receiver write to the quarantine per minute."""

    def __init__(self, max_records: int = 200, max_bytes: int = 256 * 1024, period: float = 60.0):
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.period = period
        self._start = time.monotonic()
        self.records = 0
        self.bytes = 0

    def allow(self, size: int, now: float | None = None) -> bool:
        """Charge one record of ``size`` bytes; ``False`` once the connection is over its budget."""
        now = time.monotonic() if now is None else now
        if now - self._start >= self.period:
            self._start, self.records, self.bytes = now, 0, 0
        self.records += 1
        self.bytes += size
        return self.records <= self.max_records and self.bytes <= self.max_bytes


class ReceiverBudget(ConnectionBudget):
    """What all connections together may make the receiver write to the quarantine per minute, so that
    many connections, each within its own budget, still cannot fill the disk (issue 9 item 4). Past it,
    records are counted, not written; one record per period says how many were dropped
    (:meth:`dropped_note`)."""

    def __init__(self, max_records: int = 2_000, max_bytes: int = 2 * 1024 * 1024, period: float = 60.0):
        super().__init__(max_records, max_bytes, period)
        self.dropped = 0              # in the current period
        self.dropped_bytes = 0
        self._noted = (0, 0)

    def allow(self, size: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now - self._start >= self.period:       # a new period: what the last one dropped waits to be noted
            self._noted = (self._noted[0] + self.dropped, self._noted[1] + self.dropped_bytes)
            self.dropped = self.dropped_bytes = 0
        ok = super().allow(size, now)
        if not ok:
            self.records -= 1             # not written: keep counting what was, and what was dropped
            self.bytes -= size
            self.dropped += 1
            self.dropped_bytes += size
        return ok

    def dropped_note(self, *, final: bool = False) -> tuple[int, int] | None:
        """(records, bytes) dropped in the periods ended since the last note (``final``: the current one
        too), once; ``None`` when nothing was dropped."""
        records, size = self._noted
        if final:
            records, size = records + self.dropped, size + self.dropped_bytes
            self.dropped = self.dropped_bytes = 0
        self._noted = (0, 0)
        return (records, size) if records else None


@dataclass
class _Connection:
    peer: str                     # "ip:port"
    address: str                  # "ip"
    budget: ConnectionBudget
    close_reason: str | None = None


class _GroupCommit:
    """Shared fsync rounds: ``await sync()`` returns once everything appended before the call is on disk.

    A failed fsync is fatal for acknowledgements: after it every ``sync()`` raises (the kernel may have
    dropped the dirty pages, so a later successful fsync proves nothing), and no more answers are sent.
    """

    def __init__(self, segments: SegmentWriter):
        self.segments = segments
        self._running: asyncio.Future | None = None
        self.failed: BaseException | None = None

    def _done(self, fut: asyncio.Future) -> None:
        if self._running is fut:
            self._running = None
        if not fut.cancelled() and fut.exception() is not None and self.failed is None:
            self.failed = fut.exception()
            log.critical("fsync of the spool failed, no more packets will be acknowledged: %s", self.failed)

    async def sync(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.failed is not None:
                raise OSError(f"spool fsync failed earlier: {self.failed}")
            running = self._running
            if running is not None:
                # a running round covers our writes unless their fd was re-dirtied after it started
                await asyncio.shield(running)
                if not self.segments.dirty:
                    return
                if self._running is running:  # finished, but its done-callback has not run yet
                    self._running = None
                continue
            fds = self.segments.take_dirty()
            if not fds:
                return
            # the descriptors are fsync'd at once, one thread each: the file system merges them into one
            # journal commit (5 zone segments: 25 ms one after another, 2.6 ms together, here on ext4)
            fut = asyncio.gather(*(loop.run_in_executor(None, os.fsync, fd) for fd in fds))
            self._running = fut
            fut.add_done_callback(self._done)
            await asyncio.shield(fut)
            return

    async def idle(self) -> None:
        """Wait until no fsync round is in flight (before closing descriptors)."""
        while self._running is not None:
            running = self._running
            with contextlib.suppress(Exception):
                await asyncio.shield(running)
            if self._running is running:
                self._running = None


class Receiver:
    """HJ 212 TCP receiver writing to a spool. ``await start()``, then ``await close()``."""

    def __init__(self, registry, spool_dir: Path, quarantine_dir: Path, *, idle_timeout: float = 600.0,
                 rotate_seconds: float = 60.0, max_frame: int = MAX_FRAME, security_dir: Path | None = None,
                 lockout: Lockout | None = None, max_ahead: timedelta = MAX_AHEAD,
                 quarantine_records_per_min: int = 200, quarantine_bytes_per_min: int = 256 * 1024,
                 total_quarantine_records_per_min: int = 2_000,
                 total_quarantine_bytes_per_min: int = 2 * 1024 * 1024,
                 clock=None, on_durable: Callable[[list[tuple[Packet | LeanPacket, Any]]], None] | None = None):
        self.registry = registry
        self.by_mn = registry.by_mn
        self.segments = SegmentWriter(Path(spool_dir))
        self.quarantine = Quarantine(Path(quarantine_dir), "receiver", daily=True)
        self.security = Quarantine(Path(security_dir) if security_dir else Path(quarantine_dir).parent / "security",
                                   "receiver", daily=True)
        self.lockout = lockout or Lockout()
        self.max_ahead = max_ahead
        self.budget_records = quarantine_records_per_min
        self.budget_bytes = quarantine_bytes_per_min
        self.total_budget = ReceiverBudget(total_quarantine_records_per_min, total_quarantine_bytes_per_min)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.idle_timeout = idle_timeout
        self.rotate_seconds = rotate_seconds
        self.max_frame = max_frame
        self.stats = ReceiverStats()
        self.on_durable = on_durable
        self._commit = _GroupCommit(self.segments)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task] = set()
        self._rotator: asyncio.Task | None = None

    # lifecycle ---------------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, host, port, limit=READ_SIZE)
        self._rotator = asyncio.create_task(self._rotate_loop())
        addr = self._server.sockets[0].getsockname()
        return addr[0], addr[1]

    async def close(self) -> None:
        """Stop accepting, close connections, fsync and rotate every open segment to ``.ready``."""
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)
        if self._rotator is not None:
            self._rotator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rotator
        await self.rotate()
        self._note_dropped(final=True)
        self.quarantine.close()
        self.security.close()

    async def rotate(self) -> list[Path]:
        await self._commit.idle()
        return self.segments.rotate()  # synchronous: no new fsync round can start meanwhile

    async def _rotate_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rotate_seconds)
            try:
                await self.rotate()
            except OSError:
                log.exception("segment rotation failed")

    # connections --------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        self._writers.add(writer)
        self.stats.connections += 1
        peername = writer.get_extra_info("peername")
        conn = _Connection(peer=f"{peername[0]}:{peername[1]}" if peername else "?",
                           address=str(peername[0]) if peername else "?",
                           budget=ConnectionBudget(self.budget_records, self.budget_bytes))
        frames = FrameBuffer(self.max_frame, frames_as_bytes=True)
        try:
            if self.lockout.locked(f"address {conn.address}", time.monotonic()):
                self.stats.refused_locked += 1
                conn.close_reason = "address locked out"
            while conn.close_reason is None:
                try:
                    chunk = await asyncio.wait_for(reader.read(READ_SIZE), self.idle_timeout)
                except TimeoutError:
                    log.info("%s: idle for %s s, closing", conn.peer, self.idle_timeout)
                    break
                if not chunk:
                    break
                answers = await self._process(frames.feed(chunk), conn)
                if answers and conn.close_reason is None:
                    writer.write(b"".join(answers))
                    await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # never let one connection take the server down
            log.exception("%s: connection handler failed", conn.peer)
        finally:
            if conn.close_reason is None:
                for ev in frames.flush():
                    self._reject(ev.reason, ev.raw, conn)
            else:
                self.stats.connections_dropped += 1
                log.warning("%s: connection closed: %s", conn.peer, conn.close_reason)
            self.quarantine.flush()
            self.security.flush()
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._handlers.discard(task)

    async def _process(self, events, conn: _Connection) -> list[bytes]:
        """Validate the frames of one read, spool the valid ones (one fsync), return their answers.

        All frames of the read are validated at once (:func:`~sensors.hj212.packet.check_packets`:
        the same acceptance as ``parse_packet``, CRCs in one numpy pass, CP not decoded), then judged in
        order: lockout, MN, PW, DataTime."""
        by_zone: dict[str, list[bytes]] = {}
        acks: list[bytes] = []
        now = self.clock()
        latest = (now + self.max_ahead).astimezone(LOCAL_TZ)   # see datatime_problem
        mono = time.monotonic()
        durable: list[tuple[Packet | LeanPacket, Any]] = []
        checked = iter(check_packets([ev for ev in events if type(ev) is bytes]))  # frames: bytes
        by_mn = self.by_mn
        lockout = self.lockout
        locks = lockout.active   # changes in this loop only by a wrong PW (re-read there)
        for ev in events:
            if conn.close_reason is not None:
                break
            if type(ev) is not bytes:
                self._reject(ev.reason, ev.raw, conn)
                continue
            pkt = next(checked)
            if isinstance(pkt, PacketError):
                self._reject(str(pkt), ev, conn)
                continue
            if locks and self._refuse_locked(pkt, conn, mono):
                break
            point = by_mn.get(pkt.mn)
            if point is None:
                self._reject(f"unknown MN {pkt.mn}", ev, conn)
                continue
            if pkt.pw != point.pw:
                self._reject(f"wrong PW for MN {pkt.mn} (point {point.id})", ev, conn)
                self._wrong_pw(pkt, point, conn, mono, now)
                locks = lockout.active
                continue
            problem = datatime_problem(pkt, now, self.max_ahead, latest=latest)
            if problem is not None:
                self._reject(f"{problem} (MN {pkt.mn}, point {point.id})", ev, conn)
                continue
            by_zone.setdefault(point.zone, []).append(ev)
            durable.append((pkt, point))
            if pkt.wants_ack and pkt.cn not in ANSWER_COMMANDS:
                acks.append(answer_segment(pkt))
        if by_zone:
            for zone, raws in by_zone.items():
                self.stats.packets += self.segments.append(zone, raws)
            await self._commit.sync()  # durable before any answer leaves
            if self.on_durable is not None:
                try:
                    self.on_durable(durable)
                except Exception:  # a hook failure must never cost a packet or an answer
                    log.exception("on_durable hook failed")
        self.quarantine.flush()
        self.security.flush()
        self.stats.answers += len(acks)
        return frame_segments(acks)

    def _reject(self, reason: str, raw: bytes, conn: _Connection) -> None:
        """Quarantine one rejected item of ``conn``, within the connection's budget (else count it,
        write nothing and close the connection)."""
        self.stats.quarantined[reason.split(":")[0].split(" (")[0]] += 1
        if conn.close_reason is not None:
            return
        size = len(raw) + len(reason) + 200           # the record's size, without encoding it first
        if not conn.budget.allow(size):
            self.stats.quarantine_dropped += 1
            self.stats.quarantine_dropped_bytes += size
            conn.close_reason = (f"over its quarantine budget ({conn.budget.max_records} records or "
                                 f"{conn.budget.max_bytes} bytes per {conn.budget.period:.0f} s)")
            if self._within_total(200):
                self.quarantine.add(stage="receiver", origin=f"peer {conn.peer}", peer=conn.peer,
                                    reason=f"connection dropped: {conn.close_reason}; later input not recorded")
            return
        if self._within_total(size):
            self.quarantine.add(stage="receiver", origin=f"peer {conn.peer}", reason=reason, raw=raw,
                                peer=conn.peer)

    def _within_total(self, size: int) -> bool:
        """Charge a record to the receiver's total budget; ``False`` (counted, not to be written) past it."""
        if not self.total_budget.allow(size):
            self.stats.quarantine_dropped_global += 1
            self.stats.quarantine_dropped_global_bytes += size
            return False
        self._note_dropped()
        return True

    def _note_dropped(self, *, final: bool = False) -> None:
        """One record saying how many records the receiver's total budget dropped in the last period."""
        dropped = self.total_budget.dropped_note(final=final)
        if dropped is None:
            return
        b = self.total_budget
        self.quarantine.add(stage="receiver", origin="receiver",
                            reason=(f"quarantine budget of the receiver exceeded ({b.max_records} records or "
                                    f"{b.max_bytes} bytes per {b.period:.0f} s, all connections): {dropped[0]} "
                                    f"records ({dropped[1]} bytes) not recorded"),
                            dropped_records=dropped[0], dropped_bytes=dropped[1])

    # lockout -------------------------------------------------------------------------------------------
    def _refuse_locked(self, pkt: Packet | LeanPacket, conn: _Connection, mono: float) -> bool:
        """A packet for a locked MN, or any packet of a locked address: nothing is answered or spooled,
        the connection is closed. Returns ``True`` when refused."""
        for key in (f"address {conn.address}", f"MN {pkt.mn}"):
            if self.lockout.locked(key, mono):
                self.stats.refused_locked += 1
                conn.close_reason = f"{key} is locked out after repeated wrong PWs"
                return True
        return False

    def _wrong_pw(self, pkt: Packet | LeanPacket, point, conn: _Connection, mono: float, now: datetime) -> None:
        """Count a wrong PW against the MN and the peer address; a new lockout closes the connection and
        writes a security event (never the PW tried)."""
        self.lockout.prune(mono)
        for key in (f"MN {pkt.mn}", f"address {conn.address}"):
            if not self.lockout.failure(key, mono):
                continue
            self.stats.lockouts += 1
            minutes = self.lockout.duration / 60
            reason = (f"{self.lockout.max_failures} wrong PWs for {key} within "
                      f"{self.lockout.window / 60:.0f} min: locked for {minutes:.0f} min")
            self.security.add(stage="security", origin=f"peer {conn.peer}", reason=reason, kind="pw_lockout",
                              key=key, mn=pkt.mn, point=point.id, zone=point.zone,
                              enterprise=getattr(point, "enterprise", None), peer=conn.peer,
                              locked_until=(now + timedelta(seconds=self.lockout.duration)).isoformat())
            log.warning("security: %s (peer %s)", reason, conn.peer)
            conn.close_reason = reason


async def serve(receiver: Receiver, host: str, port: int, stop: asyncio.Event,
                on_listening=None) -> None:
    """Run ``receiver`` until ``stop`` is set, then close it cleanly.

    The process's start-up heap (modules, registry, the fast path's libraries: ~10^5 objects) is moved
    out of the collector's sight first (``gc.freeze()``, as the :mod:`gc` docs advise for long-lived
    servers): the packets' short-lived objects still trigger collections, but a full one no longer walks
    everything imported (receiver CPU on the ratio bench's packets ~10.8 → ~9.2 µs a packet)."""
    gc.collect()
    gc.freeze()
    bound = await receiver.start(host, port)
    if on_listening is not None:
        on_listening(*bound)
    try:
        await stop.wait()
    finally:
        await receiver.close()
