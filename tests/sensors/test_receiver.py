"""The HJ 212 TCP receiver over real loopback sockets: answers, quarantine, durability under SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from monitoring.registry import Registry, parse_registry
from sensors.hj212 import FrameBuffer, build_packet, parse_packet
from sensors.quarantine import Quarantine
from sensors.receiver import Receiver, data_answer
from sensors.spool import Spool, read_segments
from sensors.timezone import LOCAL_TZ

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
STACK = ("010000A8900016F000169DC0", "100000")     # jiangkou
WATER_NX = ("NX0010000000000000DW0001", "654321")  # nanxi
T0 = datetime(2016, 8, 1, 8, 58, 57, tzinfo=LOCAL_TZ)


@pytest.fixture(scope="module")
def small_registry() -> Registry:
    return parse_registry(yaml.safe_load((DATA / "registry_small.yaml").read_text(encoding="utf-8")))


def packet(i: int, device=STACK, ack: bool = True, cn: str = "2011") -> bytes:
    mn, pw = device
    code = "a21026" if device is STACK else "w01018"
    return build_packet(st="31", cn=cn, mn=mn, pw=pw, data_time=T0, cp={code: {"Rtd": 10 + i % 50, "Flag": "N"}},
                        qn=f"20160801{i:09d}", ack=ack)[0]


def qns_of_answers(data: bytes) -> list[str]:
    out = []
    for ev in FrameBuffer().feed(data):
        p = parse_packet(ev.raw)
        assert (p.st, p.cn, p.flag) == ("91", "9014", 4)
        out.append(p.qn)
    return out


def spooled(root: Path) -> list[bytes]:
    return [raw for _, _, raw in read_segments(sorted(p for p in root.rglob("*") if p.is_file()))]


async def with_receiver(registry, tmp_path: Path, client, **kw):
    rx = Receiver(registry, tmp_path / "spool", tmp_path / "q", **kw)
    host, port = await rx.start("127.0.0.1", 0)
    try:
        return await client(host, port), rx
    finally:
        await rx.close()


async def read_answers(reader: asyncio.StreamReader, n: int, timeout: float = 10) -> list[str]:
    buf = b""
    while buf.count(b"\r\n") < n:
        chunk = await asyncio.wait_for(reader.read(65536), timeout)
        if not chunk:
            break
        buf += chunk
    return qns_of_answers(buf)


def test_answer_is_exact_9014_and_sent_after_spooling(small_registry, tmp_path):
    async def client(host, port):
        r, w = await asyncio.open_connection(host, port)
        w.write(packet(1))
        await w.drain()
        data = await asyncio.wait_for(r.readuntil(b"\r\n"), 10)
        on_disk = spooled(tmp_path / "spool")  # already there when the answer arrives
        w.close()
        return data, on_disk

    (data, on_disk), rx = asyncio.run(with_receiver(small_registry, tmp_path, client))
    seg = b"QN=20160801000000001;ST=91;CN=9014;PW=100000;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&"
    assert parse_packet(data).raw[6:-4] == seg
    assert data == data_answer(parse_packet(packet(1)))
    assert on_disk == [packet(1)[:-2]]
    assert rx.stats.packets == 1 and rx.stats.answers == 1
    # after close, the segment was rotated to .ready under the point's zone
    (ready,) = (tmp_path / "spool" / "jiangkou").glob("*.ready")
    assert ready.read_bytes() == packet(1)


def test_split_reads_many_per_read_garbage_and_no_ack_without_A(small_registry, tmp_path):
    async def client(host, port):
        r, w = await asyncio.open_connection(host, port)
        p = packet(1)
        for i in range(0, len(p), 9):  # one packet in pieces
            w.write(p[i:i + 9])
            await w.drain()
            await asyncio.sleep(0.01)
        w.write(b"".join(packet(i) for i in range(2, 102)))  # 100 in one write
        w.write(b"\x00\xffNOISE" + packet(102) + b"\r\n" + packet(103)[:40] + packet(104))
        w.write(packet(105, ack=False) + packet(106, device=WATER_NX))
        await w.drain()
        answers = await read_answers(r, 1 + 100 + 2 + 1)
        w.close()
        return answers

    answers, _ = asyncio.run(with_receiver(small_registry, tmp_path, client))
    assert answers == [f"20160801{i:09d}" for i in [*range(1, 103), 104, 106]]
    raws = spooled(tmp_path / "spool")
    assert len(raws) == 105  # 1..102, 104, 105 (no A bit: spooled, not answered), 106
    assert len(list((tmp_path / "spool" / "nanxi").glob("*.ready"))) == 1
    reasons = [r["reason"] for r in Quarantine.records(tmp_path / "q")]
    assert reasons == ["bytes outside a packet (before '##' header)",
                       "truncated packet: a new '##' header starts before its tail"]


def test_wrong_pw_unknown_mn_bad_crc_quarantined_without_answer(small_registry, tmp_path):
    wrong_pw = build_packet(st="31", cn="2011", mn=STACK[0], pw="999999", data_time=T0,
                            cp={"a21026": {"Rtd": 1}}, qn="Q-wrong-pw", ack=True)[0]
    unknown = build_packet(st="31", cn="2011", mn="UNKNOWN00000000000000000", pw="1", data_time=T0,
                           cp={"a21026": {"Rtd": 1}}, qn="Q-unknown", ack=True)[0]
    modbus = build_packet(st="31", cn="2011", mn=STACK[0], pw=STACK[1], data_time=T0,
                          cp={"a21026": {"Rtd": 1}}, qn="Q-modbus", ack=True, crc_mode="modbus")[0]
    no_time = build_packet(st="31", cn="2011", mn=STACK[0], pw=STACK[1], data_time=None,
                           cp={"a21026": {"Rtd": 1}}, qn="Q-notime", ack=True)[0]

    async def client(host, port):
        r, w = await asyncio.open_connection(host, port)
        w.write(wrong_pw + unknown + modbus + no_time + packet(7))
        await w.drain()
        answers = await read_answers(r, 1)
        w.close()
        return answers

    answers, _ = asyncio.run(with_receiver(small_registry, tmp_path, client))
    assert answers == ["20160801000000007"]
    assert spooled(tmp_path / "spool") == [packet(7)[:-2]]
    recs = Quarantine.records(tmp_path / "q")
    assert [r["reason"] for r in recs] == [
        "wrong PW for MN 010000A8900016F000169DC0 (point JK-001-DA001)",
        "unknown MN UNKNOWN00000000000000000",
        recs[2]["reason"],
        "missing DataTime in CP of CN=2011 (values are never stamped with the receiver's clock)",
    ]
    assert recs[2]["reason"].startswith("bad CRC: expected") and "MODBUS" in recs[2]["reason"]
    assert all(r["peer"].startswith("127.0.0.1:") and r["stage"] == "receiver" for r in recs)
    # the device password never reaches the quarantine file (issue 9, item 5)
    assert all("PW=******;" in r["raw"] and "999999" not in r["raw"] for r in recs[:3])


def test_over_long_frame_quarantined_connection_survives(small_registry, tmp_path):
    async def client(host, port):
        r, w = await asyncio.open_connection(host, port)
        w.write(b"##0999" + b"A" * 200_000)  # never a tail
        w.write(packet(1))
        await w.drain()
        answers = await read_answers(r, 1)
        w.close()
        return answers

    answers, _ = asyncio.run(with_receiver(small_registry, tmp_path, client))
    assert answers == ["20160801000000001"]
    recs = Quarantine.records(tmp_path / "q")
    assert recs and all(r["reason"].startswith("over-long frame: no tail within 1036 bytes") for r in recs)
    assert sum(r["size"] for r in recs) == 200_006


def test_idle_connection_closed_and_partial_packet_quarantined(small_registry, tmp_path):
    async def client(host, port):
        r, w = await asyncio.open_connection(host, port)
        w.write(packet(1)[:30])
        await w.drain()
        t = time.monotonic()
        eof = await asyncio.wait_for(r.read(), 10)
        return eof, time.monotonic() - t

    (eof, waited), _ = asyncio.run(with_receiver(small_registry, tmp_path, client, idle_timeout=0.3))
    assert eof == b"" and 0.25 <= waited < 5
    (rec,) = Quarantine.records(tmp_path / "q")
    assert rec["reason"] == "stream ended inside a packet (no tail)" and rec["size"] == 30


def test_many_concurrent_clients(small_registry, tmp_path):
    n_clients, per_client = 40, 25

    async def one(host, port, k):
        r, w = await asyncio.open_connection(host, port)
        device = STACK if k % 2 else WATER_NX
        sent = [packet(k * 1000 + i, device=device) for i in range(per_client)]
        for i in range(0, per_client, 5):
            w.write(b"".join(sent[i:i + 5]))
            await w.drain()
        answers = await read_answers(r, per_client)
        w.close()
        return answers

    async def client(host, port):
        return await asyncio.gather(*(one(host, port, k) for k in range(n_clients)))

    results, rx = asyncio.run(with_receiver(small_registry, tmp_path, client))
    assert [len(a) for a in results] == [per_client] * n_clients
    assert rx.stats.connections == n_clients and rx.stats.packets == n_clients * per_client
    qns = {parse_packet(raw).qn for raw in spooled(tmp_path / "spool")}
    assert qns == {a for answers in results for a in answers}
    assert Quarantine.records(tmp_path / "q") == []


def start_receiver_process(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitoring.commands.receiver", "--host", "127.0.0.1", "--port", "0",
         "--spool", str(tmp_path / "spool"), "--quarantine", str(tmp_path / "q"),
         "--registry", str(DATA / "registry_small.yaml"), *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    assert line.startswith("listening on 127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
    return proc, int(line.rsplit(":", 1)[1])


def test_sigkill_mid_stream_loses_no_acknowledged_packet(tmp_path):
    proc, port = start_receiver_process(tmp_path)
    sock = socket.create_connection(("127.0.0.1", port))
    acked: list[str] = []
    sent = [0]
    stop = threading.Event()

    def reader():
        fb = FrameBuffer()
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            acked.extend(parse_packet(ev.raw).qn for ev in fb.feed(data))

    def writer():
        i = 0
        while not stop.is_set():
            try:
                sock.sendall(b"".join(packet(i + k) for k in range(20)))
            except OSError:
                break
            i += 20
            sent[0] = i

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 3000 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    sock.close()
    assert len(acked) >= 1000, "the receiver answered too little before the kill"
    # every acknowledged QN is in the spool (the open segment of the dead receiver) …
    files = list((tmp_path / "spool").rglob("*.open"))
    assert files, "a killed receiver leaves its open segment"
    on_disk = {parse_packet(raw).qn for raw in spooled(tmp_path / "spool")}
    assert set(acked) <= on_disk
    # … and the ingest side can claim and read it, although it was never rotated
    spool = Spool(tmp_path / "spool", quarantine_dir=tmp_path / "q2")
    claimed = spool.claim("jiangkou", "after-kill")
    assert claimed and all(".claimed-after-kill" in p.name for p in claimed)
    claimed_qns = {parse_packet(raw).qn for _, _, raw in spool.read_segments(claimed)}
    assert set(acked) <= claimed_qns


def test_sigterm_closes_cleanly_and_rotates(tmp_path):
    proc, port = start_receiver_process(tmp_path, "--rotate-seconds", "3600")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(packet(1) + packet(2, device=WATER_NX))
        buf = b""
        while buf.count(b"\r\n") < 2:
            buf += sock.recv(4096)
    assert len(qns_of_answers(buf)) == 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert "stopped: 2 packets spooled, 2 answered, 0 quarantined" in proc.stderr.read().decode()
    assert not list((tmp_path / "spool").rglob("*.open"))
    assert len(list((tmp_path / "spool").rglob("*.ready"))) == 2


@pytest.mark.timeout(20)
def test_group_commit_does_not_spin_on_a_finished_round_awaiting_its_callback(tmp_path):
    """Regression: a round that has finished but whose done-callback is still queued must not make
    ``sync()`` loop without yielding (this froze the receiver under load)."""
    from sensors.receiver import _GroupCommit
    from sensors.spool import SegmentWriter

    async def main():
        seg = SegmentWriter(tmp_path / "spool")
        commit = _GroupCommit(seg)
        finished = asyncio.get_running_loop().create_future()
        finished.set_result(None)
        commit._running = finished
        seg.append("jiangkou", [b"x"])
        await asyncio.wait_for(commit.sync(), 5)
        assert not seg.dirty

    asyncio.run(main())


def test_failed_fsync_stops_acknowledgements(tmp_path):
    from sensors.receiver import _GroupCommit
    from sensors.spool import SegmentWriter

    async def main():
        seg = SegmentWriter(tmp_path / "spool")
        commit = _GroupCommit(seg)
        seg.dirty.add(987654)  # a descriptor that does not exist: fsync raises EBADF
        with pytest.raises(OSError):
            await commit.sync()
        seg.append("jiangkou", [b"x"])
        with pytest.raises(OSError, match="spool fsync failed earlier"):
            await commit.sync()

    asyncio.run(main())
