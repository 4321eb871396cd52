"""Hazardous-waste ledger checks: 365 days, 3 t temporary point, manifests in Chinese working days,
licences, declaration deadlines by HJ 1259 class."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.compliance import evaluate_ledger
from sensors.schema import LEDGER_COLUMNS, empty_ledger

from .helpers import ENT, make_registry

E2 = {**ENT, "code": "JK-002", "hw_class": "simplified"}
E3 = {**ENT, "code": "JK-003", "hw_class": "registration"}


def store(pid, enterprise="JK-001", temporary=False):
    return {"id": pid, "kind": "hw_store", "zone": "jiangkou", "enterprise": enterprise, "name": pid,
            "online": False, "interval_s": 2592000, "parameters": ["HW12"], "capacity_t": 10,
            "temporary": temporary}


REG = make_registry(store("H1"), store("T1", temporary=True), enterprises=[ENT])


def ledger(rows):
    df = pd.DataFrame([{"zone": "jiangkou", "enterprise": "JK-001", "manifest": None, "receiver": None,
                        "receiver_licence": None, "confirmed": None, "received": None, "quantity_in_t": 0.0,
                        "quantity_out_t": 0.0, "source": "test", "batch": "b", **r} for r in rows])
    df["date"] = pd.to_datetime(df["date"]).dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
    for c in ("confirmed", "received"):
        df[c] = pd.to_datetime(df[c]).dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
    return df[list(LEDGER_COLUMNS)].astype(LEDGER_COLUMNS)


def checks(a, check):
    return a[a["check"] == check].reset_index(drop=True)


def test_storage_days_fifo(catalogue):
    led = ledger([
        {"date": "2023-01-10", "store": "H1", "waste_code": "HW12", "quantity_in_t": 1.0},
        {"date": "2023-06-01", "store": "H1", "waste_code": "HW12", "quantity_in_t": 1.0},
        {"date": "2023-03-01", "store": "H1", "waste_code": "HW08", "quantity_in_t": 0.5},
        {"date": "2024-01-05", "store": "H1", "waste_code": "HW12", "quantity_out_t": 1.0, "manifest": "20245002000001",
         "receiver": "R", "receiver_licence": "CQ-001", "confirmed": "2024-01-08"},
    ])
    a = checks(evaluate_ledger(led, REG, catalogue, as_of="2024-03-01"), "storage_days").set_index("parameter")
    # HW12: the 2023-01-10 tonne left (FIFO); oldest remaining is 2023-06-01 → 274 days
    assert a.loc["HW12", "value"] == (pd.Timestamp("2024-03-01") - pd.Timestamp("2023-06-01")).days
    assert a.loc["HW12", "verdict"] == "compliant"
    # HW08 since 2023-03-01: 366 days on 2024-03-01 (leap year) > 365
    assert a.loc["HW08", "value"] == 366 and a.loc["HW08", "verdict"] == "exceeds"
    assert a.loc["HW08", "limit"] == 365 and a.loc["HW08", "limit_status"] == "unconfirmed"
    b = checks(evaluate_ledger(led, REG, catalogue, as_of="2024-02-29"), "storage_days").set_index("parameter")
    assert b.loc["HW08", "value"] == 365 and b.loc["HW08", "verdict"] == "compliant"


def test_temporary_point_above_3_t(catalogue):
    led = ledger([
        {"date": "2024-02-01", "store": "T1", "waste_code": "HW12", "quantity_in_t": 2.0},
        {"date": "2024-02-02", "store": "T1", "waste_code": "HW49", "quantity_in_t": 1.0},   # 3.0: allowed
        {"date": "2024-02-03", "store": "T1", "waste_code": "HW49", "quantity_in_t": 0.2},   # 3.2: too much
        {"date": "2024-02-04", "store": "H1", "waste_code": "HW12", "quantity_in_t": 8.0},   # not temporary
    ])
    a = checks(evaluate_ledger(led, REG, catalogue, as_of="2024-02-10"), "temporary_stock")
    assert a["point"].unique().tolist() == ["T1"]
    assert a["value"].tolist() == pytest.approx([2.0, 3.0, 3.2])
    assert a["verdict"].tolist() == ["compliant", "compliant", "exceeds"]


def _transfer(day, confirmed=None, licence="CQ-001", manifest="20245002000001"):
    return {"date": day, "store": "H1", "waste_code": "HW12", "quantity_out_t": 0.5, "manifest": manifest,
            "receiver": "R", "receiver_licence": licence, "confirmed": confirmed}


def test_manifest_five_working_days_across_national_day(catalogue):
    # transfer Mon 2024-09-30; 1–7 Oct holiday, Sat 12 Oct an adjusted workday: 5th working day = 12 Oct
    led = ledger([{"date": "2024-09-01", "store": "H1", "waste_code": "HW12", "quantity_in_t": 5.0},
                  _transfer("2024-09-30", "2024-10-12", manifest="20245002000011"),
                  _transfer("2024-09-30", "2024-10-13", manifest="20245002000012"),
                  _transfer("2024-09-30", None, manifest="20245002000013"),
                  _transfer("2024-10-14", None, manifest="20245002000014")])    # still within 5 days
    a = checks(evaluate_ledger(led, REG, catalogue, as_of="2024-10-15"), "manifest").set_index("parameter")
    assert a.loc["20245002000011", "verdict"] == "compliant"
    assert a.loc["20245002000012", "verdict"] == "exceeds" and "2024-10-12" in a.loc["20245002000012", "reason"]
    assert a.loc["20245002000013", "verdict"] == "exceeds" and "not confirmed" in a.loc["20245002000013", "reason"]
    assert "20245002000014" not in a.index


def test_manifest_confirmation_counted_from_receipt(catalogue):
    """危险废物转移管理办法 (2021): the receiver confirms within 5 working days of *receiving* the waste.
    Shipped Fri 2024-05-10, received Tue 05-14: the 5th working day after receipt is Tue 05-21, so a
    confirmation on Mon 05-20 is on time (counted from shipment it would be late after Fri 05-17)."""
    led = ledger([{"date": "2024-05-01", "store": "H1", "waste_code": "HW12", "quantity_in_t": 5.0},
                  {**_transfer("2024-05-10", "2024-05-20", manifest="20245002000031"), "received": "2024-05-14"},
                  _transfer("2024-05-10", "2024-05-20", manifest="20245002000032")])
    a = checks(evaluate_ledger(led, REG, catalogue, as_of="2024-06-01"), "manifest").set_index("parameter")
    on_time, late = a.loc["20245002000031"], a.loc["20245002000032"]
    assert on_time["verdict"] == "compliant" and "2024-05-21" in on_time["reason"] and "received 2024-05-14" in on_time["reason"]
    assert on_time["value"] == 6                     # calendar days from receipt to confirmation
    assert late["verdict"] == "exceeds" and "counted from the transfer day" in late["reason"]


def test_transfer_without_licence_or_manifest(catalogue):
    led = ledger([_transfer("2024-05-06", "2024-05-07", licence=None, manifest="20245002000021"),
                  _transfer("2024-05-06", "2024-05-07", manifest=None)])
    a = evaluate_ledger(led, REG, catalogue, as_of="2024-06-01")
    lic = checks(a, "licence").set_index("parameter")
    assert lic.loc["20245002000021", "verdict"] == "exceeds" and lic.loc["(none)", "verdict"] == "compliant"
    man = checks(a, "manifest").set_index("parameter")
    assert man.loc["(none)", "verdict"] == "exceeds" and "without a manifest" in man.loc["(none)", "reason"]


def test_declaration_deadlines_by_class(catalogue):
    reg = make_registry(store("H1"), store("H2", "JK-002"), store("H3", "JK-003"), enterprises=[ENT, E2, E3])
    decl = pd.DataFrame({
        "enterprise": ["JK-001", "JK-001", "JK-002", "JK-003"],
        "period": ["2024-01", "2024-02", "2023Q4", "2023"],
        "submitted": pd.to_datetime(["2024-02-15 17:00", "2024-03-16 09:00", "2024-01-10 10:00", "2024-03-31 20:00"])
        .tz_localize("Asia/Shanghai").tz_convert("UTC"),
    })
    a = evaluate_ledger(empty_ledger(), reg, catalogue, as_of="2024-04-20", since="2024-01-01",
                        declarations=decl)
    d = checks(a, "declaration").set_index(["enterprise", "parameter"])
    assert d.loc[("JK-001", "2024-01"), "verdict"] == "compliant"          # by 15 Feb
    assert d.loc[("JK-001", "2024-02"), "verdict"] == "exceeds"            # 16 Mar: a day late
    assert d.loc[("JK-001", "2024-02"), "value"] == 1
    assert d.loc[("JK-001", "2024-03"), "verdict"] == "exceeds"            # due 15 Apr, missing
    assert "missing" in d.loc[("JK-001", "2024-03"), "reason"]
    assert d.loc[("JK-002", "2023Q4"), "verdict"] == "compliant"           # due 15 Jan
    assert d.loc[("JK-002", "2024Q1"), "verdict"] == "exceeds"             # due 15 Apr, missing
    assert d.loc[("JK-003", "2023"), "verdict"] == "compliant"             # due 31 Mar
    assert ("JK-003", "2024") not in d.index                               # not due yet
    assert d.loc[("JK-001", "2024-01"), "standard"] == "HJ 1259-2022"


def test_key_and_simplified_units_also_declare_yearly(catalogue):
    """HJ 1259-2022 (standards.md; marked unconfirmed): key and simplified units file a yearly declaration
    by 31 March of the next year besides their monthly / quarterly ones; registration units only yearly."""
    reg = make_registry(store("H1"), store("H2", "JK-002"), store("H3", "JK-003"), enterprises=[ENT, E2, E3])
    decl = pd.DataFrame({
        "enterprise": ["JK-001", "JK-003"], "period": ["2023", "2023"],
        "submitted": pd.to_datetime(["2024-03-20 10:00", "2024-03-20 10:00"])
        .tz_localize("Asia/Shanghai").tz_convert("UTC")})
    a = evaluate_ledger(empty_ledger(), reg, catalogue, as_of="2024-04-02", since="2024-03-01",
                        declarations=decl)
    d = checks(a, "declaration").set_index(["enterprise", "parameter"])
    assert d.loc[("JK-001", "2023"), "verdict"] == "compliant"             # key: yearly, by 31 Mar
    assert d.loc[("JK-001", "2023"), "limit_status"] == "unconfirmed"
    assert d.loc[("JK-002", "2023"), "verdict"] == "exceeds"               # simplified: yearly missing
    assert "yearly declaration 2023 missing" in d.loc[("JK-002", "2023"), "reason"]
    assert ("JK-001", "2024-02") in d.index and ("JK-002", "2024Q1") not in d.index   # due 15 Mar / 15 Apr
    assert d.loc[("JK-003", "2023"), "limit_status"] == "text"
    assert {"declaration_yearly", "declaration_key"} <= {r.name for r in catalogue.rules.values()
                                                         if r.extra.get("check") == "declaration"}


def test_every_hazardous_waste_rule_names_its_article(catalogue):
    """Issue 10 item 8: each rule in limits/data/hazardous-waste.yaml carries the article (clause) it
    implements, so a verdict can cite it."""
    hw = catalogue.standards["hazardous-waste rules"].rules
    assert len(hw) >= 8 and all(r.clause for r in hw), [r.name for r in hw if not r.clause]
    assert catalogue.rule("manifest_required").clause == "第八十二条"


def test_manifest_deadline_in_a_year_the_calendar_package_does_not_know(tmp_path):
    """A transfer late in December 2026 has its deadline in 2027, beyond chinesecalendar's data: the local
    holiday file decides (元旦 2027-01-01 is a holiday there), not an exception."""
    import datetime as dt

    from monitoring.compliance.hazardous_waste import manifest_deadline

    holidays = tmp_path / "holidays.yaml"
    holidays.write_text("years:\n  2027:\n    status: official\n    source: test\n"
                        "    holidays: ['2027-01-01']\n    workdays: []\n", encoding="utf-8")
    # Tue 2026-12-29 + 5 working days: Wed 30, Thu 31, (Fri 1 Jan holiday), Mon 4, Tue 5, Wed 6
    assert manifest_deadline(dt.date(2026, 12, 29), 5, holidays) == dt.date(2027, 1, 6)
    manifest_deadline.cache_clear()
