"""Lab results import: formats, encodings, non-detect rules, rejections by line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from monitoring.registry import Registry, load_registry
from sensors.lab import iter_lab_file, read_lab_file
from sensors.schema import READINGS_COLUMNS

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab_registry() -> Registry:
    return load_registry(DATA / "lab_registry.yaml")


def _by(df: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    return {(r.point, r.parameter): r for r in df.itertuples()}


def test_english_csv_to_canonical_readings(lab_registry: Registry) -> None:
    df, rejected = read_lab_file(DATA / "lab_results_en.csv", lab_registry, "lab-1")
    assert rejected == []
    assert {c: str(t) for c, t in df.dtypes.items()} == {
        c: str(pd.Series(dtype=t).dtype) for c, t in READINGS_COLUMNS.items()}
    assert list(df.columns) == list(READINGS_COLUMNS)
    assert set(df["source"]) == {"lab"} and set(df["statistic"]) == {"sample"}
    assert set(df["period"]) == {"sample"} and set(df["flag"]) == {"N"} and set(df["batch"]) == {"lab-1"}
    rows = _by(df)
    # local 10:30 (Asia/Shanghai, no offset in the file) is 02:30 UTC
    assert rows[("JK-GW01", "w01001")].time == pd.Timestamp("2024-03-05 02:30", tz="UTC")
    assert rows[("JK-GW01", "w01001")].unit == "pH" and rows[("JK-GW01", "w01001")].value == 7.21
    # explicit offsets win: +08:00 and Z
    assert rows[("JK-001-DW001", "w01018")].time == pd.Timestamp("2024-03-05 06:00", tz="UTC")
    assert rows[("JK-001-DW001", "w01018")].unit == "mg/L"            # 'mg/l' normalised
    assert rows[("JK-001-DW001", "w21003")].time == pd.Timestamp("2024-03-05 06:00", tz="UTC")
    # registry columns filled in
    assert rows[("JK-001-DW001", "w01018")].enterprise == "JK-001"
    assert rows[("JK-001-DW001", "w01018")].kind == "wastewater"
    assert pd.isna(rows[("JK-GW01", "w01001")].enterprise)


def test_non_detects_keep_qualifier_and_detection_limit(lab_registry: Registry) -> None:
    df, _ = read_lab_file(DATA / "lab_results_en.csv", lab_registry, "b")
    rows = _by(df)
    lt = rows[("JK-GW01", "w21003")]                 # "<0.025"
    assert (lt.qualifier, lt.value) == ("<", 0.025)
    nd = rows[("JK-001-DW001", "w21003")]            # "ND" with 检出限 0.025
    assert (nd.qualifier, nd.value) == ("<", 0.025)
    measured = rows[("JK-GW01", "w01019")]
    assert pd.isna(measured.qualifier) and measured.value == 1.6


@pytest.mark.parametrize("name", ["lab_results_zh_bom.csv", "lab_results_zh_gb18030.csv"])
def test_chinese_headers_names_and_encodings(lab_registry: Registry, name: str) -> None:
    df, rejected = read_lab_file(DATA / name, lab_registry, "b")
    assert rejected == [], [str(r) for r in rejected]   # the title row above the header is skipped
    rows = _by(df)
    assert set(rows) == {("JK-GW01", "w01001"), ("JK-GW01", "w21003"), ("JK-GW01", "w01019"),
                         ("JK-001-DW001", "w01018"), ("JK-001-DW001", "w21011")}
    assert rows[("JK-GW01", "w01001")].unit == "pH"     # 无量纲
    assert rows[("JK-GW01", "w21003")].qualifier == "<"  # "0.025L": Chinese below-DL notation
    assert rows[("JK-GW01", "w21003")].value == 0.025
    assert rows[("JK-GW01", "w01019")].qualifier == "<"  # 未检出 + 检出限 0.5
    assert rows[("JK-GW01", "w01019")].value == 0.5
    assert rows[("JK-001-DW001", "w21011")].unit == "mg/L"   # 毫克/升
    assert rows[("JK-GW01", "w01001")].time == pd.Timestamp("2024-03-05 02:30", tz="UTC")  # 2024年3月5日 10:30


def test_bad_rows_rejected_by_line_rest_kept(lab_registry: Registry) -> None:
    path = DATA / "lab_results_bad_rows.csv"
    df, rejected = read_lab_file(path, lab_registry, "b")
    by_line = {r.line: r.reason for r in rejected}
    assert set(by_line) == {3, 4, 5, 6, 8, 9, 10, 12}   # line 7 is blank, 2 and 11 are good
    assert "unknown monitoring point 'JK-GW99'" in by_line[3]
    assert "unknown parameter '铀'" in by_line[4]
    assert "sample_time" in by_line[5] and "yesterday" in by_line[5]
    assert "value" in by_line[6] and "abc" in by_line[6]
    assert by_line[8] == "unit: missing"
    assert "without a detection limit" in by_line[9]
    assert "negative" in by_line[10]
    assert by_line[12].startswith("duplicate of line 11")
    assert str(rejected[0]) == f"{path}:3: point: unknown monitoring point 'JK-GW99'"
    assert sorted(df["value"].tolist()) == [0.30, 7.3]


@pytest.mark.parametrize("name, reason", [("lab_not_a_table.csv", "binary"),
                                          ("lab_wrong_header.csv", "no header row")])
def test_not_a_table_is_one_clear_rejection(lab_registry: Registry, name: str, reason: str) -> None:
    df, rejected = read_lab_file(DATA / name, lab_registry, "b")
    assert df.empty and list(df.columns) == list(READINGS_COLUMNS)
    assert len(rejected) == 1 and rejected[0].line is None and reason in rejected[0].reason


def test_xlsx_with_real_datetime_cells(lab_registry: Registry, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["地下水监测报告"])
    ws.append(["点位", "检测项目", "采样时间", "检测结果", "单位", "检出限"])
    ws.append(["JK-GW01", "氨氮", datetime(2024, 5, 6, 9, 15), 0.12, "mg/L", 0.025])
    ws.append(["JK-GW01", "pH", datetime(2024, 5, 6, 9, 15), 7, "无量纲", None])
    ws.append(["JK-GW01", "高锰酸盐指数", datetime(2024, 5, 6, 9, 15), "ND", "mg/L", 0.5])
    ws.append(["JK-GW01", "总磷", "not a date", 0.1, "mg/L", None])
    path = tmp_path / "lab_may.xlsx"
    wb.save(path)
    df, rejected = read_lab_file(path, lab_registry, "x")
    assert [(r.line, "sample_time" in r.reason) for r in rejected] == [(6, True)]   # sheet row 6
    rows = _by(df)
    assert rows[("JK-GW01", "w21003")].value == 0.12
    assert rows[("JK-GW01", "w21003")].time == pd.Timestamp("2024-05-06 01:15", tz="UTC")
    assert rows[("JK-GW01", "w01001")].value == 7.0
    assert (rows[("JK-GW01", "w01019")].qualifier, rows[("JK-GW01", "w01019")].value) == ("<", 0.5)


def test_corrupt_xlsx_is_one_rejection(lab_registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    df, rejected = read_lab_file(path, lab_registry, "x")
    assert df.empty and len(rejected) == 1 and "XLSX" in rejected[0].reason


def test_import_lab_cli_prints_rows_and_rejections(tmp_path: Path) -> None:
    env = {"ENVMON_REGISTRY": str(DATA / "lab_registry.yaml"), "ENVMON_DATA_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "monitoring.cli", "import", "lab",
                         str(DATA / "lab_results_en.csv")], capture_output=True, text=True, check=False, env=env, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "5 readings" in ok.stdout and "JK-001-DW001" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "monitoring.cli", "import", "lab",
                          str(DATA / "lab_results_bad_rows.csv")], capture_output=True, text=True, check=False, env=env,
                         cwd=ROOT)
    assert bad.returncode == 2
    assert f"{DATA / 'lab_results_bad_rows.csv'}:3: point: unknown monitoring point 'JK-GW99'" in bad.stderr


# --- issue 9: decimal commas, doubtful encodings, oversized files ------------------------------------
def _lab_csv(tmp_path, rows: list[str], encoding: str = "utf-8") -> Path:
    path = tmp_path / "lab.csv"
    path.write_bytes(("point,parameter,sample_time,value,unit,detection_limit\n" + "\n".join(rows) + "\n")
                     .encode(encoding))
    return path


def test_decimal_comma_is_rejected_never_read_times_ten(tmp_path, lab_registry):
    """Item 7: ``"0,5"`` used to be stored as 5.0."""
    path = _lab_csv(tmp_path, ['JK-GW01,w21003,2024-04-02 09:00,"0,5",mg/L,',
                               'JK-GW01,w21011,2024-04-02 09:00,"1,234",mg/L,',
                               'JK-GW01,w01019,2024-04-02 09:00,0.5,mg/L,'])
    df, rejected = read_lab_file(path, lab_registry, "b")
    assert [(r.line, r.reason) for r in rejected] == [
        (2, ("value: decimal comma in '0,5': write the number with a point (0.5); in lab files a comma is "
            "only a thousands separator (1,234)"))]
    assert sorted(df["value"].tolist()) == [0.5, 1234.0]


def test_latin1_file_is_refused_naming_the_file(tmp_path, lab_registry):
    """Item 8: a Latin-1 ``µg/l`` used to decode as GB18030 ``礸/l`` ("1 readings, 0 rejected")."""
    path = _lab_csv(tmp_path, ["JK-GW01,w21003,2024-04-02 09:00,12,µg/l,"], encoding="latin-1")
    df, rejected = read_lab_file(path, lab_registry, "b", name="landing/jiangkou/lab/lab.csv")
    assert df.empty and len(rejected) == 1 and rejected[0].line is None
    assert str(rejected[0]).startswith("landing/jiangkou/lab/lab.csv: encoding doubtful: not UTF-8")
    # the genuine GB18030 export still reads
    ok, bad = read_lab_file(DATA / "lab_results_zh_gb18030.csv", lab_registry, "b")
    assert len(ok) > 0 and not any("encoding" in r.reason for r in bad)


def test_file_over_the_size_limit_is_refused_with_the_reason(tmp_path, lab_registry):
    """Item 12 (the refusal part): a file over the configured size is not read at all."""
    path = _lab_csv(tmp_path, ["JK-GW01,w21003,2024-04-02 09:00,0.5,mg/L,"] * 2000)
    df, rejected = read_lab_file(path, lab_registry, "b", max_bytes=10_000)
    assert df.empty and len(rejected) == 1
    assert rejected[0].reason.startswith("file too large: 0.1 MB, the limit is 0.01 MB (ENVMON_MAX_LANDING_MB)")


def _big_lab_csv(path: Path, rows: int) -> Path:
    """A lab CSV of ``rows`` results (a title row, then the header at line 2): one sample a minute of
    four parameters at two points, so no two rows share an identity. Data row k is at line k + 3."""
    k = np.arange(rows)
    point = np.where(k % 8 < 4, "JK-GW01", "JK-001-DW001")
    param = np.array(["w21003", "w01019", "w21011", "w01018"])[k % 4]
    minute = pd.to_datetime("2024-01-01") + pd.to_timedelta(k // 8, unit="min")
    frame = pd.DataFrame({"point": point, "parameter": param, "sample_time": minute.strftime("%Y-%m-%d %H:%M"),
                          "value": (k % 97 / 10 + 0.1).round(2).astype(str), "unit": "mg/L", "detection_limit": ""})
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("江口 实验室结果\r\n")
        frame.to_csv(fh, index=False, lineterminator="\r\n")
    return path


def test_large_file_streams_in_chunks_with_lines_right_in_later_chunks(tmp_path, lab_registry):
    """Item 12: a lab file is read chunk by chunk (a 200 MB file took 4.2 GB read whole); rejections in
    the later chunks still name their file line, and a duplicate names the first sample's line even when
    that was in an earlier chunk."""
    path = _big_lab_csv(tmp_path / "big.csv", 2_500)
    lines = path.read_text(encoding="utf-8").splitlines()
    # break rows in the third chunk and the last one (chunks of 1000 data rows: lines 3-1002, 1003-2002 …)
    lines[2100 - 1] = lines[2100 - 1].replace("mg/L", "")   # no unit
    lines[2400 - 1] = "JK-NOPE" + lines[2400 - 1][lines[2400 - 1].index(","):]        # unknown point
    lines.append(lines[10 - 1])                                  # line 2503 repeats line 10 (chunk 1)
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")

    chunks = list(iter_lab_file(path, lab_registry, "b", name="landing/jiangkou/lab/big.csv", chunk_rows=1000))
    assert [len(df) + len(bad) for df, bad in chunks] == [1000, 1000, 501]
    rejected = [r for _, bad in chunks for r in bad]
    assert [(r.line, r.reason.split(":")[0]) for r in rejected] == [
        (2100, "unit"), (2400, "point"), (2503, "duplicate of line 10 (same point, parameter and sample time)")]
    assert str(rejected[1]).startswith("landing/jiangkou/lab/big.csv:2400: point: unknown monitoring point")
    readings = pd.concat([df for df, _ in chunks], ignore_index=True)
    assert len(readings) == 2_500 - 2
    # origins name the file line of every reading, in the last chunk as in the first
    assert readings["origin"].iloc[0] == "landing/jiangkou/lab/big.csv:3"
    assert readings["origin"].iloc[-1] == "landing/jiangkou/lab/big.csv:2502"
    # the same file read whole gives the same result (read_lab_file is the chunks concatenated)
    whole, whole_rejected = read_lab_file(path, lab_registry, "b", name="landing/jiangkou/lab/big.csv")
    assert whole["origin"].tolist() == readings["origin"].tolist()
    assert [str(r) for r in whole_rejected] == [str(r) for r in rejected]


def _read_position(path: Path) -> int | None:
    """How far this process has read ``path`` through an open file (Linux ``/proc/self/fdinfo``)."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                info = Path(f"/proc/self/fdinfo/{fd}").read_text()
                return int(info.split("pos:", 1)[1].split()[0])
        except OSError:
            continue
    return None


def test_a_large_file_is_never_held_whole(tmp_path, lab_registry):
    """Item 12: memory is bounded by the chunk, not the file. When each chunk of 1000 rows comes out,
    the reader has read only about as far as that chunk's last line (plus its buffer), never the whole
    file ahead; read whole, a 200 MB file took 4.2 GB."""
    path = _big_lab_csv(tmp_path / "big.csv", 20_000)
    size = path.stat().st_size
    per_row = size / 20_000
    chunks = iter_lab_file(path, lab_registry, "b", chunk_rows=1000)
    for k in range(1, 21):
        df, bad = next(chunks)
        assert len(df) + len(bad) == 1000 and bad == []
        position = _read_position(path)
        assert position is not None and position < k * 1000 * per_row + 256 * 1024, (k, position, size)
    assert next(chunks, None) is None
    assert _read_position(path) is None                       # closed once read
