"""``envmon report monthly`` against a real influxd: the numbers are recomputed here from the readings with
plain pandas (never by calling the report code), the PDF's Chinese text is extracted with pdftotext and its
pages are rasterised with pdftoppm and checked for size and content; versions are kept and reissued.

Limits used (from the catalogue, cited): SO₂ 550 mg/m³ hourly (DB 50/418-2016 其他区域 = GB 16297-1996
表2 二级, provisional); COD 500 mg/L daily mean (GB 8978-1996 表4 三级); class-2 boundary noise 60/50 dB(A)
day/night (GB 12348-2008 表1).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.reports import build_monthly
from tests.monitoring.compliance.helpers import make_registry, minutes, online

pytestmark = [pytest.mark.influx, pytest.mark.slow]

MONTH = "2024-05"
HOURS = 31 * 24
SO2_LIMIT, COD_LIMIT = 550.0, 500.0
BEFORE_DEADLINE = datetime(2024, 6, 3, tzinfo=UTC)          # preliminary until 2024-06-10 local
AFTER_DEADLINE = datetime(2024, 6, 12, tzinfo=UTC)


def registry():
    return make_registry(
        online("S1", "stack", ["a21026", "a00000"], height_m=25, above_buildings=True, interval_s=3600),
        online("W1", "wastewater", ["w01018", "w00000"], standard="GB 8978-1996", grade="3", interval_s=3600),
        online("N1", "noise", ["Leq"], zone_class=2, interval_s=3600),
    )


def readings() -> pd.DataFrame:
    """A month of hourly data (HJ 212 CN 2061) with known exceedances, flagged hours and a silent day."""
    rng = np.random.default_rng(11)
    so2 = rng.uniform(100, 400, HOURS)
    so2[[30, 31, 32, 400]] = [600.0, 620.0, 580.0, 900.0]            # 4 hours over 550
    so2_flags = np.array(["N"] * HOURS, dtype=object)
    so2_flags[[100, 101]] = "M"                                      # maintenance: never judged
    so2[[100, 101]] = 5000.0
    flow = rng.uniform(4.0, 6.0, HOURS)                              # m³/s
    cod = rng.uniform(200, 400, HOURS)
    cod[24 * 10: 24 * 11] = 620.0                                    # local day 11: daily mean 620 > 500
    wflow = rng.uniform(2.0, 3.0, HOURS)                             # L/s
    leq = np.where((np.arange(HOURS) % 24 >= 6) & (np.arange(HOURS) % 24 < 22), 55.0, 45.0)
    keep = np.ones(HOURS, dtype=bool)
    keep[24 * 20: 24 * 21] = False                                   # the stack's logger silent on day 21
    kw = {"period": "1h", "step": "1h"}
    start = f"{MONTH}-01 00:00"
    frames = [
        minutes("S1", "stack", "a21026", start, so2, flags=list(so2_flags), **kw),
        minutes("S1", "stack", "a00000", start, flow, unit="m3/s", **kw),
        minutes("W1", "wastewater", "w01018", start, cod, unit="mg/L", **kw),
        minutes("W1", "wastewater", "w00000", start, wflow, unit="L/s", **kw),
        minutes("N1", "noise", "Leq", start, leq, unit="dB(A)", statistic="data", **kw),
    ]
    frames[0] = frames[0][keep]
    frames[1] = frames[1][keep]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def month_in_store(influx_store, settings):
    r = readings()
    influx_store.write_readings(r)
    return r


def build(settings, store, catalogue, out: Path, now=BEFORE_DEADLINE, **kw):
    return build_monthly(settings, MONTH, out=out, store=store, registry=registry(), catalogue=catalogue,
                         workers=1, now=now, **kw)


# ---------------------------------------------------------------------------------------------------
# independent recomputation from the readings (pandas only)
# ---------------------------------------------------------------------------------------------------
def hourly_valid(r: pd.DataFrame, point: str, parameter: str) -> pd.Series:
    x = r[(r["point"] == point) & (r["parameter"] == parameter) & (r["flag"] == "N")]
    return x.set_index("time")["value"]


def test_numbers_recomputed_from_readings(month_in_store, influx_store, settings, catalogue, tmp_path):
    from sensors.quarantine import Quarantine

    r = month_in_store
    q = Quarantine(settings.quarantine_dir / "jiangkou", "b1")
    bad = r.head(3).assign(reason="value out of range: -5 < 0", origin="spool/jiangkou/seg:7")
    q.add_rows(bad, stage="quality")                                  # rows of May 2024: counted
    q.add(stage="decode", origin="spool/jiangkou/seg:9", reason="bad CRC: expected 1C80")   # quarantined now
    q.flush()
    result = build(settings, influx_store, catalogue, tmp_path)
    zone_dir = tmp_path / MONTH / "jiangkou"
    assert {p.parent for p in result.paths} == {zone_dir, tmp_path / MONTH / "county"}
    points = pd.read_csv(zone_dir / "points.csv")
    so2 = points[(points["point"] == "S1") & (points["parameter"] == "a21026")
                 & (points["check"] == "concentration")].iloc[0]
    s = hourly_valid(r, "S1", "a21026")
    assert so2["over"] == int((s > SO2_LIMIT).sum()) == 4
    assert so2["judged"] == len(s)                                     # flagged and silent hours not judged
    assert so2["max_value"] == pytest.approx(s.max())
    assert so2["max_multiple"] == pytest.approx((s.max() - SO2_LIMIT) / SO2_LIMIT)   # (C − C₀)/C₀
    assert so2["limit"] == SO2_LIMIT and so2["limit_status"] == "provisional"
    assert so2["expected"] == HOURS and so2["valid"] == len(s)
    assert so2["capture_pct"] == pytest.approx(100 * len(s) / HOURS)
    assert so2["p95"] == pytest.approx(np.percentile(s.to_numpy(), 95))     # linear interpolation
    assert so2["mean"] == pytest.approx(s.mean()) and so2["window"] == "hour"

    # COD: local daily means
    cod = hourly_valid(r, "W1", "w01018")
    daily = cod.groupby(cod.index.tz_convert("Asia/Shanghai").date).mean()
    row = points[(points["point"] == "W1") & (points["check"] == "daily_mean")
                 & (points["parameter"] == "w01018")].iloc[0]
    assert row["over"] == int((daily > COD_LIMIT).sum()) == 1 and row["window"] == "day"
    assert row["max_value"] == pytest.approx(daily.max())

    # emissions: Σ over hours with both values valid of C × Q × 3600 / 1e6
    e = pd.read_csv(zone_dir / "emissions.csv").set_index(["point", "parameter"])
    both = pd.concat([s.rename("c"), hourly_valid(r, "S1", "a00000").rename("q")], axis=1).dropna()
    assert e.loc[("S1", "a21026"), "hours"] == len(both)
    assert e.loc[("S1", "a21026"), "mass_kg"] == pytest.approx((both["c"] * both["q"] * 3600 / 1e6).sum(), rel=1e-6)
    wboth = pd.concat([cod.rename("c"), hourly_valid(r, "W1", "w00000").rename("q")], axis=1).dropna()
    assert e.loc[("W1", "w01018"), "mass_kg"] == pytest.approx((wboth["c"] * wboth["q"] * 3600 / 1e6).sum(),
                                                               rel=1e-6)

    # exceedances.csv: every exceeding window, local times
    ex = pd.read_csv(zone_dir / "exceedances.csv")
    so2_ex = ex[(ex["point"] == "S1") & (ex["check"] == "concentration")]
    over_times = s[s > SO2_LIMIT].index.tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M").tolist()
    assert so2_ex["start"].tolist() == over_times
    assert ex[ex["check"] == "daily_mean"]["start"].tolist() == ["2024-05-11 00:00"]

    # summary.json: headline figures and the data version
    summary = json.loads((zone_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "preliminary" and summary["version"] == 1
    assert len(summary["data_version"]) == 64
    assert summary["headline"]["exceeding_windows"] == len(ex)
    assert summary["headline"]["quarantined"] == 3                # the packet rejected today is not May's
    n_expected = 5 * HOURS                                  # 5 online parameters, one value per hour
    n_valid = sum(len(hourly_valid(r, p, q)) for p, q in [("S1", "a21026"), ("S1", "a00000"),
                                                          ("W1", "w01018"), ("W1", "w00000"), ("N1", "Leq")])
    assert summary["headline"]["effective_transmission_pct"] == pytest.approx(100 * n_valid / n_expected)
    ent = summary["enterprises"][0]
    assert ent["enterprise"] == "JK-001" and ent["status"] == "exceeds"
    county = json.loads((tmp_path / MONTH / "county" / "summary.json").read_text(encoding="utf-8"))
    assert county["zones"][0]["zone"] == "jiangkou" and county["zones"][0]["exceeding_windows"] == len(ex)


def test_pdf_has_chinese_text_and_pages_with_content(month_in_store, influx_store, settings, catalogue, tmp_path):
    build(settings, influx_store, catalogue, tmp_path)
    pdf = tmp_path / MONTH / "jiangkou" / "report.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    for phrase in ("江口集聚区 环境监测月报 2024年5月", "达标判定", "实际排放量", "数据质量", "测试企业",
                   "初步", "二氧化硫", "有效传输率", "方法说明", "暂定"):
        assert phrase in text, phrase
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "NotoSansCJK" in fonts.replace("-", "").replace(" ", "")
    pages = subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
    assert pages.returncode == 0
    from PIL import Image

    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) >= 3
    for png in pngs:
        img = np.asarray(Image.open(png).convert("L"))
        # A4 at 40 dpi: 8.27 × 11.69 in → 331 × 468 px
        assert abs(img.shape[1] - 331) <= 2 and abs(img.shape[0] - 468) <= 2, png.name
        inked = (img < 200).mean()
        assert inked > 0.004, f"{png.name} looks blank ({inked:.4f} of pixels inked)"


def test_versions_kept_and_reissued_with_change_list(month_in_store, influx_store, settings, catalogue, tmp_path):
    first = build(settings, influx_store, catalogue, tmp_path)
    assert {r.action for r in first.results} == {"issued"}
    again = build(settings, influx_store, catalogue, tmp_path)
    assert {r.action for r in again.results} == {"unchanged"}
    # late data: a corrected hour of SO₂ arrives (value now over the limit)
    hour = pd.Timestamp(f"{MONTH}-05 12:00", tz="Asia/Shanghai")
    late = minutes("S1", "stack", "a21026", hour.isoformat(), [700.0], period="1h", step="1h")
    influx_store.write_readings(late)
    second = build(settings, influx_store, catalogue, tmp_path)
    zone_dir = tmp_path / MONTH / "jiangkou"
    summary = json.loads((zone_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["version"] == 2 and second.results[0].action == "issued"
    changes = {(c["what"], c["field"]): c for c in summary["changes"]}
    over = changes[("S1 a21026 concentration hour", "over")]
    assert (over["old"], over["new"]) == (4, 5)
    assert ("数据组成: 监测数据", "readings") in changes
    assert not any(isinstance(c["old"], dict) or isinstance(c["new"], dict) for c in summary["changes"])
    # the PDF/HTML words the change list for a person: the point's parameter, check and window in Chinese
    html = (zone_dir / "report.html").read_text(encoding="utf-8")
    changes_html = html[html.index("本版变更"):]
    assert "S1" in changes_html and "二氧化硫 排放浓度 小时均值" in changes_html
    assert "<td>超标时段</td><td>4</td><td>5</td>" in changes_html
    assert "concentration hour" not in changes_html and "<td>over</td>" not in changes_html
    assert "<td>数据组成: 监测数据</td><td>数据指纹（SHA-256 前 12 位）</td>" in changes_html
    v1 = json.loads((zone_dir / "versions" / "v1" / "summary.json").read_text(encoding="utf-8"))
    assert v1["version"] == 1 and v1["data_version"] != summary["data_version"]
    assert (zone_dir / "versions" / "v1" / "report.pdf").exists()
    # after the review deadline: final, a new version even though the data did not change
    final = build(settings, influx_store, catalogue, tmp_path, now=AFTER_DEADLINE)
    summary = json.loads((zone_dir / "summary.json").read_text(encoding="utf-8"))
    assert final.results[0].status == "final" and summary["version"] == 3
    assert summary["changes"][0]["field"] == "status"
    html = (zone_dir / "report.html").read_text(encoding="utf-8")
    assert "<td>报告状态</td><td>初步</td><td>正式</td>" in html
    issue = json.loads((zone_dir / "issue.json").read_text(encoding="utf-8"))
    assert [v["status"] for v in issue["versions"]] == ["preliminary", "preliminary", "final"]


def test_month_without_data_says_so(influx_store, settings, catalogue, tmp_path):
    result = build(settings, influx_store, catalogue, tmp_path)
    summary = json.loads((tmp_path / MONTH / "jiangkou" / "summary.json").read_text(encoding="utf-8"))
    assert summary["headline"]["judged_windows"] == 0
    assert summary["enterprises"][0]["status"] == "no_data"
    html = (tmp_path / MONTH / "jiangkou" / "report.html").read_text(encoding="utf-8")
    assert "无监测数据" in html
    assert all(p.exists() for p in result.paths)


def test_cli_prints_paths(month_in_store, influx_store, influx_url, settings, tmp_path, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    from monitoring.cli import app
    from tests.monitoring.compliance.helpers import ENT, ZONE

    reg_file = tmp_path / "registry.yaml"
    reg_file.write_text(yaml.safe_dump({"zones": [ZONE], "enterprises": [ENT], "points": [
        online("S1", "stack", ["a21026", "a00000"], height_m=25, above_buildings=True, interval_s=3600)]},
        allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ENVMON_INFLUX_URL", influx_url)
    monkeypatch.setenv("ENVMON_INFLUX_DB", influx_store.database)
    monkeypatch.setenv("ENVMON_REGISTRY", str(reg_file))
    res = CliRunner().invoke(app, ["report", "monthly", "--month", MONTH, "--zone", "江口", "--out",
                                   str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert str(tmp_path / "out" / MONTH / "jiangkou" / "report.pdf") in res.output
    bad = CliRunner().invoke(app, ["report", "monthly", "--month", "2024-13"])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output


def test_effective_transmission_counts_the_whole_month(influx_store, settings, catalogue, tmp_path):
    """有效传输率 is data capture (monitoring.compliance.capture): flag-N values over the values the point's
    reporting interval promises for every hour of the month — minute data (interval 60 s) is 60 an hour,
    including the hours before the first and after the last value received. Data on 2 of 31 days with some
    flagged minutes: recomputed here from the readings alone."""
    reg = make_registry(online("S1", "stack", ["a21026"], height_m=25, above_buildings=True, interval_s=60))
    rng = np.random.default_rng(3)
    frames = []
    for day in ("2024-05-07 00:00", "2024-05-08 00:00"):
        flags = np.where(rng.uniform(size=1440) < 0.1, "M", "N")
        frames.append(minutes("S1", "stack", "a21026", day, rng.uniform(50, 150, 1440), flags=list(flags)))
    r = pd.concat(frames, ignore_index=True)
    r = r.drop(index=r.index[100:400])                                   # 5 silent hours on the 7th
    influx_store.write_readings(r)
    build_monthly(settings, MONTH, out=tmp_path, store=influx_store, registry=reg, catalogue=catalogue,
                  workers=1, now=BEFORE_DEADLINE, zone="jiangkou")
    expected = 60 * 24 * 31                                             # every minute of May, local time
    pct = 100.0 * int((r["flag"] == "N").sum()) / expected
    summary = json.loads((tmp_path / MONTH / "jiangkou" / "summary.json").read_text(encoding="utf-8"))
    assert summary["headline"]["effective_transmission_pct"] == pytest.approx(pct)
    card = summary["enterprises"][0]
    assert card["effective_transmission_pct"] == pytest.approx(pct)
    assert card["transmission_pct"] == pytest.approx(100.0 * len(r) / expected)
    points = pd.read_csv(tmp_path / MONTH / "jiangkou" / "points.csv")
    row = points[points["check"] == "concentration"].iloc[0]
    assert (row["expected"], row["capture_pct"]) == (expected, pytest.approx(pct))
    html = (tmp_path / MONTH / "jiangkou" / "report.html").read_text(encoding="utf-8")
    assert f"{pct:.1f}%" in html and "05-07 至 05-08（有数据 2 天，全月 31 天）" in html


def test_report_files_private_public_copies_readable(month_in_store, influx_store, settings, catalogue, tmp_path):
    """Internal reports are data files of the service user (0600 files, 0700 directories, whatever the umask);
    the public copies under $ENVMON_DATA_DIR/public/reports are readable (0644 / 0755)."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        build_monthly(settings, MONTH, store=influx_store, registry=registry(), catalogue=catalogue, workers=1,
                      now=BEFORE_DEADLINE, publish=True)
    finally:
        os.umask(old)
    internal, public = settings.reports_dir, settings.public_dir / "reports"

    def modes(root: Path) -> tuple[set[int], set[int]]:
        files = {stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()}
        dirs = {stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")] if p.is_dir()}
        return files, dirs

    assert (internal / MONTH / "jiangkou" / "versions" / "v1" / "report.pdf").exists()
    assert modes(internal) == ({0o600}, {0o700})
    assert (public / MONTH / "jiangkou" / "report.pdf").exists()
    assert modes(public) == ({0o644}, {0o755})
    # a restrictive umask does not hide the public copies
    from monitoring.reports import writers

    old = os.umask(0o077)
    try:
        writers.report_dir(public, public / "x", writers.PUBLIC)
        writers._replace(public / "x" / "a.html", "<p>", writers.PUBLIC)
    finally:
        os.umask(old)
    assert stat.S_IMODE((public / "x" / "a.html").stat().st_mode) == 0o644
    assert stat.S_IMODE((public / "x").stat().st_mode) == 0o755


STATION = online("JK-AQ01", "ambient_air", ["a34004"], enterprise=None, interval_s=3600)
WELL = {"id": "JK-GW01", "kind": "groundwater", "zone": "jiangkou", "name": "井", "online": False,
        "interval_s": 2592000, "parameters": ["w21003", "w01019"]}
SOIL = {"id": "JK-001-TR01", "kind": "soil", "zone": "jiangkou", "enterprise": "JK-001", "name": "土",
        "online": False, "interval_s": 31536000, "parameters": ["soil_cr6", "soil_as"]}


def _sample(point, kind, parameter, when, value, unit="mg/L"):
    return minutes(point, kind, parameter, when, [value], period="sample", statistic="sample", unit=unit)


def test_environment_quality_sections(influx_store, settings, catalogue, tmp_path):
    """Issue #14's parts, numbers worked by hand from the clauses:

    * AQI (HJ 633-2012 表1, PM2.5 24-h breakpoints 0/35/75/115 µg/m³ → IAQI 0/50/100/150, rounded up): 30 µg/m³
      → 43 (优), 80 µg/m³ → 100 + 50·5/40 = 106.25 → 107 (轻度污染, PM2.5 primary); GB 3095-2012 class 2
      PM2.5 24-h limit 75 µg/m³ → 2 exceedance days;
    * GB/T 14848-2017 Class III: NH₃-N 0.50 mg/L, CODMn 3.0 mg/L — the May CODMn sample 3.5 exceeds; NH₃-N
      0.20 → 0.30 → 0.36 → 0.40 rises and its latest sample is ≥ 70 % of the limit: a trend warning;
    * GB 36600-2018 second-class land, Cr(VI) screening 5.7 / control 78 mg/kg: 8.6 (March) → follow-up,
      As 10 < 60 → below the screening value."""
    reg = make_registry(STATION, WELL, SOIL)
    pm = np.r_[np.full(24 * 10, 0.030), np.full(48, 0.080)]                 # mg/m³ (the canonical unit)
    frames = [minutes("JK-AQ01", "ambient_air", "a34004", f"{MONTH}-01 00:00", pm, period="1h", step="1h")]
    for when, v in [("2024-02-10 10:00", 0.20), ("2024-03-10 10:00", 0.30), ("2024-04-10 10:00", 0.36),
                    ("2024-05-10 10:00", 0.40)]:
        frames.append(_sample("JK-GW01", "groundwater", "w21003", when, v))
    frames.append(_sample("JK-GW01", "groundwater", "w01019", "2024-05-10 10:00", 3.5))
    frames += [_sample("JK-001-TR01", "soil", "soil_cr6", "2024-03-15 09:00", 8.6, unit="mg/kg"),
               _sample("JK-001-TR01", "soil", "soil_as", "2024-03-15 09:00", 10.0, unit="mg/kg")]
    influx_store.write_readings(pd.concat(frames, ignore_index=True))
    build_monthly(settings, MONTH, out=tmp_path, store=influx_store, registry=reg, catalogue=catalogue, workers=1,
                  now=BEFORE_DEADLINE, zone="jiangkou")
    env = json.loads((tmp_path / MONTH / "jiangkou" / "summary.json").read_text(encoding="utf-8"))["environment"]
    station = env["ambient"][0]
    assert station["point"] == "JK-AQ01" and station["valid_days"] == 12
    assert (station["优"], station["良"], station["轻度污染"], station["exceedance_days"]) == (10, 0, 2, 2)
    assert (station["primary"], station["primary_days"], station["max_aqi"]) == ("PM2.5", 2, 107)
    assert station["max_day"].startswith("2024-05-11")
    assert (env["groundwater_samples"], env["groundwater_exceeding"]) == (2, 1)
    assert [(t["point"], t["parameter"]) for t in env["trend_warnings"]] == [("JK-GW01", "w21003")]
    soil = {s["parameter"]: s["outcome"] for s in env["soil"]}
    assert soil == {"soil_cr6": "screening", "soil_as": "below"}
    html = (tmp_path / MONTH / "jiangkou" / "report.html").read_text(encoding="utf-8")
    for phrase in ("环境空气质量", "PM2.5（2 天）", "地下水（GB/T 14848-2017 Ⅲ类", "预警：上升趋势",
                   "超筛选值 → 跟进调查", "低于筛选值"):
        assert phrase in html, phrase
