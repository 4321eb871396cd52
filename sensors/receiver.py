"""Asyncio TCP receiver for HJ 212 devices (HJ 212-2017 §6: the platform side of the link).

Per connection a :class:`~sensors.hj212.framing.FrameBuffer` cuts the stream into packets; each packet
is parsed and validated (:func:`~sensors.hj212.packet.parse_packet`), its MN and PW are checked against
the registry, and valid packets are appended to the durable spool (:mod:`sensors.spool`, layout in its
docstring). When the packet's Flag has A=1 the receiver answers with the 9014 data answer (§6.6.4,
"数据应答")::

    QN=<device's QN>;ST=91;CN=9014;PW=<pw>;MN=<mn>;Flag=<device's version bits, A=D=0>;CP=&&&&

**Durability precedes every answer**: packets are written and ``fsync``'d before their 9014 is sent.
fsyncs are group-committed: all packets of one read are written, then one fsync round (run in a worker
thread, shared by every connection that wrote meanwhile) covers them, then the answers go out.

Everything else — bad CRC, wrong length, junk bytes, over-long frames, unknown MN, wrong PW, missing
DataTime — goes to the quarantine (JSON lines with time, peer, reason, raw bytes in base64), without an
answer. Idle connections are closed after ``idle_timeout`` seconds; memory per connection is bounded
by the frame size limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sensors.hj212.codes import ANSWER_COMMANDS
from sensors.hj212.framing import Frame, FrameBuffer
from sensors.hj212.packet import MAX_FRAME, Packet, PacketError, frame_segment, parse_packet
from sensors.spool import Quarantine, SegmentWriter

__all__ = ["Receiver", "ReceiverStats", "data_answer"]

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024


def data_answer(pkt: Packet) -> bytes:
    """The framed 9014 data answer to ``pkt`` (keeps the device's QN, PW, MN and version bits)."""
    flag = ((pkt.flag or 0) >> 2) << 2
    qn = f"QN={pkt.qn};" if pkt.qn is not None else ""
    return frame_segment(f"{qn}ST=91;CN=9014;PW={pkt.pw};MN={pkt.mn};Flag={flag};CP=&&&&".encode())


@dataclass
class ReceiverStats:
    connections: int = 0
    packets: int = 0          # valid packets spooled
    answers: int = 0          # 9014 answers sent
    quarantined: Counter = field(default_factory=Counter)  # by first word of the reason


def _fsync_all(fds: list[int]) -> None:
    for fd in fds:
        os.fsync(fd)


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
            fut = loop.run_in_executor(None, _fsync_all, fds)
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
                 rotate_seconds: float = 60.0, max_frame: int = MAX_FRAME):
        self.registry = registry
        self.by_mn = registry.by_mn
        self.segments = SegmentWriter(Path(spool_dir))
        self.quarantine = Quarantine(Path(quarantine_dir), name="receiver")
        self.idle_timeout = idle_timeout
        self.rotate_seconds = rotate_seconds
        self.max_frame = max_frame
        self.stats = ReceiverStats()
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
        self.quarantine.close()

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
        peer = f"{peername[0]}:{peername[1]}" if peername else "?"
        frames = FrameBuffer(self.max_frame)
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(READ_SIZE), self.idle_timeout)
                except TimeoutError:
                    log.info("%s: idle for %s s, closing", peer, self.idle_timeout)
                    break
                if not chunk:
                    break
                answers = await self._process(frames.feed(chunk), peer)
                if answers:
                    writer.write(b"".join(answers))
                    await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # never let one connection take the server down
            log.exception("%s: connection handler failed", peer)
        finally:
            for ev in frames.flush():
                self._reject(ev.reason, ev.raw, peer)
            self.quarantine.flush()
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._handlers.discard(task)

    async def _process(self, events, peer: str) -> list[bytes]:
        """Validate the frames of one read, spool the valid ones (one fsync), return their answers."""
        by_zone: dict[str, list[bytes]] = {}
        answers: list[bytes] = []
        for ev in events:
            if not isinstance(ev, Frame):
                self._reject(ev.reason, ev.raw, peer)
                continue
            try:
                pkt = parse_packet(ev.raw)
            except PacketError as exc:
                self._reject(str(exc), ev.raw, peer)
                continue
            point = self.by_mn.get(pkt.mn)
            if point is None:
                self._reject(f"unknown MN {pkt.mn}", ev.raw, peer)
                continue
            if pkt.pw != point.pw:
                self._reject(f"wrong PW for MN {pkt.mn} (point {point.id})", ev.raw, peer)
                continue
            by_zone.setdefault(point.zone, []).append(ev.raw)
            if pkt.wants_ack and pkt.cn not in ANSWER_COMMANDS:
                answers.append(data_answer(pkt))
        if by_zone:
            for zone, raws in by_zone.items():
                self.stats.packets += self.segments.append(zone, raws)
            await self._commit.sync()  # durable before any answer leaves
        self.quarantine.flush()
        self.stats.answers += len(answers)
        return answers

    def _reject(self, reason: str, raw: bytes, peer: str) -> None:
        self.stats.quarantined[reason.split(":")[0].split(" (")[0]] += 1
        self.quarantine.put(reason, raw, peer=peer, source="receiver", flush=False)


async def serve(receiver: Receiver, host: str, port: int, stop: asyncio.Event,
                on_listening=None) -> None:
    """Run ``receiver`` until ``stop`` is set, then close it cleanly."""
    bound = await receiver.start(host, port)
    if on_listening is not None:
        on_listening(*bound)
    try:
        await stop.wait()
    finally:
        await receiver.close()
