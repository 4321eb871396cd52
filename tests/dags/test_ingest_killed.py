"""Issue 9 item 2 on the Airflow path: the ingest *task* killed (SIGTERM, then kill -9) strands nothing.

The real ``ingest_readings`` DAG runs in its own process (``DAG.test()``, the task in that process) against
an InfluxDB that never answers a write, so the ``jiangkou`` task holds its claims when it is killed. The
next run of the DAG (in this process, against the real influxd) must give back what the dead task held
— exactly once — and store every reading once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from monitoring import ingest
from tests.dags.conftest import simulate_into_spool
from tests.monitoring.test_ingest_claims import _influx_that_hangs_on_write

pytestmark = [pytest.mark.influx, pytest.mark.airflow]

ZONE = "jiangkou"
REPO = Path(__file__).resolve().parents[2]
RUN_DAG = "from dags.ingest_readings import DAG; DAG.test()"


def _claimed(settings) -> list[Path]:
    return [*(settings.spool_dir / ZONE).glob("*.claimed-*"), *(settings.landing_dir / ZONE).rglob(".claimed-*")]


def _kill_the_task_while_it_holds_its_claims(settings, sig: int, influx_port: int) -> dict:
    """Run the DAG in a new process until the zone's task has claimed its input, then send ``sig``; for
    SIGTERM, wait until the task has given its claims back (then end the process: Airflow would retry).
    Returns the claim's owner record (whose pid is the killed process)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "ENVMON_DATA_DIR": str(settings.data_dir),
           "ENVMON_INFLUX_URL": f"http://127.0.0.1:{influx_port}", "ENVMON_INFLUX_DB": settings.influx_db}
    proc = subprocess.Popen([sys.executable, "-c", RUN_DAG], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    owners = settings.spool_dir / ZONE / ".claims"
    try:
        deadline = time.monotonic() + 300
        while not list((settings.spool_dir / ZONE).glob("*.claimed-*")) or not list(owners.glob("*.json")):
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the ingest task never claimed its input"
            time.sleep(0.05)
        owner = json.loads(next(owners.glob("*.json")).read_text())
        time.sleep(0.2)                      # well inside the run: landing files claimed, write hanging
        proc.send_signal(sig)
        if sig == signal.SIGTERM:
            deadline = time.monotonic() + 30
            while _claimed(settings):
                assert time.monotonic() < deadline, "SIGTERM: the task kept its claims"
                time.sleep(0.05)
        else:
            proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert owner["pid"] == proc.pid, "the task ran in the killed process"
    return owner


def test_a_killed_airflow_ingest_task_strands_nothing(pipeline_env, registry, influx_store, week_start):
    from dags.ingest_readings import DAG

    sent = simulate_into_spool(registry, pipeline_env.spool_dir, ZONE, week_start, week_start + timedelta(hours=2))
    gw = next(p for p in registry.points.values() if p.zone == ZONE and p.kind == "groundwater")
    (pipeline_env.landing_dir / ZONE / "lab").mkdir(parents=True)
    (pipeline_env.landing_dir / ZONE / "lab" / "lab.csv").write_text(
        f"point,parameter,sample_time,value,unit,detection_limit\n{gw.id},w21003,2026-11-10 10:30,0.3,mg/L,\n",
        encoding="utf-8")
    port, stop = _influx_that_hangs_on_write()
    try:
        # SIGTERM (Airflow's "mark failed", a timeout, a worker shutdown): the task gives its input back
        # at once — Airflow 3.3's task runner only calls on_kill, the task used to run on with its claims
        _kill_the_task_while_it_holds_its_claims(pipeline_env, signal.SIGTERM, port)
        assert (pipeline_env.landing_dir / ZONE / "lab" / "lab.csv").exists()
        # kill -9: nothing can run in the task; its claims stay until the next run
        _kill_the_task_while_it_holds_its_claims(pipeline_env, signal.SIGKILL, port)
    finally:
        stop()
    stranded = list((pipeline_env.spool_dir / ZONE).glob("*.claimed-*"))
    assert stranded and list((pipeline_env.landing_dir / ZONE / "lab").glob(".claimed-*/lab.csv"))

    assert DAG.test().state == "success"                    # the next run: real influxd
    report = ingest.read_reports(pipeline_env, ZONE)[-1]
    assert (report["reclaimed_segments"], report["reclaimed_files"]) == (len(stranded), 1)
    assert not list(pipeline_env.spool_dir.rglob("*.claimed-*"))
    assert not list(pipeline_env.landing_dir.rglob(".claimed-*"))
    stored = influx_store.read_readings(week_start - timedelta(days=30), week_start + timedelta(hours=2), zone=ZONE)
    assert len(stored[stored["source"] != "lab"]) == len(sent.drop_duplicates(["point", "parameter", "time"]))
    assert (stored["source"] == "lab").sum() == 1

    assert DAG.test().state == "success"                    # and once only: nothing left to reclaim
    again = ingest.read_reports(pipeline_env, ZONE)[-1]
    assert (again["reclaimed_segments"], again["reclaimed_files"], again["readings_stored"]) == (0, 0, 0)
