from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
import yaml

from monitoring.config import PACKAGE_DATA
from monitoring.registry import parse_registry
from monitoring.roster.directories import (
    DirectoryError,
    EnforcementHistory,
    build_target_directory,
    load_enforcement_history,
    load_inspectors,
    parse_inspectors,
    sha256_of,
    target_snapshot,
)
from monitoring.roster.period import Period
from monitoring.roster.rules import load_rules

RULES = load_rules(PACKAGE_DATA / "roster_rules.yaml").rules
AS_OF = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)


def small_registry():
    ents = [{"code": f"T-{i:03d}", "name": f"企业{i}", "zone": "z1", "industry": "家具", "category": c}
            for i, c in enumerate(["ordinary"] * 6 + ["key"] * 2 + ["special"], start=1)]
    return parse_registry({
        "zones": [{"id": "z1", "name_zh": "测试", "pinyin": "Ceshi", "town": "测试镇", "area_mu": 10,
                   "elevation_m": [1, 2], "industries": ["家具"]}],
        "enterprises": ents,
        "points": [{"id": "T-001-DA001", "zone": "z1", "enterprise": "T-001", "name": "排气筒", "kind": "stack",
                    "online": False, "parameters": ["a34013"], "height_m": 15, "above_buildings": True},
                   {"id": "T-001-DW001", "zone": "z1", "enterprise": "T-001", "name": "废水", "kind": "wastewater",
                    "online": False, "parameters": ["w01018"], "standard": "GB 8978-1996", "grade": "3"}],
    })


def test_packaged_inspector_directory_is_realistic_and_fake():
    raw = yaml.safe_load((PACKAGE_DATA / "registry.yaml").read_text(encoding="utf-8"))
    reg_codes = {e["code"] for e in raw["enterprises"]}
    d = load_inspectors(PACKAGE_DATA / "inspectors.yaml", enterprises=reg_codes)
    assert 20 <= len(d.inspectors) <= 30
    assert 0 < len(d.inspectors) - len(d.active()) <= 5
    assert all(i.certificate.startswith("示例-") for i in d.inspectors.values())
    assert {u.unit for u in d.inspectors.values()} == {"云阳县生态环境局", "云阳县生态环境保护综合行政执法支队"}
    reasons = " ".join(c.reason for c in d.conflicts)
    assert "亲属关系" in reasons and "曾在该企业任职" in reasons


def test_inspector_errors_name_file_entry_and_field(tmp_path):
    raw = {"inspectors": [{"id": "A", "name": "甲", "certificate": "示例-1", "unit": "u", "fields": ["大气"]},
                          {"id": "B", "name": "乙", "certificate": "示例-2", "unit": "u", "fields": ["光"]}]}
    with pytest.raises(DirectoryError) as exc:
        parse_inspectors(raw, "inspectors.yaml")
    assert "inspectors.yaml: inspectors[1] (id=B).fields.0" in str(exc.value)
    raw["inspectors"][1]["fields"] = ["水"]
    raw["inspectors"][1]["certificate"] = "示例-1"
    with pytest.raises(DirectoryError, match="certificate number used twice: 示例-1"):
        parse_inspectors(raw, "inspectors.yaml")
    raw["inspectors"][1]["certificate"] = "示例-2"
    raw["conflicts"] = [{"inspector": "A", "enterprise": "NOPE-1", "reason": "亲属关系"}]
    with pytest.raises(DirectoryError, match=r"conflicts\[0\]: unknown enterprise 'NOPE-1'"):
        parse_inspectors(raw, "inspectors.yaml", enterprises={"T-001"})
    raw["conflicts"] = [{"inspector": "Z", "enterprise": "T-001", "reason": "亲属关系"}]
    with pytest.raises(DirectoryError, match="unknown inspector 'Z'"):
        parse_inspectors(raw, "inspectors.yaml")


