"""verify replays a record and catches tampering with the record, the directories, the rules or the seed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from monitoring.cli import app
from monitoring.complaints import add_complaint
from monitoring.db import session_scope
from monitoring.roster import tables
from monitoring.roster.records import record_path, run_draw
from monitoring.roster.verify import verify_record

DRAWN = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def drawn(roster_settings, registry):
    rec = run_draw(roster_settings, "2026-Q4", seed=20261001, by="张科长", now=DRAWN, registry=registry)
    return roster_settings, rec


def text(v) -> str:
    return "\n".join(v.differences)


def test_fresh_record_matches(drawn, registry):
    s, rec = drawn
    v = verify_record(s, rec["record_id"], registry)
    assert v.ok, text(v)
    assert verify_record(s, str(record_path(s, rec["record_id"])), registry).ok
    # a complaint recorded after the draw does not change the directory the draw was made from
    add_complaint(s.sql_url, enterprise="JK-003", received_on=date(2026, 9, 1), channel="12369",
                  substantiated=True, recorded_by="x", now=datetime(2026, 10, 2, tzinfo=UTC))
    assert verify_record(s, rec["record_id"], registry).ok


def test_tampered_team_in_the_file(drawn, registry):
    s, rec = drawn
    p = record_path(s, rec["record_id"])
    data = json.loads(p.read_text(encoding="utf-8"))
    task = data["result"]["tasks"][0]
    original = task["inspectors"][0]
    task["inspectors"][0] = "YY-ZF-99"
    p.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    v = verify_record(s, rec["record_id"], registry)
    out = text(v)
    assert not v.ok
    assert "record altered after the draw" in out
    assert "JSON file differs from the SQL store copy" in out
    assert f"task {task['enterprise']}: inspectors" in out and "YY-ZF-99" in out and original in out


def test_tampered_seed_consistently_rehashed_is_still_caught(drawn, registry):
    """Someone changes the seed and recomputes the record hash: the SQL copy and the replay disagree."""
    from monitoring.roster.records import record_body_sha
    s, rec = drawn
    p = record_path(s, rec["record_id"])
    data = json.loads(p.read_text(encoding="utf-8"))
    data["seed"] += 1
    data["record_sha256"] = record_body_sha(data)
    p.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = text(verify_record(s, rec["record_id"], registry))
    assert "record altered" not in out
    assert f"seed: {rec['seed'] + 1} → {rec['seed']}" in out   # file → store
    assert f"replay with seed {rec['seed'] + 1} differs from the recorded roster" in out


def test_changed_seed_in_the_sql_store_only(drawn, registry):
    s, rec = drawn
    fake = dict(rec, seed=rec["seed"] + 7)
    with session_scope(s.sql_url) as ss:
        ss.execute(update(tables.DrawRow).where(tables.DrawRow.record_id == rec["record_id"])
                   .values(record_json=json.dumps(fake, ensure_ascii=False)))
    out = text(verify_record(s, rec["record_id"], registry))
    assert "JSON file differs from the SQL store copy" in out and f"seed: {rec['seed']} → {rec['seed'] + 7}" in out


def test_changed_inspector_directory(drawn, registry):
    s, rec = drawn
    y = s.inspectors_path.read_text(encoding="utf-8")
    y = y.replace("name: 刘洋, certificate: 示例-渝环执-500235-0105, unit: 云阳县生态环境保护综合行政执法支队, fields: [大气]}",
                  "name: 刘洋, certificate: 示例-渝环执-500235-0105, unit: 云阳县生态环境保护综合行政执法支队, fields: [大气], active: false}")
    y = y.replace("conflicts:\n", "conflicts:\n  - {inspector: YY-ZF-01, enterprise: JK-002, reason: \"亲属关系：配偶在该企业任职\"}\n")
    s.inspectors_path.write_text(y, encoding="utf-8")
    out = text(verify_record(s, rec["record_id"], registry))
    assert "inspector directory changed since the draw" in out
    assert "inspector YY-ZF-05: active True → False" in out
    assert "conflict YY-ZF-01/JK-002: added" in out


def test_changed_rules_file(drawn, registry):
    s, rec = drawn
    r = s.roster_rules_path.read_text(encoding="utf-8")
    s.roster_rules_path.write_text(r.replace("floor: {ratio: 0.25, per: quarter}", "floor: {ratio: 0.2, per: quarter}"),
                                   encoding="utf-8")
    out = text(verify_record(s, rec["record_id"], registry))
    assert "rules file changed since the draw" in out
    assert "-    floor: {ratio: 0.25, per: quarter}" in out and "+    floor: {ratio: 0.2, per: quarter}" in out


def test_backdated_evidence_changes_the_target_directory(drawn, registry):
    """Complaints slipped in with a recording time before the draw: the rebuilt directory differs."""
    s, rec = drawn
    for d in (3, 4, 5):
        add_complaint(s.sql_url, enterprise="JK-003", received_on=date(2026, 9, d), channel="web",
                      substantiated=True, recorded_by="x", now=datetime(2026, 9, 30, tzinfo=UTC))
    out = text(verify_record(s, rec["record_id"], registry))
    assert "target directory rebuilt as of the draw differs" in out
    assert "JK-003: category ordinary → special" in out and "JK-003: substantiated_complaints 0 → 3" in out


def test_cli_verify_exit_status(drawn, registry):
    s, rec = drawn
    runner = CliRunner()
    ok = runner.invoke(app, ["roster", "verify", rec["record_id"]])
    assert ok.exit_code == 0 and ok.stdout.strip() == "MATCH"
    s.roster_rules_path.write_text(s.roster_rules_path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    bad = runner.invoke(app, ["roster", "verify", rec["record_id"]])
    assert bad.exit_code == 1
    assert bad.stdout.startswith(f"MISMATCH {rec['record_id']}") and "+# edited" in bad.stdout
    missing = runner.invoke(app, ["roster", "verify", "2030-Q1-county-1"])
    assert missing.exit_code == 2 and "no draw record" in missing.stderr
