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
    """dag.test() is a manual run: it draws a passed quarter only with a reason, recorded in the record."""
    import dags.inspection_roster as mod
    when = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)          # 08:00 Asia/Shanghai, Oct 1
    refused = mod.draw_dag.test(logical_date=when)
    assert refused.state == "failed", "a manual (late) draw without a reason is refused"
    assert list(roster_settings.rosters_dir.glob("*.json")) == []
    run = mod.draw_dag.test(logical_date=when, run_conf={"reason": "scheduler was down on Oct 1"})
    assert run.state == "success"
    files = sorted(roster_settings.rosters_dir.glob("*.json"))
    assert [f.name for f in files] == ["2026-Q4-county-1.json"]
    rec = json.loads(files[0].read_text(encoding="utf-8"))
    assert rec["drawn_by"] == "airflow" and rec["result"]["tasks"]
    assert rec["late_draw_reason"] == "scheduler was down on Oct 1"
    from monitoring.roster.verify import verify_record
    assert verify_record(roster_settings, "2026-Q4-county-1").ok
    # a second run for the same quarter keeps the existing record
    again = mod.draw_dag.test(logical_date=datetime(2026, 10, 1, 0, 5, tzinfo=UTC),
                              run_conf={"reason": "again"})
    assert again.state == "success"
    assert len(list(roster_settings.rosters_dir.glob("*.json"))) == 1
    check = mod.deadlines_dag.test(logical_date=when)
    assert check.state == "success"


def test_a_scheduled_run_draws_only_on_its_date(roster_settings):
    """Unpausing the DAG (or a scheduler started late) creates a run for the last passed date: no draw."""
    from monitoring.roster.schedule import LateDrawRefused, scheduled_draw
    due = "2026-10-01T00:00:00+00:00"                       # 08:00 local, Oct 1
    late = scheduled_draw(due, run_at_iso="2026-11-28T08:13:00+00:00")
    assert late["new"] is False and "2026-10-01" in late["skipped"] and "reason" in late["skipped"]
    assert list(roster_settings.rosters_dir.glob("*.json")) == []
    with pytest.raises(LateDrawRefused):
        scheduled_draw(due, manual=True, reason="  ")
    on_time = scheduled_draw(due, run_at_iso="2026-10-01T00:00:20+00:00")
    assert on_time["new"] is True and on_time["period"] == "2026-Q4"
    assert "late_draw_reason" not in json.loads(
        (roster_settings.rosters_dir / f"{on_time['record_id']}.json").read_text(encoding="utf-8"))
