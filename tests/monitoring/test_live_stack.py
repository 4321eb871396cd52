"""``envmon up`` under the real Airflow scheduler (not ``dag.test()``): a short smoke run.

Live simulated devices → receiver → spool → ``ingest_readings`` scheduled by the real scheduler and run
by the LocalExecutor → InfluxDB; then SIGTERM stops every process the stack started and exits 0.
The 30-minute run with the alert goals is ``tests/monitoring/test_live_run.py`` (``make test-live``).
"""

from __future__ import annotations

import time

import pytest

from tests.live_stack import LiveStack, alive

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.timeout(900)]


def _stored(stack: LiveStack) -> int:
    from monitoring.influx import InfluxStore

    store = InfluxStore(stack.influx_url, "envmon")
    try:
        frame = store.query("SELECT count(value) FROM readings")
    except Exception:  # noqa: BLE001 - database not created before the first ingest
        return 0
    finally:
        store.close()
    return int(frame.iloc[0, -1]) if len(frame) else 0


def test_envmon_up_ingests_live_packets_and_stops_cleanly(tmp_path):
    stack = LiveStack(tmp_path / "data", simulate=True, healthy=True).start()
    try:
        names = {cmd.split()[1] if cmd.startswith("airflow ") else cmd for _, cmd in stack.processes()}
        tree = " | ".join(cmd for _, cmd in stack.processes())
        for what in ("supervisord", "influxd", "envmon receiver", "api_server", "airflow scheduler",
                     "airflow dag-processor", "airflow triggerer", "simulate live"):
            assert what in tree, (what, names)
        deadline = time.monotonic() + 420
        stored = 0
        while time.monotonic() < deadline and stored == 0:
            time.sleep(10)
            stored = _stored(stack)
        assert stored > 0, f"no readings reached InfluxDB under the real scheduler:\n{stack.output()[-2000:]}"
        status = stack.supervisorctl("status")
        assert status.count("RUNNING") == len(stack.info["services"]), status
    finally:
        before = [pid for pid, _ in stack.processes()]
        code = stack.stop()
    assert code == 0, stack.output()[-2000:]
    assert alive(before) == [], "processes left after stop"
    logs = stack.data_dir / "logs"
    scheduler = (logs / "airflow-scheduler.log").read_text(encoding="utf-8", errors="replace")
    assert "Skipping registering function" not in scheduler
    assert "XCom not found" not in scheduler
