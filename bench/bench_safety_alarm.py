"""Safety alarm latency: from the 9014 answer of the packet that crossed a threshold to the alarm POST
arriving at a webhook — everything real, on loopback (issue #14: ≤ 10 s p95).

Setup: the HJ 212 receiver (fsync'd spool, group commit) with the safety fast path as its durable hook,
an AlarmBook on a fresh SQLite file, apprise ``json://`` to a local HTTP sink. Devices: every safety
sensor of the packaged registry sends a real-time packet (CN 2011, A=1) every ``--period`` seconds of
bench time; in each round one sensor, in turn, crosses its first-level threshold (a new episode; the
next round it returns below, which sends the clear). Meanwhile ``--background`` other packets per second
(stack minute data) load the same receiver. Latency = POST arrival − 9014 arrival for each opened alarm.

    .venv/bin/python bench/bench_safety_alarm.py --episodes 60 --background 300
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from limits.catalogue import load_catalogue
from monitoring.config import LOCAL_TZ
from monitoring.registry import load_registry
from monitoring.safety.alarms import AlarmBook, AlarmChannel
from monitoring.safety.fastpath import FastPath
from monitoring.safety.thresholds import Thresholds
from sensors.hj212 import FrameBuffer, build_packet
from sensors.receiver import Receiver
from tests.monitoring.sinks import HttpSink

HIGH = {"x01001": 35.0, "x01002": 14.0, "a21005": 40.0, "a19001": 18.0, "x01003": 40.0, "x02001": 1900.0,
        "a01012": 75.0, "x02002": 2.0}
LOW = {"x01001": 3.0, "x01002": 0.5, "a21005": 2.0, "a19001": 20.9, "x01003": 2.0, "x02001": 800.0,
       "a01012": 35.0, "x02002": 0.0}


def packet(point, values: dict[str, float], t: datetime, qn: int) -> bytes:
    return build_packet(st="99", cn="2011", mn=point.mn, pw=point.pw, data_time=t, qn=f"{qn:017d}", ack=True,
                        cp={c: {"Rtd": values[c], "Flag": "N"} for c in point.parameters})[0]


async def device(host: str, port: int, raw: bytes) -> float:
    r, w = await asyncio.open_connection(host, port)
    w.write(raw)
    await w.drain()
    buf = FrameBuffer()
    while not buf.feed(await r.read(4096)):
        pass
    at = time.monotonic()
    w.close()
    return at


async def background(host: str, port: int, registry, rate: float, stop: asyncio.Event) -> int:
    stacks = [p for p in registry.points_of(kind="stack", online=True)][:50]
    r, w = await asyncio.open_connection(host, port)
    n = 0
    t = datetime(2026, 11, 20, 8, 0, tzinfo=LOCAL_TZ)
    while not stop.is_set():
        batch = []
        for _ in range(max(1, int(rate / 20))):
            p = stacks[n % len(stacks)]
            batch.append(build_packet(st="31", cn="2051", mn=p.mn, pw=p.pw, data_time=t + timedelta(minutes=n),
                                      cp={c: {"Avg": 1.0, "Flag": "N"} for c in p.parameters}, ack=True)[0])
            n += 1
        w.write(b"".join(batch))
        await w.drain()
        await asyncio.sleep(0.05)
        while True:                                   # discard the answers
            try:
                await asyncio.wait_for(r.read(65536), 0.001)
            except TimeoutError:
                break
    w.close()
    return n


async def run(args, registry, book, sink) -> tuple[list[float], int, FastPath]:
    fast = FastPath(book).start()
    with tempfile.TemporaryDirectory() as d:
        rx = Receiver(registry, Path(d) / "spool", Path(d) / "q", on_durable=fast.on_durable)
        host, port = await rx.start()
        stop = asyncio.Event()
        bg = asyncio.create_task(background(host, port, registry, args.background, stop)) if args.background else None
        sensors = registry.points_of(kind="safety")
        t = datetime(2026, 11, 20, 10, 0, tzinfo=LOCAL_TZ)
        acks: dict[str, list[float]] = {}
        qn = 0
        for k in range(args.episodes):
            hot = sensors[k % len(sensors)]
            t += timedelta(seconds=10)
            for p in sensors:                          # one round: every sensor reports
                qn += 1
                values = HIGH if p is hot else LOW
                at = await device(host, port, packet(p, values, t, qn))
                if p is hot:
                    acks.setdefault(p.id, []).append(at)
            await asyncio.sleep(args.period)
        await asyncio.sleep(1.0)
        stop.set()
        sent_bg = await bg if bg else 0
        fast.drain(30)
        await rx.close()
    fast.stop()
    # match each opened alarm's POST to the 9014 of the packet that crossed (k-th open of that point)
    opens: dict[str, list[float]] = {}
    for post in sink.posts:
        title, body = post.json["title"], post.json["message"]
        if "解除" in title or "升级" in title:
            continue
        point = body.split("监测点：", 1)[1].split("（", 1)[0]
        opens.setdefault(point, []).append(post.at)
    lat = [o - a for pid, a_list in acks.items() for a, o in zip(a_list, opens.get(pid, []))]
    missing = sum(len(a) for a in acks.values()) - len(lat)
    return lat, sent_bg, fast, missing


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=60)
    ap.add_argument("--period", type=float, default=0.2, help="seconds between rounds")
    ap.add_argument("--background", type=float, default=300.0, help="other packets per second")
    args = ap.parse_args()
    os.environ.setdefault("ENVMON_SAFETY_MIN_INTERVAL_S", "0")
    registry = load_registry()
    thresholds = Thresholds.load(registry, load_catalogue(None), plans_path=None)
    with tempfile.TemporaryDirectory() as d, HttpSink() as sink:
        ch = AlarmChannel.from_url(sink.url)
        book = AlarmBook(f"sqlite:///{d}/bench.sqlite", registry, thresholds, channels=[ch],
                         escalation_channels=[ch])
        t0 = time.perf_counter()
        lat, sent_bg, fast, missing = asyncio.run(run(args, registry, book, sink))
        wall = time.perf_counter() - t0
    a = np.array(lat)
    print(f"safety alarm latency, 9014 → webhook POST ({len(a)} alarms, {missing} unmatched, "
          f"{sent_bg} background packets, {wall:.1f} s)")
    if len(a):
        print(f"  p50 {np.percentile(a, 50) * 1000:8.1f} ms")
        print(f"  p95 {np.percentile(a, 95) * 1000:8.1f} ms   (target ≤ 10 000 ms)")
        print(f"  max {a.max() * 1000:8.1f} ms")
    print(f"  fast path: {fast.stats.packets} safety packets, {fast.stats.batches} batches, "
          f"{fast.stats.report.sent} messages sent, {fast.stats.errors} errors")


if __name__ == "__main__":
    main()
