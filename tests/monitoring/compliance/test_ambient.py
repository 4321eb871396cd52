"""GB 3095-2012 class-2 ambient means with their validity rules, and HJ 633-2012 AQI.

Clauses (limits file status ``unconfirmed``): GB 3095-2012 表1 二级 — SO₂ 1-h 500, 24-h 150 µg/m³;
O₃ 1-h 200, daily max 8-h 160 µg/m³; PM2.5 24-h 75 µg/m³. §8 (as quoted): a 24-h mean needs ≥ 20
hourly values; an O₃ 8-h mean ≥ 6. HJ 633-2012 表1 breakpoints, §5 IAQI formula rounded up, AQI = max
IAQI, primary pollutant when AQI > 50; 表2 categories and colours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.compliance import evaluate_readings
from monitoring.compliance.aggregate import best_period, hourly_aggregates
from monitoring.compliance.ambient import ambient_aqi
from monitoring.compliance.aqi import DAILY_INPUTS, HOURLY_INPUTS, aqi_frame, category_of, iaqi
from monitoring.compliance.frames import points_table
from tests.monitoring.compliance.helpers import make_registry, minutes, online

STATION = online("JK-AQ01", "ambient_air", ["a34002", "a34004", "a21026", "a21004", "a05024"], enterprise=None,
                 interval_s=60)
REG = make_registry(STATION)


def rows(ev, check: str) -> pd.DataFrame:
    a = ev.assessments
    return a[a["check"] == check].reset_index(drop=True)


def test_so2_hourly_mean_in_ug_against_500_and_the_45_minute_rule(catalogue):
    r = pd.concat([minutes("JK-AQ01", "ambient_air", "a21026", "2026-11-02 10:00", [0.55] * 60),
                   minutes("JK-AQ01", "ambient_air", "a21026", "2026-11-02 11:00", [0.50] * 60),
                   minutes("JK-AQ01", "ambient_air", "a21026", "2026-11-02 12:00", [0.9] * 44)])
    ev = evaluate_readings(r, REG, catalogue, start="2026-11-02 10:00", end="2026-11-02 13:00")
    h = rows(ev, "ambient_1h")
    h = h[h["parameter"] == "a21026"]
    assert h["verdict"].tolist() == ["exceeds", "compliant", "invalid"]
    assert h["value"].iloc[0] == pytest.approx(550.0) and h["unit"].iloc[0] == "µg/m3"
    assert h["limit"].iloc[0] == 500 and h["limit_status"].iloc[0] == "unconfirmed"
    assert h["standard"].iloc[0] == "GB 3095-2012" and "1小时平均" in h["clause"].iloc[0]
    assert "44/60" in h["reason"].iloc[2]


def hourly_values(parameter: str, day: str, values: list[float | None]) -> pd.DataFrame:
    """CN 2061 hourly data (one value per hour, expected 1), None = hour missing."""
    parts = [minutes("JK-AQ01", "ambient_air", parameter, f"{day} {h:02d}:00", [v], period="1h")
             for h, v in enumerate(values) if v is not None]
    return pd.concat(parts)


def test_pm25_24h_mean_needs_20_valid_hours_of_the_local_day(catalogue):
    r = pd.concat([hourly_values("a34004", "2026-11-02", [0.080] * 20 + [None] * 4),     # 80 > 75
                   hourly_values("a34004", "2026-11-03", [0.080] * 19 + [None] * 5)])    # 19 h: invalid
    ev = evaluate_readings(r, REG, catalogue, start="2026-11-02 00:00", end="2026-11-04 00:00")
    d = rows(ev, "ambient_24h")
    d = d[d["parameter"] == "a34004"]
    assert d["verdict"].tolist() == ["exceeds", "invalid"]
    assert d["value"].iloc[0] == pytest.approx(80.0) and d["limit"].iloc[0] == 75
    assert d["window_start"].iloc[0] == pd.Timestamp("2026-11-01 16:00", tz="UTC")   # local midnight
    assert "19 valid hours < 20" in d["reason"].iloc[1]


def test_only_complete_local_days_are_judged(catalogue):
    r = hourly_values("a34004", "2026-11-02", [0.080] * 24)
    ev = evaluate_readings(r, REG, catalogue, start="2026-11-02 00:00", end="2026-11-02 12:00")
    assert rows(ev, "ambient_24h").empty


def test_o3_daily_max_8h_mean_needs_6_valid_hours_per_window(catalogue):
    day1 = [0.05] * 10 + [0.170] * 8 + [0.05] * 6          # 8 h at 170 µg/m³ → an 8-h mean of 170 > 160
    day2 = ([0.170, None] * 12)                           # never 6 valid hours in any 8 → invalid
    r = pd.concat([hourly_values("a05024", "2026-11-02", day1), hourly_values("a05024", "2026-11-03", day2)])
    ev = evaluate_readings(r, REG, catalogue, start="2026-11-02 00:00", end="2026-11-04 00:00")
    e = rows(ev, "ambient_8h")
    assert e["verdict"].tolist() == ["exceeds", "invalid"] and e["averaging"].tolist() == ["8h", "8h"]
    assert e["value"].iloc[0] == pytest.approx(170.0)
    one_h = rows(ev, "ambient_1h")
    assert (one_h[one_h["parameter"] == "a05024"]["verdict"] == "exceeds").sum() == 0     # 170 < 200


@pytest.mark.parametrize(("conc", "expected"), [(0, 0), (35, 50), (35.1, 51), (75, 100), (115, 150),
                                                (150, 200), (250, 300), (500, 500), (600, 500)])
def test_pm25_iaqi_breakpoints_and_rounding_up(conc, expected):
    assert iaqi(conc, "a34004", "24h")[0] == expected


def test_so2_1h_above_800_uses_the_24h_iaqi_and_o3_8h_above_800_the_1h():
    m = pd.DataFrame({"a21026_1h": [900.0], "a21026_24h": [100.0]})
    out = aqi_frame(m, HOURLY_INPUTS)
    assert out["iaqi_a21026_1h"].iloc[0] == 75          # 24-h 100 µg/m³ → IAQI 75
    m = pd.DataFrame({"a05024_8h": [850.0], "a05024_1h": [420.0]})
    out = aqi_frame(m, DAILY_INPUTS)
    assert np.isnan(out["iaqi_a05024_8h"].iloc[0]) and out["aqi"].iloc[0] == out["iaqi_a05024_1h"].iloc[0]


def test_aqi_primary_pollutant_only_above_50_and_ties_name_both():
    m = pd.DataFrame({"a34004_24h": [30.0, 80.0, 115.0], "a34002_24h": [40.0, 150.0, 250.0]})
    out = aqi_frame(m, HOURLY_INPUTS)
    assert out["aqi"].tolist() == [43, 107, 150]
    assert out["primary"].iloc[0] is pd.NA and out["primary"].iloc[1] == "a34004"
    assert out["primary"].iloc[2] == "a34002,a34004" and out["primary_zh"].iloc[2] == "PM10、PM2.5"
    assert out["exceeding"].iloc[2] == "a34002,a34004"


def test_categories_and_colours_of_table_2():
    c = category_of(np.array([50, 51, 100, 101, 150, 151, 200, 201, 300, 301, np.nan]))
    assert c["category"].tolist()[:10] == ["优", "良", "良", "轻度污染", "轻度污染", "中度污染", "中度污染",
                                           "重度污染", "重度污染", "严重污染"]
    assert c["colour"].iloc[0] == "绿色" and c["rgb"].iloc[9] == "#7E0023" and c["category"].iloc[10] is pd.NA


def test_station_hourly_and_daily_aqi(catalogue):
    r = pd.concat([hourly_values("a34004", "2026-11-02", [0.080] * 24),
                   hourly_values("a34002", "2026-11-02", [0.100] * 24),
                   hourly_values("a05024", "2026-11-02", [0.05] * 24)])
    hourly = best_period(hourly_aggregates(r))
    start, end = pd.Timestamp("2026-11-02 00:00", tz="Asia/Shanghai").tz_convert("UTC"), \
        pd.Timestamp("2026-11-03 00:00", tz="Asia/Shanghai").tz_convert("UTC")
    h, d = ambient_aqi(hourly, points_table(REG), start, end)
    assert len(h) == 24 and set(h["aqi"]) == {107.0} and set(h["primary"]) == {"a34004"}
    assert h["category"].iloc[0] == "轻度污染" and h["colour"].iloc[0] == "橙色"
    assert len(d) == 1 and d["aqi"].iloc[0] == 107 and d["iaqi_a34002_24h"].iloc[0] == 75


def test_a_partial_day_with_o3_alone_has_no_daily_aqi(catalogue):
    """GB 3095-2012 §8 表4: a 24-h mean needs ≥ 20 valid hours. On 11-02 the station reported 6 hours
    (PM2.5 80 µg/m³, O₃ 250 µg/m³: 1-h IAQI 100 + 50·(250−200)/(300−200) = 125): no 24-h mean exists, so the day gets no 日报 AQI — not an
    AQI from O₃'s 1-h maximum alone. 11-03 is complete: PM2.5 80 µg/m³ → IAQI 107 (HJ 633 表1)."""
    r = pd.concat([hourly_values("a34004", "2026-11-02", [None] * 18 + [0.080] * 6),
                   hourly_values("a05024", "2026-11-02", [None] * 18 + [0.250] * 6),
                   hourly_values("a34004", "2026-11-03", [0.080] * 24)])
    start, end = pd.Timestamp("2026-11-02 00:00", tz="Asia/Shanghai").tz_convert("UTC"), \
        pd.Timestamp("2026-11-04 00:00", tz="Asia/Shanghai").tz_convert("UTC")
    _, d = ambient_aqi(best_period(hourly_aggregates(r)), points_table(REG), start, end)
    d = d.set_index(d["local_date"].dt.strftime("%m-%d"))
    assert d.loc["11-02", "iaqi_a05024_1h"] == 125                  # the 1-h IAQI is still shown
    assert np.isnan(d.loc["11-02", "aqi"]) and d.loc["11-02", "category"] is pd.NA
    assert d.loc["11-03", "aqi"] == 107 and d.loc["11-03", "category"] == "轻度污染"


def test_ambient_exceedance_is_its_own_incident_kind(catalogue, tmp_path):
    from datetime import UTC, datetime

    from monitoring.incidents import IncidentManager
    from monitoring.notifications import render

    r = minutes("JK-AQ01", "ambient_air", "a21026", "2026-11-02 10:00", [0.55] * 60)
    ev = evaluate_readings(r, REG, catalogue, start="2026-11-02 10:00", end="2026-11-02 11:00")
    m = IncidentManager(f"sqlite:///{tmp_path / 'i.sqlite'}", min_duration=pd.Timedelta(hours=1).to_pytimedelta())
    changes = m.apply_assessments(ev.assessments, now=datetime(2026, 11, 2, 4, tzinfo=UTC))
    (inc,) = changes.opened
    assert inc.kind == "ambient" and inc.standard == "GB 3095-2012" and inc.check == "ambient_1h"
    title, body = render("open", inc, REG, now=datetime(2026, 11, 2, 4, tzinfo=UTC))
    assert title.startswith("【环境空气质量超标·") and "环境空气1小时平均" in body and "待核实" in body
