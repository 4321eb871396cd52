"""The limits catalogue: values and rules from the standards, provenance, overrides, grammar errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from limits.catalogue import Catalogue, load_catalogue, rate_from_table
from limits.loader import LimitsError, load_override, load_standards
from monitoring.registry import parse_registry

ZONE = {"id": "jiangkou", "name_zh": "江口", "pinyin": "Jiangkou", "town": "江口镇", "area_mu": 100,
        "elevation_m": [200, 300], "industries": ["wood"]}


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue(None)


# --- GB 16297-1996 §7 rate rules with the table's own numbers -----------------------------------------
@pytest.mark.parametrize("pollutant, h, expected", [
    ("SO2", 30, 15.0),                                  # tabulated
    ("a21026", 25, 4.3 + (15 - 4.3) * 5 / 10),          # 9.65, interpolated 20–30 m
    ("NOx", 45, 7.5 + (12 - 7.5) * 0.5),                # 9.75
    ("benzene", 35, 2.9 + (5.6 - 2.9) * 0.5),           # 4.25
])
def test_rate_interpolation(cat, pollutant, h, expected):
    r = cat.stack_rate(pollutant, h)
    assert r.rate_kg_h == pytest.approx(expected)
    assert ("tabulated" if h == 30 else "interpolated") in r.rule


def test_rate_extrapolated_above_the_table(cat):
    assert cat.stack_rate("SO2", 120).rate_kg_h == pytest.approx(170 * (120 / 100) ** 2)   # 244.8
    r = cat.stack_rate("toluene", 50)
    assert r.rate_kg_h == pytest.approx(30 * (50 / 40) ** 2)                               # 46.875
    assert "above the table" in r.rule


def test_rate_below_15m_extrapolated_and_halved(cat):
    r = cat.stack_rate("particulate", 10)
    assert r.rate_kg_h == pytest.approx(3.5 * (10 / 15) ** 2 * 0.5)                        # 0.7778
    assert "below the table" in r.rule and "§7.4" in r.rule


def test_below_table_but_not_under_15m_is_not_halved():
    q, rule = rate_from_table([(20, 4.0), (30, 9.0)], 16)
    assert q == pytest.approx(4.0 * (16 / 20) ** 2)
    assert "§7.4" not in rule


def test_rate_halved_when_not_above_buildings(cat):
    assert cat.stack_rate("SO2", 25, above_buildings=False).rate_kg_h == pytest.approx(9.65 / 2)
    both = cat.stack_rate("particulate", 10, above_buildings=False)
    assert both.rate_kg_h == pytest.approx(3.5 * (10 / 15) ** 2 / 4)
    assert "§7.1" in both.rule and "§7.4" in both.rule


def test_rate_rejects_bad_height(cat):
    with pytest.raises(ValueError, match="positive"):
        cat.stack_rate("SO2", 0)
    with pytest.raises(KeyError, match="unknown pollutant"):
        cat.stack_rate("unobtainium", 20)


# --- provenance -----------------------------------------------------------------------------------------
def test_db50_other_areas_are_gb16297_grade2_marked_provisional(cat):
    ctx = {"kind": "stack", "region": "其他区域", "grade": "2"}
    [so2] = cat.find(standard="DB 50/418-2016", parameter="a21026", check="concentration", context=ctx)
    assert so2.value == 550 and so2.status == "provisional"
    assert "GB 16297-1996" in so2.reason and "confirmed" in so2.reason
    [src] = cat.find(standard="GB 16297-1996", parameter="a21026", check="concentration")
    assert src.status == "text"
    [b] = cat.find(standard="DB 50/418-2016", parameter="a21002", check="boundary",
                   context={"kind": "fugitive", "region": "其他区域", "grade": "2"})
    assert b.value == pytest.approx(0.12)


def test_water_grades_and_statuses(cat):
    def one(std, p, grade, check="daily_mean"):
        [lim] = cat.find(standard=std, parameter=p, check=check, context={"grade": grade, "kind": "wastewater"})
        return lim
    assert one("GB 8978-1996", "w01018", "3").value == 500
    assert one("GB 8978-1996", "w01018", "1").value == 100
    assert cat.find(standard="GB 8978-1996", parameter="w21003", context={"grade": "3"}) == []  # "–"
    ph = one("GB 8978-1996", "w01001", "3", "ph_range")
    assert (ph.low, ph.value) == (6, 9)
    assert one("GB/T 31962-2015", "w21003", "C").value == 25
    assert one("GB/T 31962-2015", "w21003", "C").status == "unconfirmed"
    nh3 = one("GB 18918-2002", "w21003", "1A")
    assert (nh3.value, nh3.cold_value, nh3.cold_max_temp_c) == (5, 8, 12)
    assert one("GB 18918-2002", "w21003", "1B").cold_value == 15


def test_noise_and_hazardous_waste_rules_are_data(cat):
    assert cat.noise_limit(2, "day").value == 60 and cat.noise_limit(4, "night").value == 55
    assert cat.noise_limit(0, "night").value == 40
    assert cat.lmax_allowance("frequent") == 10 and cat.lmax_allowance("sporadic") == 15
    bg = cat.background_rule()      # GB 12348-2008 §5.9 表7: raw D thresholds, bands on the rounded D
    assert (bg.invalid_below, bg.none_above, bg.bands) == (3, 10, ((3, -3.0), (4, -2.0), (6, -1.0)))
    assert cat.indoor_reduction() == 10
    assert cat.rule("storage_days").value == 365 and cat.rule("storage_days").status == "unconfirmed"
    assert cat.rule("temporary_stock").value == 3
    assert cat.rule("manifest_confirmation").value == 5
    assert cat.find(standard="GB 37822-2019", check="single_reading")[0].value == 30


# --- overrides ------------------------------------------------------------------------------------------
def _registry():
    ents = [{"code": c, "name": c, "zone": "jiangkou", "industry": "x", "category": "key"} for c in ("E1", "E2")]
    pts = [{"id": f"S{i}", "kind": "stack", "zone": "jiangkou", "enterprise": e, "name": "s", "online": False,
            "parameters": ["a21026"], "height_m": 25, "above_buildings": True} for i, e in ((1, "E1"), (2, "E2"))]
    return parse_registry({"zones": [ZONE], "enterprises": ents, "points": pts})


def test_override_stricter_wins_and_says_so(tmp_path: Path):
    f = tmp_path / "eia.yaml"
    f.write_text("""
