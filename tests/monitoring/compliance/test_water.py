"""Water: daily local means against the outlet's standard and grade; NH₃-N bracket; pH range; non-detects."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.compliance import evaluate_readings

from .helpers import make_registry, minutes, online

DAY = "2024-01-10 00:00"          # local day; 2024-01-09 16:00 UTC


def outlet(**kw):
    return online("W1", "wastewater", ["w01018", "w21003", "w01001"],
                  **{"standard": "GB 8978-1996", "grade": "3", **kw})


def plant(**kw):
    return online("P1", "plant_effluent", ["w21003", "w01010", "w01001"],
                  **{"standard": "GB 18918-2002", "grade": "1A", "receiving": "surface_water", **kw})


def hourly(point, kind, param, values, unit="mg/L", **kw):
    return minutes(point, kind, param, DAY, values, unit=unit, period="1h", step="1h", **kw)


def run(r, reg, catalogue):
    return evaluate_readings(r, reg, catalogue, start=DAY, end="2024-01-11 00:00")


def row(ev, point, check, parameter):
    a = ev.assessments
    a = a[(a["point"] == point) & (a["check"] == check) & (a["parameter"] == parameter)]
    assert len(a) == 1, a
    return a.iloc[0]


def test_gb8978_grade3_daily_mean_on_local_day(catalogue):
    # 12 hours at 600 and 12 at 380: daily mean 490 ≤ 500 (grade 3) although half the hours are above
    r = hourly("W1", "wastewater", "w01018", [600.0] * 12 + [380.0] * 12)
    c = row(run(r, make_registry(outlet()), catalogue), "W1", "daily_mean", "w01018")
    assert c["value"] == pytest.approx(490) and c["limit"] == 500 and c["verdict"] == "compliant"
    assert c["window_start"] == pd.Timestamp("2024-01-09 16:00", tz="UTC")     # local midnight
    assert c["averaging"] == "1d" and c["clause"] == "表4"
    # grade 1: same data exceeds 100
    c1 = row(run(r.assign(point="W1"), make_registry(outlet(grade="1")), catalogue), "W1", "daily_mean", "w01018")
    assert c1["limit"] == 100 and c1["verdict"] == "exceeds"


@pytest.mark.parametrize("temp, nh3, limit, verdict", [
    (12.0, 7.9, 8, "compliant"),    # ≤ 12 °C: bracket value 8
    (12.0, 8.1, 8, "exceeds"),
    (12.1, 5.5, 5, "exceeds"),      # > 12 °C: 5
    (15.0, 5.0, 5, "compliant"),
])
def test_gb18918_nh3n_bracket_at_12_degrees(catalogue, temp, nh3, limit, verdict):
    r = pd.concat([hourly("P1", "plant_effluent", "w21003", [nh3] * 24),
                   hourly("P1", "plant_effluent", "w01010", [temp] * 24, unit="degC")])
    c = row(run(r, make_registry(plant()), catalogue), "P1", "daily_mean", "w21003")
    assert (c["limit"], c["verdict"]) == (limit, verdict)
    assert ("bracket" in c["reason"]) == (temp <= 12)


def test_nh3n_without_temperature_uses_the_warm_value(catalogue):
    r = hourly("P1", "plant_effluent", "w21003", [6.0] * 24)
    c = row(run(r, make_registry(plant()), catalogue), "P1", "daily_mean", "w21003")
    assert c["limit"] == 5 and c["verdict"] == "exceeds" and "no water temperature" in c["reason"]


def test_gb18918_1b(catalogue):
    r = pd.concat([hourly("P1", "plant_effluent", "w21003", [14.0] * 24),
                   hourly("P1", "plant_effluent", "w01010", [10.0] * 24, unit="degC")])
    c = row(run(r, make_registry(plant(grade="1B")), catalogue), "P1", "daily_mean", "w21003")
    assert (c["limit"], c["verdict"]) == (15, "compliant")


@pytest.mark.parametrize("values, verdict, limit", [
    ([7.0] * 23 + [6.0], "compliant", 6),     # low edge inside
    ([7.0] * 23 + [9.0], "compliant", 9),     # high edge inside
    ([7.0] * 23 + [5.9], "exceeds", 6),
    ([7.0] * 23 + [9.2], "exceeds", 9),
])
def test_ph_is_a_range(catalogue, values, verdict, limit):
    r = hourly("W1", "wastewater", "w01001", values, unit="pH")
    c = row(run(r, make_registry(outlet()), catalogue), "W1", "ph_range", "w01001")
    assert (c["verdict"], c["limit"], c["limit_low"]) == (verdict, limit, 6)
    if verdict == "exceeds":
        assert c["ratio"] == pytest.approx(abs(values[-1] - limit) / 3)


def test_non_detects_half_detection_limit(catalogue):
    reg = make_registry(outlet(online=False, mn=None, pw=None))
    # lab: NH3-N grade 3 has no limit ("–"), COD grade 3 500 mg/L; samples "<4" (non-detect) and 10
    lab = pd.concat([
        minutes("W1", "wastewater", "w01018", "2024-01-10 09:00", [4.0], qualifier="<", period="sample",
                statistic="sample", unit="mg/L"),
        minutes("W1", "wastewater", "w01018", "2024-01-10 15:00", [10.0], period="sample", statistic="sample",
                unit="mg/L"),
    ])
    c = row(run(lab, reg, catalogue), "W1", "daily_mean", "w01018")
    assert c["value"] == pytest.approx((2.0 + 10.0) / 2) and c["verdict"] == "compliant"
    assert pd.isna(c["expected_count"])                         # lab point: no expected count
    allnd = minutes("W1", "wastewater", "w01018", "2024-01-10 09:00", [4.0, 4.0], qualifier="<",
                    period="sample", statistic="sample", unit="mg/L", step="6h")
    c = row(run(allnd, reg, catalogue), "W1", "daily_mean", "w01018")
    assert c["value"] == 2.0 and c["verdict"] == "compliant" and "detection limit" in c["reason"]
    # a detection limit above the limit cannot show compliance
    high = allnd.assign(value=600.0)
    c = row(run(high, reg, catalogue), "W1", "daily_mean", "w01018")
    assert c["verdict"] == "invalid"


def test_flagged_water_data_never_exceeds(catalogue):
    r = hourly("W1", "wastewater", "w01018", [900.0] * 24, flags="D")
    ev = run(r, make_registry(outlet()), catalogue)
    c = row(ev, "W1", "daily_mean", "w01018")
    assert c["verdict"] == "no_data" and ev.exceedances.empty


def test_minute_data_every_5_minutes_is_full_capture(catalogue):
    """An outlet reporting CN 2051 minute data every 300 s delivers 12 values an hour, not 60: its day is
    judged (100 % capture), not written off as invalid."""
    r = minutes("W1", "wastewater", "w01018", DAY, [620.0] * 288, step="5min")
    ev = run(r, make_registry(outlet(interval_s=300)), catalogue)
    c = row(ev, "W1", "daily_mean", "w01018")
    assert c["verdict"] == "exceeds" and c["value"] == pytest.approx(620) and c["limit"] == 500
    cap = ev.capture[(ev.capture["point"] == "W1") & (ev.capture["parameter"] == "w01018")
                     & (ev.capture["window"] == "1d")]
    assert cap["expected"].iat[0] == 288 and cap["capture_pct"].iat[0] == pytest.approx(100.0)


def test_a_day_delivered_partly_as_hourly_and_partly_as_5_minute_data_is_complete(catalogue):
    """Each hour counts by the period it was delivered in: 18 hourly values (CN 2061) and then 6 hours of
    5-minute data (CN 2051) are a whole day — judged, not "insufficient data: 90 valid of 288 expected"
    (the demo's back-fill sends exactly this on the day before its last 24 hours; that missed a real
    COD episode of 凤鸣 FM-009, 696 mg/L against 500)."""
    early = hourly("W1", "wastewater", "w01018", [700.0] * 18)
    late = minutes("W1", "wastewater", "w01018", "2024-01-10 18:00", [690.0] * 72, step="5min")
    ev = run(pd.concat([early, late], ignore_index=True), make_registry(outlet(interval_s=300)), catalogue)
    c = row(ev, "W1", "daily_mean", "w01018")
    assert c["verdict"] == "exceeds" and c["limit"] == 500
    assert c["valid_count"] == 90 and c["expected_count"] == 90
    # the same day with 6 of the 18 hourly values missing: 12 + 6 of 24 hours = 75 % → still judged;
    # with 7 missing it is not
    ev = run(pd.concat([early.iloc[:12], late], ignore_index=True), make_registry(outlet(interval_s=300)),
             catalogue)
    assert row(ev, "W1", "daily_mean", "w01018")["verdict"] == "exceeds"
    ev = run(pd.concat([early.iloc[:11], late], ignore_index=True), make_registry(outlet(interval_s=300)),
             catalogue)
    assert row(ev, "W1", "daily_mean", "w01018")["verdict"] == "invalid"


def test_period_without_any_water_data_is_no_data_not_a_crash(catalogue):
    """A period in which an online outlet sent nothing: its day is judged no_data (a capture gap).
    (The store path once crashed here; tests/dags/test_evaluate_and_alert.py covers that path.)"""
    r = minutes("W1", "wastewater", "w01018", DAY, [])
    ev = run(r, make_registry(outlet()), catalogue)
    c = row(ev, "W1", "daily_mean", "w01018")
    assert c["verdict"] == "no_data"


def test_daily_mean_needs_two_lab_samples(catalogue):
    """GB 8978-1996 5.2.1: other wastewater is sampled at least twice in 24 h, so one lab sample gives no
    daily mean: ``invalid`` ("insufficient data"), a capture gap — not a verdict, not an exceedance."""
    reg = make_registry(outlet(online=False, mn=None, pw=None))
    one = minutes("W1", "wastewater", "w01018", "2024-01-10 09:00", [900.0], period="sample",
                  statistic="sample", unit="mg/L")
    ev = run(one, reg, catalogue)
    c = row(ev, "W1", "daily_mean", "w01018")
    assert c["verdict"] == "invalid" and "insufficient data" in c["reason"] and ev.exceedances.empty
    two = minutes("W1", "wastewater", "w01018", "2024-01-10 09:00", [900.0, 200.0], period="sample",
                  statistic="sample", unit="mg/L", step="6h")
    c = row(run(two, reg, catalogue), "W1", "daily_mean", "w01018")
    assert c["verdict"] == "exceeds" and c["value"] == pytest.approx(550)


@pytest.mark.parametrize("valid_hours, verdict", [(1, "invalid"), (17, "invalid"), (18, "exceeds"), (24, "exceeds")])
def test_online_daily_mean_needs_75_percent_of_expected(catalogue, valid_hours, verdict):
    """Online analyser daily mean (standards.md project rule after GB 8978-1996 5.2.1 and HJ 75's 45/60):
    valid values ≥ 75 % of the day's expected count (hourly data: 18 of 24) and ≥ 2, else "insufficient
    data". One valid hour of 24 at 900 mg/L used to be judged "exceeds"."""
    flags = ["N"] * valid_hours + ["D"] * (24 - valid_hours)
    r = hourly("W1", "wastewater", "w01018", [900.0] * 24, flags=flags)
    ev = run(r, make_registry(outlet()), catalogue)
    c = row(ev, "W1", "daily_mean", "w01018")
    assert c["verdict"] == verdict and c["expected_count"] == 24
    if verdict == "invalid":
        assert f"{valid_hours} valid of 24 expected" in c["reason"] and ev.exceedances.empty


def test_flag_t_above_range_is_valid_evidence(catalogue):
    """hj212.md data flags: T (above the measuring range) means the analyser works and the true value is at
    least the reported one — it counts at its reported value and can exceed (it used to be a capture gap,
    so the highest readings were never judged)."""
    r = hourly("W1", "wastewater", "w01018", [300.0] * 12 + [1000.0] * 12, flags=["N"] * 12 + ["T"] * 12)
    ev = run(r, make_registry(outlet()), catalogue)
    c = row(ev, "W1", "daily_mean", "w01018")
    assert c["verdict"] == "exceeds" and c["value"] == pytest.approx(650) and c["valid_count"] == 24
    cap = ev.capture.query("window == '1d' and parameter == 'w01018'").iloc[0]
    assert (cap["valid"], cap["above_range"], cap["capture_pct"]) == (24, 12, 100.0)
