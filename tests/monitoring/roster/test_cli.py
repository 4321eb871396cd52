"""The commands as specified: complaints add, roster draw --json, verify, result, deadlines, publish."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from monitoring.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_county_quarter_draw_verify_result_publish(roster_settings):
    for day in ("2026-07-03", "2026-08-12", "2026-09-20"):
        r = run("complaints", "add", "JK-003", "--date", day, "--channel", "12369", "--substantiated",
                "--summary", "夜间异味", "--by", "值班员")
        assert r.exit_code == 0, r.output
    r = run("complaints", "add", "JK-003", "--date", "2026-09-21", "--channel", "pigeon")
    assert r.exit_code == 2 and "unknown channel 'pigeon'" in r.stderr

    r = run("roster", "draw", "--period", "2026-Q4", "--seed", "20261001", "--by", "张科长", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["record"] == "2026-Q4-county-1" and out["seed"] == 20261001
    tasks = {t["enterprise"]: t for t in out["tasks"]}
    assert all(len(t["inspectors"]) >= 2 for t in out["tasks"])
    # three substantiated complaints made JK-003 special supervision, so it is drawn (100 %), reason given
    assert tasks["JK-003"]["category"] == "special" and "查实投诉3次" in tasks["JK-003"]["special_reasons"]
    assert (roster_settings.rosters_dir / "2026-Q4-county-1.json").exists()

    again = run("roster", "draw", "--period", "2026-Q4", "--seed", "1")
    assert again.exit_code == 2 and "already drawn" in again.stderr

    v = run("roster", "verify", "2026-Q4-county-1")
    assert v.exit_code == 0 and v.stdout.strip() == "MATCH"

    task = tasks["JK-003"]["task"]
    r = run("roster", "result", task, "--outcome", "compliant", "--note", "未见异常", "--by", "李红梅",
            "--date", "2026-09-30")
    assert r.exit_code == 2 and "before the draw" in r.stderr            # drawn today, not in September
    r = run("roster", "result", task, "--outcome", "compliant", "--note", "未见异常", "--by", "李红梅")
    assert r.exit_code == 0 and "publish by" in r.stdout, r.output
    r = run("roster", "deadlines", "--today", "2099-01-01", "--strict")
    assert r.exit_code == 1 and "OVERDUE" in r.stdout and task in r.stdout
    r = run("roster", "publish", "--period", "2026-Q4", "--by", "信息公开员")
    assert r.exit_code == 0 and "1 result(s) public, 1 newly published" in r.stdout
    r = run("roster", "deadlines", "--today", "2099-01-01", "--strict")
    assert r.exit_code == 0 and "no unpublished results" in r.stdout


def test_bad_period_and_zone(roster_settings):
    r = run("roster", "draw", "--period", "2026-Q5")
    assert r.exit_code == 2 and "expected YYYY-Qn" in r.stderr
    r = run("roster", "draw", "--period", "2026-Q4", "--zone", "atlantis")
    assert r.exit_code == 2 and "unknown zone" in r.stderr
