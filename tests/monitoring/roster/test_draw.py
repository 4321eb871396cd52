"""The pure draw: reproducibility, the sampler, recusal/teams (property-based), caps and rotation."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from monitoring.config import PACKAGE_DATA
from monitoring.roster.directories import Conflict, Inspector, InspectorDirectory
from monitoring.roster.draw import InfeasibleDraw, _es_order, draw
from monitoring.roster.period import Period
from monitoring.roster.rules import RulesFile

from .conftest import target_frame

RULES_FILE = RulesFile.from_text((PACKAGE_DATA / "roster_rules.yaml").read_text(encoding="utf-8"))
RULES = RULES_FILE.rules
Q4 = Period(2026, 4)
FIELDS = ["大气", "水", "噪声", "固废"]


def inspectors(n: int, inactive: tuple[int, ...] = (), conflicts: list[tuple[int, str, str]] = ()) -> InspectorDirectory:
    ins = [Inspector(id=f"I-{i:02d}", name=f"人员{i}", certificate=f"示例-{i}", unit="云阳县生态环境局",
                     fields=[FIELDS[i % 4]], active=i not in inactive) for i in range(n)]
    con = [Conflict(inspector=f"I-{i:02d}", enterprise=e, reason=r) for i, e, r in conflicts]
    return InspectorDirectory(ins, con)


def county_like() -> pd.DataFrame:
    rows = [{"code": f"S-{i:02d}", "category": "special"} for i in range(4)]
    rows += [{"code": f"K-{i:02d}", "category": "key", "exceedance_incidents": i % 3} for i in range(12)]
    rows += [{"code": f"O-{i:02d}", "category": "ordinary", "capture_pct": 60.0 + 3 * i} for i in range(40)]
    rows[5]["positive_list"] = True
    return target_frame(rows)


def test_same_seed_same_roster_other_seed_other_roster():
    t, d = county_like(), inspectors(16)
    a = draw(target=t, inspectors=d, history=[], rules=RULES, period=Q4, seed=12345).as_dict()
    b = draw(target=t.sample(frac=1, random_state=3), inspectors=d, history=[], rules=RULES, period=Q4,
             seed=12345).as_dict()          # input order does not matter: inputs are sorted first
    c = draw(target=t, inspectors=d, history=[], rules=RULES, period=Q4, seed=12346).as_dict()
    assert a == b
    assert [x["enterprise"] for x in a["tasks"]] != [x["enterprise"] for x in c["tasks"]] or \
        [x["inspectors"] for x in a["tasks"]] != [x["inspectors"] for x in c["tasks"]]


def test_floors_in_one_round():
    r = draw(target=county_like(), inspectors=inspectors(16), history=[], rules=RULES, period=Period(2026, 1),
             seed=1)
    by_cat = pd.Series([t.category for t in r.tasks]).value_counts()
    assert by_cat["special"] == 4                         # 100 %
    assert by_cat["key"] == math.ceil(0.25 * 12) == 3     # ≥ 25 %
    assert by_cat["ordinary"] == math.ceil(16 / 4)        # 1 per inspector a year, Q1 = a quarter of it
    for t in r.tasks:                                     # K-01 is on the positive list
        assert t.mode == ("offsite" if t.enterprise == "K-01" else "onsite")


def test_efraimidis_spirakis_first_pick_is_proportional_to_weight():
    """For one pick, A-Res chooses item i with probability w_i / Σw."""
    rng = np.random.Generator(np.random.PCG64(7))
    w = np.array([6.0, 1.0, 1.0, 2.0])
    labels = ["a", "b", "c", "d"]
    n = 20000
    firsts = np.array([_es_order(rng.random(4), 1.0 / w, labels)[0] for _ in range(n)])
    freq = np.bincount(firsts, minlength=4) / n
    expected = w / w.sum()
    assert np.allclose(freq, expected, atol=4 * np.sqrt(expected * (1 - expected) / n).max())


def test_risk_weight_changes_selection_odds():
    """Over many seeds a high-risk ordinary enterprise is drawn far more often than a clean one."""
    rows = [{"code": "O-RISKY", "category": "ordinary", "exceedance_incidents": 4, "capture_pct": 50.0}]
    rows += [{"code": f"O-{i:02d}", "category": "ordinary", "capture_pct": 99.0} for i in range(19)]
    t, d = target_frame(rows), inspectors(4)
    rules = RulesFile.from_text(RULES_FILE.text.replace("floor: {per_inspector: 1, per: year}",
                                                        "floor: {count: 1, per: quarter}")).rules
    hits = sum(any(x.enterprise == "O-RISKY" for x in draw(target=t, inspectors=d, history=[], rules=rules,
                                                            period=Q4, seed=s).tasks) for s in range(300))
    # weight 1 + 4 + 0.1·40 = 9 against 19 × 1 → p = 9/28 ≈ 0.32 (clean one: 1/28 ≈ 0.036)
    assert 0.22 < hits / 300 < 0.43


def test_caps_rotation_and_exempt_mode():
    t = target_frame([{"code": "K-01", "category": "key"}, {"code": "K-02", "category": "key"},
                      {"code": "O-01", "category": "ordinary", "commitment_exempt": True},
                      {"code": "O-02", "category": "ordinary"}])
    history = [{"period": "2026-Q2", "enterprise": "O-02", "zone": "z", "category": "ordinary", "inspectors": ["I-00", "I-01"]},
               {"period": "2026-Q3", "enterprise": "K-01", "zone": "z", "category": "key", "inspectors": ["I-02", "I-03"]},
               {"period": "2026-Q4", "enterprise": "K-02", "zone": "z", "category": "key", "inspectors": ["I-00", "I-03"]}]
    rules = RulesFile.from_text(RULES_FILE.text.replace("ratio: 0.25", "ratio: 1.0")).rules
    r = draw(target=t, inspectors=inspectors(6), history=history, rules=rules, period=Q4, seed=3)
    drawn = {x.enterprise: x for x in r.tasks}
    assert "K-02" not in drawn                      # once a quarter, already inspected in Q4
    assert "O-02" not in drawn                      # once a year, already inspected in Q2
    assert {"K-01", "O-01"} <= set(drawn)
    assert not set(drawn["K-01"].inspectors) & {"I-02", "I-03"}   # not the Q3 team again
    assert drawn["O-01"].mode == "offsite" and "承诺免检" in drawn["O-01"].mode_reason
    reasons = {(e.who, e.enterprise): e.reason for e in r.exclusions}
    assert "达到上限1次" in reasons[("K-02", "K-02")] and "2026年" in reasons[("O-02", "O-02")]
    assert "上一轮" in reasons[("I-02", "K-01")]
    approved = RulesFile.from_text(RULES_FILE.text.replace(
        "onsite_approvals: []", "onsite_approvals: [{enterprise: O-01, period: 2026-Q4, approved_by: 分管局领导, "
                                "reason: 投诉需现场核实}]")).rules
    r2 = draw(target=t, inspectors=inspectors(6), history=history, rules=approved, period=Q4, seed=3)
    o1 = next(x for x in r2.tasks if x.enterprise == "O-01")
    assert o1.mode == "onsite" and "分管局领导" in o1.mode_reason


def test_infeasible_when_recusal_leaves_fewer_than_two():
    t = target_frame([{"code": "S-01", "category": "special"}])
    d = inspectors(3, conflicts=[(0, "S-01", "亲属关系"), (1, "S-01", "曾在该企业任职")])
    with pytest.raises(InfeasibleDraw, match="S-01: only 1 eligible"):
        draw(target=t, inspectors=d, history=[], rules=RULES, period=Q4, seed=0)


# ---------------------------------------------------------------------------------------------------
# property: teams always ≥ 2 distinct active inspectors, never a conflicted one, never last round's
# ---------------------------------------------------------------------------------------------------
@st.composite
def scenarios(draw_):
    n_ent = draw_(st.integers(1, 14))
    cats = draw_(st.lists(st.sampled_from(["special", "key", "ordinary"]), min_size=n_ent, max_size=n_ent))
    rows = [{"code": f"E-{i:02d}", "category": c, "fields": draw_(st.sampled_from(["", "大气", "水,固废", "噪声"])),
             "exceedance_incidents": draw_(st.integers(0, 5)), "positive_list": draw_(st.booleans())}
            for i, c in enumerate(cats)]
    n_ins = draw_(st.integers(2, 9))
    inactive = tuple(draw_(st.sets(st.integers(0, n_ins - 1), max_size=2)))
    conflicts = draw_(st.lists(st.tuples(st.integers(0, n_ins - 1), st.sampled_from([r["code"] for r in rows]),
                                         st.sampled_from(["亲属关系", "曾在该企业任职", "利害关系"])), max_size=8))
    history = [{"period": "2026-Q3", "enterprise": r["code"], "zone": "z", "category": r["category"],
                "inspectors": sorted(draw_(st.sets(st.sampled_from([f"I-{i:02d}" for i in range(n_ins)]),
                                                   min_size=2, max_size=2)))}
               for r in rows if draw_(st.booleans())]
    size = draw_(st.integers(2, 3))
    max_load = draw_(st.integers(1, 6))
    seed = draw_(st.integers(0, 2**63 - 1))
    return rows, n_ins, inactive, conflicts, history, size, max_load, seed


@functools.lru_cache(maxsize=32)
def rules_with(size: int, max_load: int):
    return RulesFile.from_text(RULES_FILE.text.replace("size: 2", f"size: {size}").replace(
        "max_tasks_per_inspector: 6", f"max_tasks_per_inspector: {max_load}")).rules


@hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_teams_respect_recusal_size_and_rotation(sc):
    rows, n_ins, inactive, conflicts, history, size, max_load, seed = sc
    rules = rules_with(size, max_load)
    d = inspectors(n_ins, inactive, conflicts)
    try:
        r = draw(target=target_frame(rows), inspectors=d, history=history, rules=rules, period=Q4, seed=seed)
    except InfeasibleDraw:
        return
    conflicted = {(f"I-{i:02d}", e) for i, e, _ in conflicts}
    prev = {(ins, h["enterprise"]) for h in history for ins in h["inspectors"]}
    active = {i.id for i in d.active()}
    load: dict[str, int] = {}
    for t in r.tasks:
        assert len(t.inspectors) == size == len(set(t.inspectors))
        assert set(t.inspectors) <= active
        assert not {(i, t.enterprise) for i in t.inspectors} & conflicted
        assert not {(i, t.enterprise) for i in t.inspectors} & prev
        for i in t.inspectors:
            load[i] = load.get(i, 0) + 1
    assert max(load.values(), default=0) <= max_load
    specials = {x["code"] for x in rows if x["category"] == "special"}
    assert specials <= {t.enterprise for t in r.tasks}          # 100 % a quarter, nothing capped them