document: 云环准〔2020〕12号
kind: eia_approval
issued: 2020-03-01
limits:
  - {target: {enterprise: E1}, parameter: a21026, check: concentration, value: 200, unit: mg/m3, clause: 第三条}
  - {target: {point: S2}, parameter: a21026, check: concentration, value: 600, unit: mg/m3}
  - {target: {point: S2}, parameter: a21026, check: rate, value: 2.0, unit: kg/h}
""", encoding="utf-8")
    cat = load_catalogue(f)
    pl = cat.point_limits(_registry()).query("parameter == 'a21026'").set_index(["point", "check"])
    s1 = pl.loc[("S1", "concentration")]
    assert s1["limit"] == 200 and s1["limit_status"] == "override" and s1["standard"] == "云环准〔2020〕12号"
    assert "stricter than DB 50/418-2016" in s1["note"]
    s2 = pl.loc[("S2", "concentration")]                       # 600 is looser: the standard stays
    assert s2["limit"] == 550 and s2["limit_status"] == "provisional" and "not stricter" in s2["note"]
    assert pl.loc[("S2", "rate"), "limit"] == 2.0              # 2.0 < 9.65 kg/h at 25 m
    assert pl.loc[("S1", "rate"), "limit"] == pytest.approx(9.65)
    assert "云环准〔2020〕12号" in set(cat.frame(parameter="SO2")["standard"])


def test_env_var_override(tmp_path: Path, monkeypatch):
    f = tmp_path / "permit.yaml"
    f.write_text("document: 排污许可证 915002\nlimits:\n  - {parameter: a21026, check: concentration, "
                 "value: 100, unit: mg/m3}\n", encoding="utf-8")
    monkeypatch.setenv("ENVMON_LIMITS_OVERRIDE", str(f))
    from monitoring.config import load_settings

    cat = load_catalogue(load_settings().limits_override)
    pl = cat.point_limits(_registry()).query("check == 'concentration' and parameter == 'a21026'")
    assert set(pl["limit"]) == {100.0}


# --- grammar errors name file, entry and reason ----------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("standard: X\nstatus: sure\n", "status must be one of"),
    (("standard: X\ngrades: ['1', '2']\nlimits:\n  - {parameter: w1, check: daily_mean, averaging: 1d, "
      "unit: mg/L, values: [1]}\n"), "limits[0] (w1): values: 1 values for 2 grades"),
    ("standard: X\nlimits:\n  - {parameter: w1, check: weekly, averaging: 1d, unit: mg/L, value: 3}\n",
     "check must be one of"),
    ("standard: X\nlimits:\n  - {parameter: w1, check: ph_range, averaging: 1d, unit: pH, range: [9, 6]}\n",
     "range low 9.0 is not below high 6.0"),
    ("standard: X\npollutants:\n  - {code: a1, rate: {15: 3, 20: 2}}\n", "rates must not fall"),
    ("title: no id\n", "'standard' (the standard id) is required"),
])
def test_grammar_errors(tmp_path: Path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(LimitsError) as exc:
        load_standards(tmp_path)
    assert "bad.yaml" in str(exc.value) and message in str(exc.value)


def test_override_target_must_be_known(tmp_path: Path):
    f = tmp_path / "o.yaml"
    f.write_text("document: D\nlimits:\n  - {target: {stack: S1}, parameter: a, check: rate, value: 1, unit: kg/h}\n")
    with pytest.raises(LimitsError, match=r"o.yaml: limits\[0\] \(a\): target may only name"):
        load_override(f)


# --- CLI ---------------------------------------------------------------------------------------------------
def test_cli_limits_rate_and_show(monkeypatch):
    monkeypatch.delenv("ENVMON_LIMITS_OVERRIDE", raising=False)
    from monitoring.cli import app
    runner = CliRunner()
    res = runner.invoke(app, ["limits", "rate", "--pollutant", "SO2", "--height", "10", "--not-above-buildings"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["rate_kg_h"] == pytest.approx(2.6 * (10 / 15) ** 2 / 4)
    assert "§7.4" in out["rule"] and "§7.1" in out["rule"] and out["status"] == "provisional"
    res = runner.invoke(app, ["limits", "show", "--standard", "GB 18918-2002", "--parameter", "w21003", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert {r["value"] for r in rows} == {"5 (8 ≤ 12 °C)", "8 (15 ≤ 12 °C)"}
    assert all(r["status"] == "text" and r["source"] for r in rows)
    res = runner.invoke(app, ["limits", "rate", "--pollutant", "nope", "--height", "20"])
    assert res.exit_code != 0 and "unknown pollutant" in res.output


# --- dates and designations the standards set (issue 10 item 7) ------------------------------------------
def _one_point(kind: str, zone: dict | None = None, **attrs):
    pt = {"id": "P", "kind": kind, "zone": "jiangkou", "enterprise": "E1", "name": "p", "online": False,
          "parameters": ["a24088"], **attrs}
    ent = {"code": "E1", "name": "E1", "zone": "jiangkou", "industry": "x", "category": "key"}
    return parse_registry({"zones": [zone or ZONE], "enterprises": [ent], "points": [pt]})


@pytest.mark.parametrize("built, on, expected", [
    ("2018-05-01", "2020-06-30", set()),               # existing plant: not yet bound
    ("2018-05-01", "2020-07-01", {10.0, 30.0}),        # existing plant: bound from 2020-07-01
    ("2019-09-01", "2019-10-01", {10.0, 30.0}),        # new plant: bound from 2019-07-01
    (None, "2020-06-30", set()),                       # unknown: taken as existing
])
def test_gb37822_binds_new_plants_from_2019_and_existing_from_2020(cat, built, on, expected):
    """GB 37822-2019: in force 2019-07-01 for new plants, 2020-07-01 for existing ones (附录A 表A.1
    NMHC 10 mg/m³ 1-h mean, 30 mg/m³ any single reading)."""
    import datetime as dt
    reg = _one_point("insite_vocs", **({"built": built} if built else {}))
    pl = cat.point_limits(reg, on=dt.date.fromisoformat(on))
    assert set(pl["limit"]) == expected


def test_gb37822_special_limits_for_designated_areas(cat):
    """GB 37822-2019 附录A 表A.1 特别排放限值: 6 mg/m³ (1-h mean) and 20 mg/m³ (single reading) where the
    province designates key areas (registry zone ``vocs_special_area: true``)."""
    reg = _one_point("insite_vocs", zone={**ZONE, "vocs_special_area": True}, built="2021-01-01")
    pl = cat.point_limits(reg).set_index("check")
    assert (pl.loc["concentration", "limit"], pl.loc["single_reading", "limit"]) == (6, 20)
    assert "特别排放限值" in pl.loc["concentration", "clause"]
    plain = cat.point_limits(_one_point("insite_vocs", built="2021-01-01")).set_index("check")
    assert (plain.loc["concentration", "limit"], plain.loc["single_reading", "limit"]) == (10, 30)


@pytest.mark.parametrize("built, grade, tp", [("2004-06-01", "1A", 1.0), ("2004-06-01", "1B", 1.5),
                                              ("2006-01-01", "1A", 0.5), ("2012-01-01", "1B", 1.0),
                                              (None, "1A", 0.5)])
def test_gb18918_tp_by_build_date(cat, built, grade, tp):
    """GB 18918-2002 表1: TP 0.5 / 1 mg/L (一级A / 一级B) for plants built from 2006-01-01, 1 / 1.5 for plants
    built before; a plant without a build date gets the stricter (new-plant) value and a note."""
    reg = _one_point("plant_effluent", standard="GB 18918-2002", grade=grade, parameters=["w21011"],
                     receiving="surface_water", **({"built": built} if built else {}))
    row = cat.point_limits(reg).query("parameter == 'w21011'")
    assert row["limit"].tolist() == [tp]
    assert ("no 'built' date" in row["note"].iat[0]) == (built is None)


# --- DB 50/418-2016 表1: provisional until read; replacing it is one data-file change (item 10) -----------
def test_db50_418_values_all_provisional_with_the_reason(cat):
    """standards.md: DB 50/418-2016 表1 其他区域 is unconfirmed — every value is shipped as a provisional
    copy of GB 16297-1996 表2 二级 with the reason, and an applied limit says so (status and source)."""
    lims = cat.find(standard="DB 50/418-2016")
    assert len(lims) == len(cat.find(standard="GB 16297-1996")) > 40
    assert {lim.status for lim in lims} == {"provisional"} and all("not yet read" in lim.reason for lim in lims)
    reg = _registry()
    pl = cat.point_limits(reg)
    assert set(pl["limit_status"]) == {"provisional"} and pl["limit_source"].str.contains("provisional:").all()


def test_replacing_db50_418_table_is_one_data_file_change(tmp_path: Path):
    """When DB 50/418-2016 表1 其他区域 is read, its values go into db50-418-2016.yaml (same compact table
    as GB 16297) with status text: they replace the inherited provisional copies one by one, nothing else
    changes (the other pollutants stay provisional)."""
    import shutil

    from limits.loader import DATA_DIR
    for f in DATA_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    db = tmp_path / "db50-418-2016.yaml"
    db.write_text(db.read_text(encoding="utf-8").replace("limits: []", """limits: []
