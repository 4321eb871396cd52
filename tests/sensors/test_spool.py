"""The durable spool: segment writing, rotation, claim/commit/release, dead writers, torn lines."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sensors.quarantine import Quarantine
from sensors.spool import SegmentWriter, Spool, read_segments, writer_alive
from sensors.timezone import LOCAL_TZ


def pk(i: int) -> bytes:
    return b"##0010QN=%07d0000" % i  # content is opaque to the spool


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_writer_rotates_to_ready_and_consumer_claims_commits(tmp_path: Path):
    root = tmp_path / "spool"
    w = SegmentWriter(root)
    w.append("jiangkou", [pk(1), pk(2)])
    w.append("nanxi", [pk(3)])
    w.append("jiangkou", [pk(4)])
    (open_seg,) = (root / "jiangkou").glob("*.open")
    assert open_seg.read_bytes() == pk(1) + b"\r\n" + pk(2) + b"\r\n" + pk(4) + b"\r\n"
    spool = Spool(root)
    assert spool.zones() == ["jiangkou", "nanxi"]
    assert spool.claim("jiangkou", "b1") == []  # the live writer's open segment is not claimable
    ready = w.rotate()
    assert sorted(p.suffix for p in ready) == [".ready", ".ready"]
    claimed = spool.claim("jiangkou", "b1")
    assert [p.name.split(".", 1)[1] for p in claimed] == ["claimed-b1"]
    assert spool.claim("jiangkou", "b2") == []  # already claimed
    assert [(n, raw) for _, n, raw in spool.read_segments(claimed)] == [(1, pk(1)), (2, pk(2)), (3, pk(4))]
    moved = spool.commit("b1")
    day = datetime.now(LOCAL_TZ).strftime("%Y-%m-%d")
    assert len(moved) == 1 and moved[0].parent.parent == root / "consumed" / day
    assert moved[0].parent.name == "jiangkou" and moved[0].name.endswith(".b1")
    assert moved[0].read_bytes().count(b"\r\n") == 3
    assert [p.name for p in (root / "jiangkou").iterdir()] == [".claims"]   # owner records (issue 9)
    assert list((root / "jiangkou" / ".claims").iterdir()) == []            # dropped with the commit
    assert spool.zones() == ["jiangkou", "nanxi"]  # consumed/ is not a zone


def test_pending_bytes_counts_what_the_next_run_will_read(tmp_path: Path):
    """Ready and open segments count (an open one is claimable once its writer is gone), claimed ones
    not: the size ingest_zones starts the biggest zones first by."""
    w = SegmentWriter(tmp_path / "spool")
    w.append("jiangkou", [pk(1), pk(2)])
    w.rotate()
    w.append("jiangkou", [pk(3)])               # still open
    w.append("nanxi", [pk(4)])
    w.rotate()
    spool = Spool(tmp_path / "spool")
    line = len(pk(1)) + 2                       # packet + CRLF
    assert (spool.pending_bytes("jiangkou"), spool.pending_bytes("nanxi")) == (3 * line, line)
    spool.claim("nanxi", "b1")
    assert spool.pending_bytes("nanxi") == 0
    assert spool.pending_bytes("gaoyang") == 0  # no folder yet


def test_release_returns_segments_to_ready(tmp_path: Path):
    w = SegmentWriter(tmp_path / "spool")
    w.append("nanxi", [pk(1)])
    w.rotate()
    spool = Spool(tmp_path / "spool")
    (claimed,) = spool.claim("nanxi", "run-7")
    assert spool.claimed("run-7") == [claimed]
    (back,) = spool.release("run-7")
    assert back.suffix == ".ready" and not claimed.exists()
    assert spool.claim("nanxi", "run-8")[0].name.endswith(".claimed-run-8")


def test_open_segment_of_dead_writer_is_claimable_and_torn_line_quarantined(tmp_path: Path):
    root = tmp_path / "spool"
    pid = dead_pid()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    seg = root / "jiangkou" / f"{stamp}-p{pid}-000001.open"
    seg.parent.mkdir(parents=True)
    seg.write_bytes(pk(1) + b"\r\n" + pk(2) + b"\r\n" + b"##0010QN=00")  # crash mid-write
    spool = Spool(root, quarantine_dir=tmp_path / "q")
    (claimed,) = spool.claim("jiangkou", "b1")
    assert [raw for _, _, raw in spool.read_segments([claimed])] == [pk(1), pk(2)]
    (rec,) = Quarantine.records(tmp_path / "q")
    assert rec["reason"].endswith("line 3: torn last line (writer stopped mid-write; never acknowledged)")
    assert rec["size"] == 11


def test_live_writer_segment_not_claimed(tmp_path: Path):
    root = tmp_path / "spool"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        seg = root / "nanxi" / f"{stamp}-p{proc.pid}-000001.open"
        seg.parent.mkdir(parents=True)
        seg.write_bytes(pk(1) + b"\r\n")
        assert writer_alive(proc.pid)
        assert Spool(root).claim("nanxi", "b") == []
        # a live process that started after the segment was created is a reused pid, not the writer
        old = root / "nanxi" / f"20000101T000000-p{proc.pid}-000002.open"
        old.write_bytes(pk(2) + b"\r\n")
        assert [p.name for p in Spool(root).claim("nanxi", "b")] == [f"20000101T000000-p{proc.pid}-000002.claimed-b"]
    finally:
        proc.kill()
        proc.wait()


def test_read_segments_without_quarantine_callback_still_yields(tmp_path: Path):
    f = tmp_path / "x.ready"
    f.write_bytes(b"a\r\n\r\nb\nc")
    seen = []
    assert [(n, r) for _, n, r in read_segments([f], on_torn=lambda *a: seen.append(a))] == [(1, b"a"), (3, b"b")]
    assert seen[0][1:3] == (4, b"c")


def test_bad_names_refused(tmp_path: Path):
    with pytest.raises(ValueError):
        Spool(tmp_path).claim("jiangkou", "../etc")
    with pytest.raises(ValueError):
        SegmentWriter(tmp_path).append("../x", [b"p"])


def test_concurrent_claims_never_share_a_segment(tmp_path: Path):
    root = tmp_path / "spool"
    w = SegmentWriter(root)
    for i in range(30):
        w.append("jiangkou", [pk(i)])
        w.rotate()
    code = ("import sys; from sensors.spool import Spool; "
            "print(len(Spool(sys.argv[1]).claim('jiangkou', sys.argv[2])))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root), f"c{k}"], stdout=subprocess.PIPE,
                              cwd=Path(__file__).resolve().parents[2]) for k in range(3)]
    counts = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert sum(counts) == 30
    assert len(list((root / "jiangkou").glob("*.ready"))) == 0
    assert len([n for n in os.listdir(root / "jiangkou") if not n.startswith(".")]) == 30  # .claims: owners
