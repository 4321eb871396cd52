"""Playing simulated devices over TCP against the receiver: concurrent connections, acknowledgements
(CN 9014) counted.
"""

from __future__ import annotations

import asyncio
import re
import time as _t
from dataclasses import dataclass, field

from sensors.hj212 import Frame, FrameBuffer, PacketError, parse_packet
from sensors.hj212.crc import crc16_hj212_many
from sensors.simulator.seeding import _key


# ------------------------------------------------------------------------------------------------------
# Playing devices over TCP
# ------------------------------------------------------------------------------------------------------
@dataclass
class SendReport:
    """What :func:`send_packets` did. ``acked`` counts 9014 answers matched to a packet sent with A=1."""

    sent: int = 0
    ack_requested: int = 0
    acked: int = 0
    unexpected_answers: int = 0
    connections: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ack_ratio(self) -> float:
        return self.acked / self.ack_requested if self.ack_requested else 1.0

    def __str__(self) -> str:
        return (f"{self.sent} packets sent over {self.connections} connections in {self.elapsed_s:.1f} s; "
                f"{self.acked}/{self.ack_requested} acknowledged (9014)"
                + (f"; {len(self.errors)} errors: {self.errors[0]}" if self.errors else ""))


_FLAG_RE = None
_QN_RE = None
#: The receiver's 9014 answer (``sensors.receiver.data_answer``), read without a full packet parse.
_ANSWER_RE = re.compile(rb"##(\d{4})((?:QN=([^;]*);)?ST=91;CN=9014;PW=[^;]*;MN=([^;]*);Flag=\d+;CP=&&&&)"
                        rb"([0-9A-F]{4})")


def _answer_keys(raws: list[bytes]) -> list[tuple[str, bytes] | None]:
    """``(MN, QN)`` of each well-formed 9014 answer (length and CRC checked; the CRCs of one read at
    once), else ``None`` (then the full parser decides)."""
    groups = [m.groups() if (m := _ANSWER_RE.fullmatch(raw)) else None for raw in raws]
    ok = [k for k, g in enumerate(groups) if g is not None and int(g[0]) == len(g[1])]
    out: list[tuple[str, bytes] | None] = [None] * len(raws)
    for k, crc in zip(ok, crc16_hj212_many([groups[k][1] for k in ok]), strict=True):
        _, _, qn, mn, crc_field = groups[k]
        if int(crc_field, 16) == crc:
            out[k] = (mn.decode(), qn or b"")
    return out


def _wants_ack(raw: bytes) -> tuple[bool, bytes | None]:
    """(A bit set, QN) read from the packet header without a full parse."""
    global _FLAG_RE, _QN_RE
    if _FLAG_RE is None:
        _FLAG_RE, _QN_RE = re.compile(rb";Flag=(\d+)"), re.compile(rb"QN=(\d+)")
    f = _FLAG_RE.search(raw, 0, 200)
    q = _QN_RE.search(raw, 0, 40)
    return bool(f and int(f.group(1)) & 1), (q.group(1) if q else None)


async def _device_group(host: str, port: int, queue, report: SendReport, answer_timeout: float) -> None:
    """One TCP connection: write the group's packets pipelined, count 9014 answers as they come."""
    reader, writer = await asyncio.open_connection(host, port)
    report.connections += 1
    pending: dict[tuple[str, bytes], int] = {}
    outstanding = [0]   # answers still awaited (the sum of pending's counts, kept as it changes)
    done_writing = asyncio.Event()
    all_answered = asyncio.Event()

    async def read_answers() -> None:
        buf = FrameBuffer()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            frames = [ev.raw for ev in buf.feed(chunk) if isinstance(ev, Frame)]
            for raw, key in zip(frames, _answer_keys(frames), strict=True):
                if key is None:
                    try:
                        ans = parse_packet(raw)
                    except PacketError as exc:
                        report.errors.append(f"bad answer from receiver: {exc}")
                        continue
                    key = (ans.mn, (ans.qn or "").encode()) if ans.cn == "9014" else None
                if key is not None and pending.get(key, 0) > 0:
                    pending[key] -= 1
                    outstanding[0] -= 1
                    report.acked += 1
                else:
                    report.unexpected_answers += 1
            if done_writing.is_set() and not outstanding[0]:
                all_answered.set()
                return

    reading = asyncio.create_task(read_answers())
    try:
        finished = False
        while not finished:
            items = [await queue.get()]
            while len(items) < 256 and not queue.empty():   # what is queued goes out in one write
                items.append(queue.get_nowait())
            out = []
            for item in items:
                if item is None:
                    finished = True
                    break
                mn, raw = item
                wants, qn = _wants_ack(raw)
                if wants and qn is not None:
                    pending[(mn, qn)] = pending.get((mn, qn), 0) + 1
                    outstanding[0] += 1
                    report.ack_requested += 1
                out.append(raw)
            if out:
                writer.write(b"".join(out))
                report.sent += len(out)
            if writer.transport.get_write_buffer_size() > 1 << 20:
                await writer.drain()
        await writer.drain()
        done_writing.set()
        if outstanding[0]:
            try:
                await asyncio.wait_for(asyncio.shield(reading), timeout=answer_timeout)
            except TimeoutError:
                missing = sum(pending.values())
                report.errors.append(f"{missing} packets not acknowledged within {answer_timeout:.0f} s")
    finally:
        reading.cancel()
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def send_packets_async(host: str, port: int, packets, *, connections: int = 8,
                             answer_timeout: float = 30.0) -> SendReport:
    """Asyncio client playing the devices; see :func:`send_packets`."""
    report = SendReport()
    t0 = _t.perf_counter()
    queues = [asyncio.Queue(maxsize=10_000) for _ in range(max(1, connections))]
    tasks = [asyncio.create_task(_device_group(host, port, q, report, answer_timeout)) for q in queues]
    connection_of: dict[str, asyncio.Queue] = {}
    try:
        for k, (mn, raw) in enumerate(packets):
            # a device always uses the same connection, so its packets stay in order on the wire
            q = connection_of.get(mn)
            if q is None:
                q = connection_of[mn] = queues[_key(mn) % len(queues)]
            await q.put((mn, raw))
            if k % 512 == 511:
                # let the connections write what is queued (put() yields only when a queue is full: the
                # whole input was queued before the first byte went out)
                await asyncio.sleep(0)
                if any(t.done() for t in tasks):
                    break
    finally:
        for q in queues:
            await q.put(None)
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            report.errors.append(f"connection failed: {type(r).__name__}: {r}")
    report.elapsed_s = _t.perf_counter() - t0
    return report


def send_packets(host: str, port: int, packets, *, connections: int = 8,
                 answer_timeout: float = 30.0) -> SendReport:
    """Send ``(MN, packet)`` pairs to an HJ 212 receiver like a fleet of data loggers would.

    Devices are grouped over ``connections`` TCP connections (a device always on the same one); each
    connection writes pipelined, reads the receiver's ``ST=91;CN=9014`` answers concurrently and matches
    them by (MN, QN) to the packets sent with A=1. Waits up to ``answer_timeout`` s for the last answers.
    """
    return asyncio.run(send_packets_async(host, port, packets, connections=connections,
                                          answer_timeout=answer_timeout))
