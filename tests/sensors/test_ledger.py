"""Hazardous-waste ledger import: columns, manifest numbers, rejected rows named by file:line and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from monitoring.registry import Registry, load_registry
from sensors.ledger import manifest_problem, read_ledger_csv
from sensors.schema import LEDGER_COLUMNS

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab_registry() -> Registry:
    return load_registry(DATA / "lab_registry.yaml")


def test_chinese_ledger_to_ledger_frame(lab_registry: Registry) -> None:
    df, rejected = read_ledger_csv(DATA / "ledger_store_zh.csv", lab_registry, "l-1")
    assert rejected == []
    assert list(df.columns) == list(LEDGER_COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items()} == {
        c: str(pd.Series(dtype=t).dtype) for c, t in LEDGER_COLUMNS.items()}
    assert len(df) == 5 and set(df["source"]) == {"ledger"} and set(df["enterprise"]) == {"JK-001"}
    # local date → local midnight stored as UTC (16:00 the day before)
    assert df["date"].iloc[0] == pd.Timestamp("2024-03-03 16:00", tz="UTC")
    transfer = df[df["quantity_out_t"] > 0].set_index("manifest")
    assert transfer.loc["20245002000123", "quantity_out_t"] == 1.75
    assert transfer.loc["20245002000123", "confirmed"] == pd.Timestamp("2024-03-17 16:00", tz="UTC")
    # a receiver without licence and an unconfirmed manifest are facts to judge, not bad rows
    assert pd.isna(transfer.loc["20245002000124", "receiver_licence"])
    assert pd.isna(transfer.loc["20245002000124", "confirmed"])
    assert "HW49 900-041-49" in set(df["waste_code"])          # 'hw49  900-041-49' normalised
    assert df["quantity_in_t"].sum() == pytest.approx(1.95)


def test_bad_ledger_rows_named_by_line_and_field(lab_registry: Registry) -> None:
    path = DATA / "ledger_bad_rows.csv"
    df, rejected = read_ledger_csv(path, lab_registry, "b")
    by_line = {r.line: r.reason for r in rejected}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18]
    assert by_line[3].startswith("waste_code: 'HW51'")
    assert "last two digits" in by_line[4]
    assert by_line[5] == "quantity_in_t: negative '-0.5'"
    assert by_line[6].startswith("manifest: a transfer out")
    assert "not 14 digits" in by_line[7]
    assert "province part '99'" in by_line[8]
    assert "year 2019" in by_line[9]
    assert by_line[10].startswith("receiver:")
    assert "groundwater point" in by_line[11]
    assert "unknown storage point 'JK-001-HW09'" in by_line[12]
    assert by_line[13].startswith("date:")
    assert "no movement" in by_line[14]
    assert "before the entry date" in by_line[15]
    assert by_line[17] == "duplicate of line 16"
    assert "not a number 'abc'" in by_line[18]
    assert str(rejected[0]).startswith(f"{path}:3: waste_code:")
    assert len(df) == 2


def test_manifest_rules_vectorised() -> None:
    m = pd.Series(["20245002000001", "2024500200000", "20245000000001", "20245002000000", "2024500200000A",
                   "20231101123456", "20265002000001"], dtype="string")
    year = pd.Series([2024.0] * 7)
    reasons = manifest_problem(m, year).tolist()
    assert reasons[0] == ""
    assert "not 14 digits" in reasons[1] and "not 14 digits" in reasons[4]
    assert "city part is 00" in reasons[2]
    assert "serial 000000" in reasons[3]
    assert reasons[5] == ""                                    # Beijing (11), previous year: plausible
    assert "year 2026" in reasons[6]


def test_ledger_xlsx_and_binary_junk(lab_registry: Registry, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["贮存点", "日期", "废物代码", "入库量（t）", "出库量（t）", "联单编号", "接收单位", "经营许可证号"])
    ws.append(["JK-001-HW02", "2024-06-03", "HW08 900-249-08", 1.2, None, None, None, None])
    ws.append(["JK-001-HW02", "2024-06-10", "HW08 900-249-08", None, 1.2, 20245002000777, "示例公司",
               "渝危废经〔2022〕015号"])
    path = tmp_path / "ledger.xlsx"
    wb.save(path)
    df, rejected = read_ledger_csv(path, lab_registry, "x")
    assert rejected == [] and len(df) == 2
    assert df["manifest"].iloc[1] == "20245002000777"          # a numeric Excel cell, read as 14 digits
    junk, why = read_ledger_csv(DATA / "lab_not_a_table.csv", lab_registry, "x")
    assert junk.empty and len(why) == 1 and why[0].line is None


def test_import_ledger_cli_exit_codes(tmp_path: Path) -> None:
    env = {"ENVMON_REGISTRY": str(DATA / "lab_registry.yaml"), "ENVMON_DATA_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "monitoring.cli", "import", "ledger",
                         str(DATA / "ledger_store_zh.csv")], capture_output=True, text=True, check=False, env=env, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "5 ledger entries, 0 rejected" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "monitoring.cli", "import", "ledger",
                          str(DATA / "ledger_bad_rows.csv")], capture_output=True, text=True, check=False, env=env, cwd=ROOT)
    assert bad.returncode == 2
    assert f"{DATA / 'ledger_bad_rows.csv'}:8: manifest: '20249902000125'" in bad.stderr


def test_receipt_date_column(lab_registry: Registry, tmp_path: Path) -> None:
    """The manifest's receipt date (接收日期) is its own column: the receiver's 5 working days to confirm
    count from it (危险废物转移管理办法 2021); a receipt before the shipment or after the confirmation is
    rejected with the line and the reason."""
    src = (DATA / "ledger_store_zh.csv").read_text(encoding="utf-8-sig").splitlines()
    rows = [r for r in src[1:] if r.split(",")[5]][:1]          # one transfer line
    assert rows, "the sample ledger has a transfer"
    head = src[0] + ",接收日期"
    f = tmp_path / "ledger.csv"
    cells = rows[0].split(",")
    good = rows[0] + "," + cells[8]                                # received the day it was confirmed
    early = rows[0] + ",2020-01-01"                                 # before the shipment
    late = ",".join(cells[:8] + [cells[1]]) + "," + cells[8]        # confirmed before received
    f.write_text(f"{head}\n{good}\n{early}\n{late}" + "\n", encoding="utf-8")
    df, rejected = read_ledger_csv(f, lab_registry, "l-2")
    assert len(df) == 1 and df["received"].iat[0] == df["confirmed"].iat[0]
    reasons = sorted(r.reason for r in rejected)
    assert any("received" in r and "before the entry date" in r for r in reasons)
    assert any("confirmed" in r and "before the receipt" in r for r in reasons)


def test_entries_dated_in_the_future_are_rejected_like_future_lab_rows(lab_registry: Registry, tmp_path) -> None:
    """Issue 9 item 11: an entry dated 2036 used to be accepted while a lab row from the future is
    quarantined by the quality gate; now the ledger reader rejects it with the reason."""
    from datetime import UTC, datetime
    src = (DATA / "ledger_store_zh.csv").read_text(encoding="utf-8-sig").splitlines()
    src.append("JK-001-HW01,2036-03-04,HW12 900-252-12,0.85,,,,,")
    src.append("JK-001-HW01,2026-11-28,HW12 900-252-12,0.10,,,,,")   # today (local) is fine
    path = tmp_path / "ledger.csv"
    path.write_text("\n".join(src) + "\n", encoding="utf-8")
    df, rejected = read_ledger_csv(path, lab_registry, "f", now=datetime(2026, 11, 28, 2, 0, tzinfo=UTC))
    assert [(r.line, r.reason) for r in rejected] == [
        (len(src) - 1, "date: '2036-03-04' is in the future (after 2026-11-28)")]
    assert len(df) == 6