def test_special_supervision_from_evidence_with_reasons():
    reg = small_registry()
    t = pd.Timestamp
    incidents = pd.DataFrame({
        "enterprise": ["T-002"] * 3 + ["T-003"] * 3 + ["T-004"] * 2,
        "opened_at": [t("2026-03-01", tz="UTC"), t("2026-05-01", tz="UTC"), t("2026-09-01", tz="UTC"),
                      # T-003: two of three are older than the 365-day look-back → not "repeated"
                      t("2025-01-01", tz="UTC"), t("2025-02-01", tz="UTC"), t("2026-09-01", tz="UTC"),
                      t("2026-06-01", tz="UTC"), t("2026-07-01", tz="UTC")],
        "kind": ["exceedance"] * 6 + ["data_missing"] * 2, "severity": [1] * 8})
    capture = pd.DataFrame({"enterprise": ["T-004", "T-005"], "capture_pct": [70.0, 80.0]})
    complaints = pd.DataFrame({
        "enterprise": ["T-005"] * 3 + ["T-006"] * 4,
        "received_on": [date(2026, 1, 5), date(2026, 4, 5), date(2026, 8, 5)] + [date(2026, 2, 1)] * 4,
        "substantiated": [True, True, True, True, True, False, False]})
    enf = EnforcementHistory(
        pd.DataFrame({"enterprise": ["T-001", "T-007"], "decided_on": [date(2025, 6, 1), date(2024, 6, 1)]}),
        pd.DataFrame({"enterprise": ["T-008", "T-008"], "rating": ["警示", "良好"],
                      "rated_on": [date(2025, 4, 30), date(2026, 4, 30)]}))
    td = build_target_directory(reg, RULES, period=Period(2026, 4), as_of=AS_OF, incidents=incidents,
                                capture=capture, complaints=complaints, enforcement=enf).set_index("code")
    cat = td["category"].to_dict()
    assert cat["T-001"] == "special" and "2025年有1起行政处罚案件" in td.at["T-001", "special_reasons"]
    assert cat["T-002"] == "special" and "超标事件3起" in td.at["T-002", "special_reasons"]
    assert cat["T-003"] == "ordinary" and td.at["T-003", "exceedance_incidents"] == 1
    assert cat["T-004"] == "special" and "数据采集率70.0%" in td.at["T-004", "special_reasons"]
    assert td.at["T-004", "data_missing_incidents"] == 2
    assert cat["T-005"] == "special" and "查实投诉3次" in td.at["T-005", "special_reasons"]
    assert cat["T-006"] == "ordinary" and td.at["T-006", "substantiated_complaints"] == 2   # unsubstantiated ignored
    assert cat["T-007"] == "key"            # its case was two years before the period
    assert cat["T-008"] == "key" and td.at["T-008", "credit_rating"] == "良好"   # latest rating counts
    assert cat["T-009"] == "special" and td.at["T-009", "special_reasons"] == "名录库登记为特殊监管对象"
    assert td.at["T-001", "fields"] == "大气,水" and td.at["T-002", "fields"] == ""


def test_empty_evidence_and_stable_hash():
    reg = small_registry()
    a = build_target_directory(reg, RULES, period=Period(2026, 4), as_of=AS_OF)
    b = build_target_directory(reg, RULES, period=Period(2026, 4), as_of=AS_OF, incidents=pd.DataFrame(),
                               capture=pd.DataFrame(), complaints=pd.DataFrame(), enforcement=EnforcementHistory.empty())
    assert list(a["category"]) == ["ordinary"] * 6 + ["key"] * 2 + ["special"]
    assert sha256_of(target_snapshot(a)) == sha256_of(target_snapshot(b))
    b.loc[0, "capture_pct"] = 99.0
    assert sha256_of(target_snapshot(a)) != sha256_of(target_snapshot(b))
    with pytest.raises(ValueError, match="timezone-aware"):
        build_target_directory(reg, RULES, period=Period(2026, 4), as_of=datetime(2026, 1, 1))


def test_packaged_enforcement_history_is_marked_simulated():
    raw = yaml.safe_load((PACKAGE_DATA / "enforcement_history.yaml").read_text(encoding="utf-8"))
    assert raw["simulated"] is True
    h = load_enforcement_history()
    assert raw["cases"] and all(c["case_no"].startswith("示例") for c in raw["cases"])
    assert not h.cases.empty and not h.credit.empty
