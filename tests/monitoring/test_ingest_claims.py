"""Issue 9, item 2: a killed ingest run strands nothing.

A run killed with SIGKILL (or the Airflow task killed) used to leave ``spool/<zone>/*.claimed-<batch>``
and ``landing/<zone>/lab/.claimed-<batch>/`` behind for good (605 acknowledged readings stranded while
every run stayed green). Now every claim carries its owner and a lease, and the next run reclaims what
a dead owner held — exactly once — and logs it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitoring import ingest
from monitoring.config import LOCAL_TZ
from sensors.hj212 import build_packet
from sensors.spool import SegmentWriter, Spool

pytestmark = [pytest.mark.influx]

ZONE = "jiangkou"
REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=LOCAL_TZ)


def _fill(settings, registry, n: int = 40) -> None:
    p = next(q for q in registry.points_of(zone=ZONE, online=True) if q.kind == "stack")
    writer = SegmentWriter(settings.spool_dir)
    writer.append(ZONE, [build_packet(st="31", cn="2061", mn=p.mn, pw=p.pw, data_time=T0 + timedelta(hours=i),
                                      cp={p.parameters[0]: {"Avg": 10 + i, "Flag": "N"}}, qn=f"Q{i}")[0].rstrip(b"\r\n")
                         for i in range(n)])
    writer.close()
    gw = next(q for q in registry.points.values() if q.zone == ZONE and q.kind == "groundwater")
    lab = settings.landing_dir / ZONE / "lab"
    lab.mkdir(parents=True)
    (lab / "lab.csv").write_text(f"point,parameter,sample_time,value,unit,detection_limit\n"
                                 f"{gw.id},w21003,2026-03-06 10:30,0.3,mg/L,\n", encoding="utf-8")


def _claim_and_die(settings, batch: str) -> None:
    """A real process claims the zone's input the way an ingest run does, then is killed with SIGKILL."""
    script = textwrap.dedent(f"""
        import sys, time
        from monitoring.config import load_settings
        from monitoring.ingest import _claim_landing
        from sensors.spool import Spool
        s = load_settings()
        assert Spool(s.spool_dir).claim({ZONE!r}, {batch!r})
        assert _claim_landing(s, {ZONE!r}, "lab", {batch!r}, {{".csv"}})
        print("claimed", flush=True)
        time.sleep(600)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "ENVMON_DATA_DIR": str(settings.data_dir)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "claimed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def test_input_of_a_killed_run_is_reclaimed_once_and_stored(settings, registry, influx_store, caplog):
    _fill(settings, registry)
    _claim_and_die(settings, "jiangkou-killed-1")
    assert len(list((settings.spool_dir / ZONE).glob("*.claimed-jiangkou-killed-1"))) == 1
    assert (settings.landing_dir / ZONE / "lab" / ".claimed-jiangkou-killed-1" / "lab.csv").exists()

    with caplog.at_level(logging.WARNING, logger="monitoring.ingest"):
        report = ingest.ingest_zone(ZONE, settings=settings, registry=registry, store=influx_store)
    assert (report.reclaimed_segments, report.reclaimed_files) == (1, 1)
    assert report.readings_stored == 40 + 1 and report.quarantined == 0
    logged = " | ".join(r.getMessage() for r in caplog.records)
    assert "reclaimed 1 spool segment(s) of batch jiangkou-killed-1" in logged
    assert "reclaimed 1 landing file(s) of batch jiangkou-killed-1" in logged
    assert not list(settings.spool_dir.rglob("*.claimed-*")) and not list(settings.landing_dir.rglob(".claimed-*"))
    assert not list((settings.spool_dir / ZONE / ".claims").iterdir())

    again = ingest.ingest_zone(ZONE, settings=settings, registry=registry, store=influx_store)
    assert (again.reclaimed_segments, again.reclaimed_files, again.readings_stored) == (0, 0, 0)


def test_a_live_owner_is_never_robbed_and_a_dead_claim_is_reclaimed_exactly_once(settings, registry):
    _fill(settings, registry)
    spool = Spool(settings.spool_dir)
    mine = spool.claim(ZONE, "jiangkou-alive-1")                    # this process: alive
    assert mine and spool.reclaim(ZONE, "jiangkou-other-1") == {}
    spool.release("jiangkou-alive-1")
    _claim_and_die(settings, "jiangkou-dead-1")
    first = spool.reclaim(ZONE, "jiangkou-a")
    second = spool.reclaim(ZONE, "jiangkou-b")
    assert list(first) == ["jiangkou-dead-1"] and second == {}
    assert [p.suffix for p in first["jiangkou-dead-1"]] == [".ready"]


def _influx_that_hangs_on_write() -> tuple[int, object]:
    """A loopback HTTP endpoint standing in for a hung InfluxDB: ``/ping`` and ``/query`` answer at once,
    ``/write`` is read and never answered (the fault; the real influxd cannot be made to do just this)."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            head = conn.recv(65536)
            if b" /write" in head.split(b"\r\n", 1)[0]:
                held.append(conn)                      # never answered
                continue
            body = b'{"results":[{"statement_id":0}]}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()

    def stop() -> None:
        srv.close()
        for c in held:
            c.close()
    return srv.getsockname()[1], stop


def test_sigterm_of_envmon_ingest_gives_its_input_back(settings, registry, influx_store):
    """``envmon ingest`` stopped with SIGTERM while InfluxDB does not answer: claims are released at once."""
    _fill(settings, registry, n=5)
    port, stop = _influx_that_hangs_on_write()
    env = {**os.environ, "PYTHONPATH": str(REPO), "ENVMON_DATA_DIR": str(settings.data_dir),
           "ENVMON_INFLUX_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "monitoring.cli", "ingest", "--zone", ZONE], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not list((settings.spool_dir / ZONE).glob("*.claimed-*")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "ingest never claimed its input"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        stop()
    assert proc.returncode != 0
    assert not list(settings.spool_dir.rglob("*.claimed-*")), err
    assert list((settings.spool_dir / ZONE).glob("*.ready"))
    assert (settings.landing_dir / ZONE / "lab" / "lab.csv").exists()
