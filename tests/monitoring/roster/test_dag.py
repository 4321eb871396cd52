"""The Airflow wiring: both DAGs parse, the draw DAG runs end to end with dag.test() and is idempotent."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_dags_parse_with_the_configured_schedule():
    import dags.inspection_roster as mod
    assert mod.draw_dag.dag_id == "inspection_roster_draw"
    assert "0 8 1 1,4,7,10 *" in str(mod.draw_dag.timetable)
    assert {t.task_id for t in mod.draw_dag.tasks} == {"draw_quarter"}
    assert {t.task_id for t in mod.deadlines_dag.tasks} == {"check_deadlines"}


def test_draw_dag_runs_and_is_idempotent(airflow_db, roster_settings):
    import dags.inspection_roster as mod
    when = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)          # 08:00 Asia/Shanghai, Oct 1
    run = mod.draw_dag.test(logical_date=when)
    assert run.state == "success"
    files = sorted(roster_settings.rosters_dir.glob("*.json"))
    assert [f.name for f in files] == ["2026-Q4-county-1.json"]
    rec = json.loads(files[0].read_text(encoding="utf-8"))
    assert rec["drawn_by"] == "airflow" and rec["result"]["tasks"]
    from monitoring.roster.verify import verify_record
    assert verify_record(roster_settings, "2026-Q4-county-1").ok
    # a second run for the same quarter keeps the existing record
    again = mod.draw_dag.test(logical_date=datetime(2026, 10, 1, 0, 5, tzinfo=UTC))
    assert again.state == "success"
    assert len(list(roster_settings.rosters_dir.glob("*.json"))) == 1
    check = mod.deadlines_dag.test(logical_date=when)
    assert check.state == "success"
