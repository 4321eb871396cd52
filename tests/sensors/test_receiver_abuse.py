"""Receiver faults and abuse found by the hostile review of issue 9, over real loopback sockets.

* item 1: a DataTime far ahead of the receiver clock (2999-12-31) or before 2000 is refused — no 9014;
* item 3: 5 wrong PWs for one MN or from one address within 10 min lock it for 15 min (not even the
  right PW is answered), the connection is closed, a security event is written;
* item 4: one connection cannot fill the disk through the quarantine;
* item 5: quarantine and security records never hold a device PW.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from sensors.hj212 import build_packet
from sensors.quarantine import read_records
from sensors.receiver import Lockout
from tests.sensors.test_receiver import DATA, STACK, WATER_NX, packet, read_answers, spooled, with_receiver


@pytest.fixture(scope="module")
def small_registry():
    import yaml

    from monitoring.registry import parse_registry
    return parse_registry(yaml.safe_load((DATA / "registry_small.yaml").read_text(encoding="utf-8")))




def _at(t: datetime, *, device=STACK, pw: str | None = None, qn: str = "20261128000000001") -> bytes:
    mn, right = device
    code = "a21026" if device is STACK else "w01018"
    return build_packet(st="31", cn="2011", mn=mn, pw=right if pw is None else pw, data_time=t,
                        cp={code: {"Rtd": 12.5, "Flag": "N"}}, qn=qn, ack=True)[0]


async def _send(host: str, port: int, data: bytes, answers: int, timeout: float = 3) -> tuple[list[str], bool]:
    """Send ``data``; return the QNs answered and whether the receiver closed the connection."""
    r, w = await asyncio.open_connection(host, port)
    got: list[str] = []
    closed = False
    try:
        w.write(data)
        await w.drain()
        got = await read_answers(r, answers, timeout=timeout)
        closed = (await asyncio.wait_for(r.read(1), 0.5)) == b""
    except TimeoutError:
        pass
    except ConnectionError:            # closed by the receiver with our bytes unread: a reset
        closed = True
    finally:
        w.close()
    return got, closed


def test_datatime_far_ahead_or_before_2000_is_refused_and_quarantined(small_registry, tmp_path):
    now = datetime.now(UTC)

    async def client(host, port):
        data = (_at(datetime(2999, 12, 31, 23, 59, 59), qn="Q-2999")
                + _at(now + timedelta(minutes=11), qn="Q-11min")
                + _at(datetime(1999, 12, 31, 23, 0), qn="Q-1999")
                + _at(now + timedelta(minutes=5), qn="Q-5min")        # a clock 5 min fast is fine
                + _at(now - timedelta(hours=1), qn="Q-1h-ago"))
        return (await _send(host, port, data, 2))[0]

    answers, _rx = asyncio.run(with_receiver(small_registry, tmp_path, client))
    assert answers == ["Q-5min", "Q-1h-ago"]
    assert len(spooled(tmp_path / "spool")) == 2
    reasons = [r["reason"] for r in read_records(tmp_path / "q")]
    assert reasons[0].startswith("DataTime 2999-12-31 23:59:59 is ")     # after what the store can hold
    assert reasons[1].startswith("DataTime ") and "more than 10 min ahead" in reasons[1]
    assert reasons[2] == "DataTime 1999-12-31 23:00:00 is before 2000-01-01 (a data logger clock reset?)"


def test_five_wrong_pws_for_one_mn_lock_it_even_with_the_right_pw(small_registry, tmp_path):
    async def client(host, port):
        guesses = b"".join(_at(datetime.now(UTC), pw=f"{i:06d}", qn=f"Q-guess-{i}") for i in range(20))
        first = await _send(host, port, guesses, 1)
        # the right PW, on a new connection from the same address → nothing (address and MN locked)
        right = await _send(host, port, packet(1), 1)
        return first, right

    (first, right), rx = asyncio.run(with_receiver(small_registry, tmp_path, client))
    assert first == ([], True), "the guessing connection is closed without any answer"
    assert right == ([], True)
    assert spooled(tmp_path / "spool") == []
    assert rx.stats.lockouts == 2          # the MN and the peer address
    recs = read_records(tmp_path / "q")
    assert sum("wrong PW" in r["reason"] for r in recs) == 5      # guesses after the lockout are not even read
    events = read_records(tmp_path / "security")
    assert sorted(e["key"] for e in events) == ["MN " + STACK[0], "address 127.0.0.1"]
    assert all(e["stage"] == "security" and e["kind"] == "pw_lockout" and e["point"] == "JK-001-DA001"
               and "locked for 15 min" in e["reason"] for e in events)
    text = "".join(p.read_text() for p in (tmp_path / "security").glob("*.jsonl"))
    assert not any(f"{i:06d}" in text for i in range(20)), "a tried PW reached the security log"
    assert STACK[1] not in text


def test_lockout_per_mn_does_not_lock_other_devices_and_expires(small_registry, tmp_path):
    """Wrong PWs spread over addresses: only the MN is locked; another device goes on; after the
    lockout duration the right PW is answered again."""
    lock = Lockout(max_failures=5, window=600, duration=1.0)

    async def client(host, port):
        for i in range(5):     # 5 connections, each one guess (same address: also locks the address)
            await _send(host, port, _at(datetime.now(UTC), pw=f"{i:06d}", qn=f"Q-g{i}"), 1, timeout=0.5)
        locked = await _send(host, port, packet(1), 1, timeout=1)
        await asyncio.sleep(1.1)
        other = await _send(host, port, packet(2, device=WATER_NX), 1)
        again = await _send(host, port, packet(3), 1)
        return locked, other, again

    (locked, other, again), _rx = asyncio.run(with_receiver(small_registry, tmp_path, client, lockout=lock))
    assert locked == ([], True)
    assert other[0] == ["20160801000000002"] and again[0] == ["20160801000000003"]


def test_one_mb_of_garbage_makes_a_bounded_quarantine_and_drops_the_connection(small_registry, tmp_path):
    garbage = b"##\n" * (1_000_000 // 3)

    async def client(host, port):
        r, w = await asyncio.open_connection(host, port)
        try:
            w.write(garbage)
            await w.drain()
            with_rest = await asyncio.wait_for(r.read(), 10)
        except ConnectionError:
            with_rest = b""
        w.close()
        # a well-behaved device on its own connection is not affected
        ok = await _send(host, port, packet(9), 1)
        return with_rest, ok

    (rest, ok), rx = asyncio.run(with_receiver(small_registry, tmp_path, client))
    assert rest == b"" and ok[0] == ["20160801000000009"]
    size = sum(p.stat().st_size for p in (tmp_path / "q").glob("*.jsonl"))
    records = read_records(tmp_path / "q")
    assert len(records) <= 201 and size <= 300_000, (len(records), size)
    assert records[-1]["reason"].startswith("connection dropped: over its quarantine budget")
    assert rx.stats.quarantine_dropped >= 1 and rx.stats.connections_dropped == 1


def test_many_connections_within_their_budgets_cannot_fill_the_disk_either(small_registry, tmp_path):
    """Item 4, all connections together: 20 connections each send 150 garbage lines — each within its
    own budget (200 records a minute), 3,000 records in all. The receiver writes at most its total budget
    (2,000 records a minute), counts the 1,000 it dropped and says so in one record; a device's valid
    packet is still answered."""
    async def client(host, port):
        async def garbage(k: int) -> None:
            _r, w = await asyncio.open_connection(host, port)
            w.write(b"##\n" * 150)
            await w.drain()
            await asyncio.sleep(0.3)
            w.close()

        await asyncio.gather(*(garbage(k) for k in range(20)))
        await asyncio.sleep(0.5)
        return await _send(host, port, packet(7), 1)

    ok, rx = asyncio.run(with_receiver(small_registry, tmp_path, client))
    assert ok[0] == ["20160801000000007"]
    assert rx.stats.connections_dropped == 0                      # no connection was over its own budget
    assert sum(rx.stats.quarantined.values()) == 3_000
    assert rx.stats.quarantine_dropped_global == 1_000
    records = read_records(tmp_path / "q")
    assert len(records) == 2_000 + 1
    note = records[-1]
    assert note["origin"] == "receiver" and note["dropped_records"] == 1_000
    assert note["reason"].startswith("quarantine budget of the receiver exceeded (2000 records or 2097152 bytes "
                                     "per 60 s, all connections): 1000 records")


def test_quarantine_files_are_private_and_hold_no_pw(small_registry, tmp_path):
    async def client(host, port):
        return await _send(host, port, _at(datetime.now(UTC), pw="123456") + packet(4)[:30] + b"\r\n", 0,
                           timeout=0.5)

    asyncio.run(with_receiver(small_registry, tmp_path, client))
    files = list((tmp_path / "q").glob("*.jsonl"))
    assert files
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert stat.S_IMODE(f.parent.stat().st_mode) == 0o700
        text = f.read_text()
        assert "PW=123456" not in text and f"PW={STACK[1]}" not in text and "PW=******" in text
    for seg in (tmp_path / "spool").rglob("*"):
        assert stat.S_IMODE(seg.stat().st_mode) == (0o700 if seg.is_dir() else 0o600), seg
    assert [json.loads(line)["stage"] for f in files for line in f.read_text().splitlines()] == ["receiver"] * 2
    assert os.access(files[0], os.R_OK)
