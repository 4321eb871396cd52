from __future__ import annotations

import pytest

from monitoring.config import PACKAGE_DATA
from monitoring.roster.period import Period, PeriodError
from monitoring.roster.rules import RulesError, RulesFile, load_rules, stratum_quota


def test_packaged_rules_carry_the_county_figures_and_their_source():
    rf = load_rules(PACKAGE_DATA / "roster_rules.yaml")
    r = rf.rules
    assert "渝环办〔2025〕24号" in r.source
    assert r.categories["key"].floor.ratio == 0.25 and r.categories["key"].floor.per == "quarter"
    assert r.categories["special"].floor.ratio == 1.0
    assert r.categories["ordinary"].cap.times == 1 and r.categories["ordinary"].cap.per == "year"
    assert r.categories["key"].cap.per == "quarter"
    assert r.teams.size >= 2 and r.publication.working_days == 20
    assert len(rf.sha256) == 64


@pytest.mark.parametrize("edit, message", [
    ("size: 2", "teams.size"),
    ("floor: {ratio: 0.25, per: quarter}", "categories.key.floor"),
    ('schedule: "0 8 1 1,4,7,10 *"', "schedule"),
])
def test_bad_rules_name_the_field(edit, message):
    text = (PACKAGE_DATA / "roster_rules.yaml").read_text(encoding="utf-8")
    bad = {"size: 2": "size: 1", "floor: {ratio: 0.25, per: quarter}": "floor: {ratio: 0.25, count: 3, per: quarter}",
           'schedule: "0 8 1 1,4,7,10 *"': 'schedule: "every quarter"'}[edit]
    assert edit in text
    with pytest.raises(RulesError) as exc:
        RulesFile.from_text(text.replace(edit, bad, 1), "/x/roster_rules.yaml")
    assert "roster_rules.yaml" in str(exc.value) and message in str(exc.value)


def test_missing_category_and_not_yaml():
    with pytest.raises(RulesError, match="missing ordinary"):
        RulesFile.from_text("source: x\ncategories:\n  special: {floor: {ratio: 1, per: quarter}, cap: {times: 1, per: quarter}}\n"
                            "  key: {floor: {ratio: 1, per: quarter}, cap: {times: 1, per: quarter}}\n")
    with pytest.raises(RulesError, match="not valid YAML"):
        RulesFile.from_text("a: [", "r.yaml")


def test_quota_arithmetic():
    rf = load_rules(PACKAGE_DATA / "roster_rules.yaml").rules
    q4 = Period(2026, 4)
    # key: 25 % of 15 per quarter → 4 (ceil 3.75)
    assert stratum_quota(rf.categories["key"], period=q4, in_scope=15, in_county=15, active_inspectors=23,
                         done_this_year=0) == 4
    # ordinary: 1 × 23 inspectors a year, spread: Q1 ceil(23/4)=6; Q3 with 12 done → ceil(11/2)=6; Q4 → rest
    o = rf.categories["ordinary"]
    assert stratum_quota(o, period=Period(2026, 1), in_scope=65, in_county=65, active_inspectors=23, done_this_year=0) == 6
    assert stratum_quota(o, period=Period(2026, 3), in_scope=65, in_county=65, active_inspectors=23, done_this_year=12) == 6
    assert stratum_quota(o, period=q4, in_scope=65, in_county=65, active_inspectors=23, done_this_year=18) == 5
    assert stratum_quota(o, period=q4, in_scope=65, in_county=65, active_inspectors=23, done_this_year=30) == 0
    # a zone with 13 of 65 ordinary enterprises gets its share: ceil(23 × 13/65 / 4) = ceil(1.15) = 2
    assert stratum_quota(o, period=Period(2026, 1), in_scope=13, in_county=65, active_inspectors=23, done_this_year=0) == 2


def test_periods():
    p = Period.parse("2026-Q4")
    assert str(p) == "2026-Q4" and p.start.isoformat() == "2026-10-01" and p.end.isoformat() == "2026-12-31"
    assert str(p.previous()) == "2026-Q3" and str(Period.parse("2027q1").previous()) == "2026-Q4"
    with pytest.raises(PeriodError, match="2026-13"):
        Period.parse("2026-13")