defaults: {clause: "表1 其他区域", averaging: 1h, applies_to: {region: 其他区域, grade: "2"}, status: text,
           source: "DB 50/418-2016 表1, official text"}
pollutants:
  - {code: a21026, name: 二氧化硫, concentration: 400, boundary: 0.40, rate: {15: 2.0, 20: 3.5, 30: 12}}
"""), encoding="utf-8")
    cat = load_catalogue(None, directory=tmp_path)
    pl = cat.point_limits(_registry()).set_index(["point", "parameter", "check"])
    so2 = pl.loc[("S1", "a21026", "concentration")]
    assert (so2["limit"], so2["limit_status"], so2["clause"]) == (400, "text", "表1 其他区域")
    assert pl.loc[("S1", "a21026", "rate"), "limit"] == pytest.approx(3.5 + (12 - 3.5) * 5 / 10)   # 25 m
    assert cat.stack_rate("SO2", 30).limit.status == "text"
    assert cat.stack_rate("NOx", 30).limit.status == "provisional"
    assert len(cat.find(standard="DB 50/418-2016", parameter="a21026")) == 3      # replaced, not added


def test_every_check_status_and_point_kind_has_its_chinese_name():
    """Reports and console show these words, never the codes: each vocabulary has one Chinese table."""
    from limits.loader import CHECK_ZH, CHECKS, STATUS_ZH, STATUSES
    from sensors.schema import POINT_KINDS, POINT_KINDS_ZH

    assert set(CHECKS) <= set(CHECK_ZH)
    assert set(STATUSES) == set(STATUS_ZH)
    assert set(POINT_KINDS) == set(POINT_KINDS_ZH)
