"""Results, the 20-working-day publication deadline, and the public CSV/HTML (no inspector data)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pandas as pd
import pytest
import yaml

from monitoring.roster.publication import deadlines, publish_period, record_result
from monitoring.roster.records import RosterError, run_draw

DRAWN = datetime(2026, 9, 28, 1, 0, tzinfo=UTC)
EVIL = "<script>alert('x')</script>&恶意公司"


@pytest.fixture
def small(settings, sql_url, tmp_path, monkeypatch, request):
    """A three-enterprise county (one name is hostile HTML, or ``request.param``) and four inspectors."""
    name = getattr(request, "param", EVIL)
    reg = {"zones": [{"id": "z1", "name_zh": "测试区", "pinyin": "Ceshi", "town": "测试镇", "area_mu": 10,
                      "elevation_m": [1, 2], "industries": ["家具"]}],
           "enterprises": [{"code": "T-001", "name": name, "zone": "z1", "industry": "家具", "category": "special"},
                           {"code": "T-002", "name": "测试二厂", "zone": "z1", "industry": "家具", "category": "special"},
                           {"code": "T-003", "name": "测试三厂", "zone": "z1", "industry": "家具", "category": "key",
                            "positive_list": True}],
           "points": []}
    ins = {"inspectors": [{"id": f"P-{i}", "name": n, "certificate": f"示例-{i}", "unit": "云阳县生态环境局",
                           "fields": ["大气"]} for i, n in enumerate(["赵一", "钱二", "孙三", "李四"])]}
    (tmp_path / "registry.yaml").write_text(yaml.safe_dump(reg, allow_unicode=True), encoding="utf-8")
    (tmp_path / "inspectors.yaml").write_text(yaml.safe_dump(ins, allow_unicode=True), encoding="utf-8")
    for var, name in (("ENVMON_REGISTRY", "registry.yaml"), ("ENVMON_INSPECTORS", "inspectors.yaml")):
        monkeypatch.setenv(var, str(tmp_path / name))
    monkeypatch.setenv("ENVMON_DB_URL", sql_url)
    s = dataclasses.replace(settings, registry_path=tmp_path / "registry.yaml", inspectors_path=tmp_path / "inspectors.yaml",
                            db_url=sql_url)
    rec = run_draw(s, "2026-Q4", seed=5, by="测试", now=DRAWN)
    return s, rec


def test_result_deadline_overdue_and_publication(small):
    s, rec = small
    tasks = rec["task_ids"]
    assert set(tasks) == {"T-001", "T-002", "T-003"}
    r = record_result(s, tasks["T-001"], outcome="violation", note="喷漆房废气收集设施未运行；检查人员 赵一",
                      by="钱二", inspected_on=date(2026, 9, 30), now=datetime(2026, 10, 1, tzinfo=UTC))
    # Sep 30 + 20 working days: Oct 8, 9, 10 (调休) · 12-16 · 19-23 · 26-30 (18) · Nov 2, 3 (20)
    assert r.publish_due == date(2026, 11, 3) and r.calendar_notes == ()
    with pytest.raises(RosterError, match="already has a result"):
        record_result(s, tasks["T-001"], outcome="compliant", note="", by="x", inspected_on=date(2026, 9, 30))
    with pytest.raises(RosterError, match="no inspection task"):
        record_result(s, "2026-Q4-NOPE", outcome="compliant", note="", by="x")
    with pytest.raises(RosterError, match="in the future"):
        record_result(s, tasks["T-002"], outcome="compliant", note="", by="x", inspected_on=date(2099, 1, 1))
    with pytest.raises(RosterError, match="before the draw"):
        record_result(s, tasks["T-002"], outcome="compliant", note="", by="x", inspected_on=date(2026, 9, 1))
    with pytest.raises(RosterError, match="outcome must be"):
        record_result(s, tasks["T-002"], outcome="fine", note="", by="x")  # type: ignore[arg-type]

    on_time = deadlines(s, date(2026, 11, 3))
    assert on_time["status"].tolist() == ["due"] and on_time["working_days_left"].tolist() == [0]
    late = deadlines(s, date(2026, 11, 5))
    assert late["status"].tolist() == ["overdue"] and late["working_days_left"].tolist() == [-2]

    pub = publish_period(s, "2026-Q4", by="信息公开员", now=datetime(2026, 11, 5, tzinfo=UTC))
    assert pub.rows == 1 and pub.newly_published == [tasks["T-001"]]
    csv = pd.read_csv(pub.csv, encoding="utf-8-sig", dtype=str)
    assert csv["企业编码"].tolist() == ["T-001"] and csv["企业名称"].tolist() == [EVIL]
    assert csv["检查结果"].tolist() == ["发现环境违法问题，依法处理"] and csv["检查日期"].tolist() == ["2026-09-30"]
    html = pub.html.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;恶意公司" in html and "<script>" not in html
    body = pub.csv.read_text(encoding="utf-8-sig") + html
    for secret in ("赵一", "钱二", "孙三", "李四", "P-0", "P-1", "P-2", "P-3", "喷漆房", "T-002", "T-003"):
        assert secret not in body, secret         # no inspectors, no internal note, no task not yet carried out
    assert deadlines(s, date(2026, 11, 5)).empty
    again = publish_period(s, "2026-Q4", by="x")
    assert again.rows == 1 and again.newly_published == []


def test_superseded_task_takes_no_result(small):
    s, rec = small
    run_draw(s, "2026-Q4", seed=6, by="测试", now=DRAWN, replace_reason="名录更新后重抽")
    with pytest.raises(RosterError, match="superseded record 2026-Q4-county-1"):
        record_result(s, rec["task_ids"]["T-002"], outcome="compliant", note="", by="x", inspected_on=date(2026, 10, 8))


def test_offsite_for_positive_list(small):
    _, rec = small
    t3 = next(t for t in rec["result"]["tasks"] if t["enterprise"] == "T-003")
    assert t3["mode"] == "offsite" and "正面清单" in t3["mode_reason"]


FORMULA = "=cmd|' /C calc'!A0"


@pytest.mark.parametrize("small", [FORMULA, "@SUM(1+1)*cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0"],
                         indirect=True)
def test_public_csv_neutralises_formula_prefixes(small):
    """Issue 9 item 13: a name that a spreadsheet would run as a formula is written as text."""
    s, rec = small
    record_result(s, rec["task_ids"]["T-001"], outcome="compliant", note="", by="x",
                  inspected_on=date(2026, 9, 30), now=datetime(2026, 10, 1, tzinfo=UTC))
    pub = publish_period(s, "2026-Q4", by="信息公开员", now=datetime(2026, 11, 5, tzinfo=UTC))
    text = pub.csv.read_text(encoding="utf-8-sig")
    name = pd.read_csv(pub.csv, encoding="utf-8-sig", dtype=str)["企业名称"].iat[0]
    assert name.startswith("'") and name[1:] in text and not any(
        line.split(",", 2)[1].startswith(("=", "+", "-", "@")) for line in text.splitlines()[1:] if "," in line)


def test_safe_frame_keeps_numbers_and_xlsx_stores_text(tmp_path):
    from openpyxl import load_workbook

    from monitoring.spreadsheet import safe_frame, write_xlsx
    df = pd.DataFrame({"name": [FORMULA, "-2.5", "\tx", "正常"], "value": [-1.0, 2.0, 3.0, 4.0]})
    out = safe_frame(df)
    assert out["name"].tolist() == ["'" + FORMULA, "-2.5", "'\tx", "正常"] and out["value"].tolist() == [-1, 2, 3, 4]
    path = write_xlsx(df, tmp_path / "t.xlsx")
    cells = [c.value for c in load_workbook(path).active["A"]][1:]
    assert cells[0] == "'" + FORMULA and all(not str(c).startswith("=") for c in cells)
