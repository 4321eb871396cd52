"""The fast path over a real loopback receiver: alarm at the webhook after the packet's 9014; the batch
path (from the spool) neither repeats it nor misses it when the fast path was down."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pandas as pd

from monitoring.config import LOCAL_TZ
from monitoring.safety.alarms import reconcile
from monitoring.safety.fastpath import FastPath
from sensors.hj212 import FrameBuffer, build_packet, parse_packet
from sensors.hj212.readings import spool_lines_to_readings
from sensors.receiver import Receiver
from sensors.spool import read_segments

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=LOCAL_TZ)


def safety_packet(registry, point_id: str, values: dict[str, float], t: datetime, i: int) -> bytes:
    p = registry.point(point_id)
    return build_packet(st="99", cn="2011", mn=p.mn, pw=p.pw, data_time=t, qn=f"20261120{i:09d}", ack=True,
                        cp={code: {"Rtd": v, "Flag": "N"} for code, v in values.items()})[0]


async def send_and_ack(host: str, port: int, packets: list[bytes]) -> list[float]:
    """Send each packet and wait for its 9014; return the monotonic time of each answer."""
    r, w = await asyncio.open_connection(host, port)
    acks: list[float] = []
    buf = FrameBuffer()
    for raw in packets:
        w.write(raw)
        await w.drain()
        while True:
            events = buf.feed(await asyncio.wait_for(r.read(4096), 10))
            if events:
                assert parse_packet(events[0].raw).cn == "9014"
                acks.append(time.monotonic())
                break
    w.close()
    return acks


def run_receiver(registry, tmp_path, packets, on_durable=None) -> list[float]:
    async def main():
        rx = Receiver(registry, tmp_path / "spool", tmp_path / "q", on_durable=on_durable)
        host, port = await rx.start()
        try:
            return await send_and_ack(host, port, packets)
        finally:
            await rx.close()
    return asyncio.run(main())


def wait_for(cond, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)


def spool_readings(registry, tmp_path) -> pd.DataFrame:
    files = sorted(p for p in (tmp_path / "spool").rglob("*") if p.is_file())
    frame, rejected = spool_lines_to_readings(read_segments(files), registry, "b1")
    assert rejected == []
    return frame


def test_alarm_reaches_the_webhook_after_the_9014_and_batch_does_not_repeat_it(registry, tmp_path, book, sink):
    fast = FastPath(book).start()
    values = [8.0, 12.0, 31.0, 33.0, 9.0]           # 今朝醉酒厂 酿酒车间: first level at 25 %LEL
    pkts = [safety_packet(registry, "NX-001-AQ01", {"x01001": v}, T0 + timedelta(seconds=10 * i), i)
            for i, v in enumerate(values)]
    try:
        acks = run_receiver(registry, tmp_path, pkts, on_durable=fast.on_durable)
        wait_for(lambda: len(sink.posts) >= 2)
        fast.drain()
    finally:
        fast.stop()
    assert [p.json["title"][:8] for p in sink.posts] == ["【安全一级报警】", "【安全报警解除】"]
    assert fast.stats.errors == 0 and fast.delivered[0][1] >= acks[2]     # after the 9014 of the 31 %LEL packet
    (a,) = book.alarms()
    assert a.detected_by == "fast" and a.started_at == (T0 + timedelta(seconds=20)).astimezone(a.started_at.tzinfo)
    # the batch path judges the same packets from the spool: nothing new, nothing re-sent
    created, report = reconcile(book, spool_readings(registry, tmp_path))
    assert created == [] and report.sent == 0 and len(sink.posts) == 2


def test_batch_path_raises_the_alarm_when_the_fast_path_was_down(registry, tmp_path, book, sink, duty_sink):
    pkts = [safety_packet(registry, "FM-WWTP-AQ01", {"x01002": v, "a21005": 2.0}, T0 + timedelta(seconds=10 * i), i)
            for i, v in enumerate([1.0, 25.0, 26.0])]         # H2S above the second level (20 mg/m³)
    run_receiver(registry, tmp_path, pkts)                    # no hook: the fast path is down
    assert sink.posts == []
    _, report = reconcile(book, spool_readings(registry, tmp_path))
    assert report.sent == 2 and len(duty_sink.posts) == 1     # second level: escalated at once
    (a,) = book.alarms()
    assert (a.parameter, a.level, a.detected_by, a.active) == ("x01002", 2, "batch", True)


def test_a_failing_hook_costs_no_packet_and_no_answer(registry, tmp_path):
    def broken(items):
        raise RuntimeError("boom")
    pkts = [safety_packet(registry, "NX-001-AQ01", {"x01001": 60.0}, T0, 1)]
    assert len(run_receiver(registry, tmp_path, pkts, on_durable=broken)) == 1
    assert len(spool_readings(registry, tmp_path)) == 1
