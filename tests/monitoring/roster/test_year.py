"""A simulated year of quarterly county draws through the SQL store: floors met, caps and rotation held."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime

import pytest

from monitoring.roster.directories import load_inspectors
from monitoring.roster.records import RosterError, run_draw
from monitoring.roster.rules import load_rules


def test_a_year_of_draws_meets_floors_and_caps(roster_settings, registry):
    rules = load_rules(roster_settings.roster_rules_path).rules
    active = len(load_inspectors(roster_settings.inspectors_path).active())
    records = []
    for q, month in zip(range(1, 5), (1, 4, 7, 10)):
        records.append(run_draw(roster_settings, f"2026-Q{q}", seed=1000 + q, by="测试",
                                now=datetime(2026, month, 1, 1, 0, tzinfo=UTC), registry=registry))
    ordinary_year: Counter[str] = Counter()
    prev_teams: dict[str, set[str]] = {}
    for rec in records:
        target = {r["code"]: r for r in rec["inputs"]["target_directory"]}
        by_cat = Counter(r["category"] for r in target.values())
        tasks = rec["result"]["tasks"]
        drawn = Counter(t["category"] for t in tasks)
        assert drawn["special"] == by_cat["special"]                              # 100 % a quarter
        assert drawn["key"] >= math.ceil(rules.categories["key"].floor.ratio * by_cat["key"])   # ≥ 25 %
        codes = [t["enterprise"] for t in tasks]
        assert len(codes) == len(set(codes))                                      # at most once a quarter
        for t in tasks:
            assert len(t["inspectors"]) >= 2
            assert not set(t["inspectors"]) & prev_teams.get(t["enterprise"], set())   # rotation
            if t["category"] == "ordinary":
                ordinary_year[t["enterprise"]] += 1
        prev_teams = {t["enterprise"]: set(t["inspectors"]) for t in tasks}
        assert not rec["result"]["warnings"]
    assert max(ordinary_year.values()) == 1                                       # ordinary: once a year
    assert sum(ordinary_year.values()) >= active * rules.categories["ordinary"].floor.per_inspector
    # the spread: no quarter had to carry the whole yearly floor
    per_q = [sum(t["category"] == "ordinary" for t in r["result"]["tasks"]) for r in records]
    assert max(per_q) - min(per_q) <= 2, per_q
    # the history that the Q4 draw saw is the Q1-Q3 rosters
    assert {h["period"] for h in records[3]["inputs"]["history"]} == {"2026-Q1", "2026-Q2", "2026-Q3"}
    # the record chain
    assert records[3]["previous_sha256"] == records[2]["record_sha256"]


def test_period_drawn_once_unless_replaced(roster_settings, registry):
    now = datetime(2026, 10, 1, 1, tzinfo=UTC)
    a = run_draw(roster_settings, "2026-Q4", zone="江口", seed=1, by="x", now=now, registry=registry)
    assert a["scope"] == "jiangkou" and {t["zone"] for t in a["result"]["tasks"]} == {"jiangkou"}
    with pytest.raises(RosterError, match="already drawn: 2026-Q4-jiangkou-1"):
        run_draw(roster_settings, "2026-Q4", seed=2, by="x", now=now, registry=registry)
    b = run_draw(roster_settings, "2026-Q4", zone="nanxi", seed=2, by="x", now=now, registry=registry)
    assert b["record_id"] == "2026-Q4-nanxi-2"
    c = run_draw(roster_settings, "2026-Q4", seed=3, by="x", now=now, registry=registry,
                 replace_reason="县级统一抽取")
    assert c["supersedes"] == ["2026-Q4-jiangkou-1", "2026-Q4-nanxi-2"]
    # the replaced draws' tasks do not count against the quarter cap of the new one
    assert not any(e["kind"] == "enterprise" for e in c["result"]["exclusions"])
    assert (roster_settings.rosters_dir / "2026-Q4-county-3.json").exists()
