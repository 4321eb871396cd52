"""Stacks, fugitive boundary points and in-site NMHC on hourly means of valid data."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.compliance import evaluate_readings
from monitoring.compliance.aggregate import combine_aggregates, hourly_aggregates
from monitoring.compliance.evaluate import evaluate_aggregates

from .helpers import make_registry, minutes, online

H = "2024-05-01 10:00"     # local; 02:00 UTC


def stack(**kw):
    return online("S1", "stack", ["a21026", "a00000"], **{"height_m": 25, "above_buildings": True, **kw})


def run(readings, registry, catalogue, end="2024-05-01 11:00", **kw):
    return evaluate_readings(readings, registry, catalogue, start=H, end=end, **kw)


def one(ev, check, parameter=None):
    a = ev.assessments
    a = a[(a["check"] == check) & ((a["parameter"] == parameter) if parameter else True)]
    assert len(a) == 1, a
    return a.iloc[0]


def test_concentration_and_rate_both_judged(catalogue):
    # SO2 500 mg/m³ (< 550) but 6 m³/s → 500·6·3600/1e6 = 10.8 kg/h > 9.65 kg/h (25 m, interpolated)
    r = pd.concat([minutes("S1", "stack", "a21026", H, [500.0] * 60),
                   minutes("S1", "stack", "a00000", H, [6.0] * 60, unit="m3/s")])
    ev = run(r, make_registry(stack()), catalogue)
    c, q = one(ev, "concentration"), one(ev, "rate")
    assert (c["value"], c["limit"], c["verdict"]) == (500, 550, "compliant")
    assert q["value"] == pytest.approx(10.8) and q["limit"] == pytest.approx(9.65) and q["verdict"] == "exceeds"
    assert q["ratio"] == pytest.approx(10.8 / 9.65) and q["unit"] == "kg/h"
    assert q["standard"] == "DB 50/418-2016" and q["limit_status"] == "provisional"
    assert "interpolated between 20 m" in q["reason"] and "GB 16297-1996" in q["limit_source"]
    assert ev.exceedances["check"].tolist() == ["rate"]


def test_rate_limit_halved_for_low_stack_near_buildings(catalogue):
    # 12 m, not above buildings: 2.6·(12/15)²·0.5·0.5 = 0.416 kg/h; 200 mg/m³ × 0.6 m³/s = 0.432 kg/h
    reg = make_registry(stack(height_m=12, above_buildings=False))
    r = pd.concat([minutes("S1", "stack", "a21026", H, [200.0] * 60),
                   minutes("S1", "stack", "a00000", H, [0.6] * 60, unit="m3/s")])
    q = one(run(r, reg, catalogue), "rate")
    assert q["limit"] == pytest.approx(2.6 * (12 / 15) ** 2 / 4)
    assert q["value"] == pytest.approx(0.432) and q["verdict"] == "exceeds"


def test_hourly_mean_not_single_minutes(catalogue):
    # 30 minutes at 1000 and 30 at 50: mean 525 ≤ 550 → compliant although half the minutes are above
    r = minutes("S1", "stack", "a21026", H, [1000.0] * 30 + [50.0] * 30)
    c = one(run(r, make_registry(stack()), catalogue), "concentration")
    assert c["value"] == pytest.approx(525) and c["verdict"] == "compliant"


def test_flagged_data_is_never_an_exceedance(catalogue):
    flags = ["M"] * 20 + ["C"] * 10 + ["D"] * 5 + ["F"] * 5 + ["B"] * 5 + ["N"] * 10
    r = minutes("S1", "stack", "a21026", H, [5000.0] * 45 + [100.0] * 10, flags=flags)   # 5 minutes silent
    ev = run(r, make_registry(stack()), catalogue)
    c = one(ev, "concentration")
    # only the 10 N values count: mean 100, but 10/60 < 75 % capture → invalid, not exceeds
    assert c["verdict"] == "invalid" and c["valid_count"] == 10 and c["expected_count"] == 60
    assert "M 20" in c["reason"] and "C 10" in c["reason"]
    assert ev.exceedances.empty
    cap = ev.capture[(ev.capture["window"] == "1h") & (ev.capture["parameter"] == "a21026")].iloc[0]
    assert (cap["gap_M"], cap["gap_C"], cap["gap_D"], cap["gap_F"], cap["gap_B"], cap["valid"]) == (20, 10, 5, 5, 5, 10)
    assert cap["capture_pct"] == pytest.approx(100 * 10 / 60) and cap["silence"] == 5


def test_all_flagged_and_silence_are_no_data(catalogue):
    r = minutes("S1", "stack", "a21026", H, [9999.0] * 40, flags="M")   # 40 M, 20 silent
    ev = run(r, make_registry(stack()), catalogue)
    c = one(ev, "concentration")
    assert c["verdict"] == "no_data" and "M 40" in c["reason"] and "silent 20" in c["reason"]
    cap = ev.capture[(ev.capture["window"] == "1h") & (ev.capture["parameter"] == "a21026")].iloc[0]
    assert cap["silence"] == 20 and cap["capture_pct"] == 0


def test_capture_threshold_edge(catalogue):
    # 45 valid of 60 (= 75 %) is a valid hour; 44 is not
    ok = minutes("S1", "stack", "a21026", H, [600.0] * 45)
    short = minutes("S1", "stack", "a21026", H, [600.0] * 44)
    assert one(run(ok, make_registry(stack()), catalogue), "concentration")["verdict"] == "exceeds"
    assert one(run(short, make_registry(stack()), catalogue), "concentration")["verdict"] == "invalid"


def test_fugitive_boundary_and_insite_nmhc(catalogue):
    reg = make_registry(online("U1", "fugitive", ["a24088"]), online("V1", "insite_vocs", ["a24088"]))
    r = pd.concat([
        minutes("U1", "fugitive", "a24088", H, [4.2] * 60),                 # boundary 4.0 → exceeds
        minutes("V1", "insite_vocs", "a24088", H, [8.0] * 59 + [31.0]),      # mean 8.38 ≤ 10, one 31 > 30
    ])
    ev = run(r, reg, catalogue)
    b = ev.assessments.set_index(["point", "check"])
    assert b.loc[("U1", "boundary"), "verdict"] == "exceeds" and b.loc[("U1", "boundary"), "limit"] == 4.0
    assert b.loc[("V1", "concentration"), "verdict"] == "compliant"
    assert b.loc[("V1", "concentration"), "limit"] == 10 and b.loc[("V1", "concentration"), "standard"] == "GB 37822-2019"
    assert b.loc[("V1", "single_reading"), "value"] == 31 and b.loc[("V1", "single_reading"), "verdict"] == "exceeds"
    assert b.loc[("V1", "single_reading"), "averaging"] == "single"


def test_hourly_values_used_when_no_minute_data_and_minutes_preferred(catalogue):
    hourly = minutes("S1", "stack", "a21026", H, [600.0], period="1h", step="1h")
    c = one(run(hourly, make_registry(stack()), catalogue), "concentration")
    assert c["verdict"] == "exceeds" and c["expected_count"] == 1
    both = pd.concat([hourly, minutes("S1", "stack", "a21026", H, [100.0] * 60)])
    c = one(run(both, make_registry(stack()), catalogue), "concentration")
    assert c["value"] == 100 and c["expected_count"] == 60


def test_converted_statistics_are_not_judged(catalogue):
    r = minutes("S1", "stack", "a21026", H, [900.0] * 60, statistic="zsavg")
    assert one(run(r, make_registry(stack()), catalogue), "concentration")["verdict"] == "no_data"


def test_chunked_aggregation_equals_whole(catalogue):
    reg = make_registry(stack())
    r = pd.concat([minutes("S1", "stack", "a21026", H, [500.0 + i for i in range(60)]),
                   minutes("S1", "stack", "a00000", H, [6.0] * 60, unit="m3/s")]).reset_index(drop=True)
    whole = run(r, reg, catalogue).assessments
    mid = pd.Timestamp("2024-05-01 02:25", tz="UTC")        # a chunk edge inside the hour
    agg = combine_aggregates([hourly_aggregates(r[r["time"] < mid]), hourly_aggregates(r[r["time"] >= mid])])
    chunked = evaluate_aggregates(agg, reg, catalogue, start=H, end="2024-05-01 11:00").assessments
    pd.testing.assert_frame_equal(whole, chunked)


def test_flag_t_above_range_counts_and_can_exceed(catalogue):
    """hj212.md data flags: T (above the measuring range) is valid evidence at its reported value — the
    highest readings are judged. 45 N minutes at 500 and 15 T minutes at 800 (the range ceiling): mean 575 >
    550 mg/m³ (GB 16297-1996 表2 二级 SO₂, 1-h mean, §8.2); as gaps it was 45/60 at 500, compliant."""
    r = minutes("S1", "stack", "a21026", H, [500.0] * 45 + [800.0] * 15, flags=["N"] * 45 + ["T"] * 15)
    ev = run(r, make_registry(stack()), catalogue)
    c = one(ev, "concentration")
    assert c["verdict"] == "exceeds" and c["value"] == pytest.approx(575) and c["valid_count"] == 60
    assert "15 value(s) above the analyser's range (flag T)" in c["reason"]


def _two_stacks(distance: float):
    return make_registry(
        online("S1", "stack", ["a21026", "a00000"], height_m=20, above_buildings=True, position_m=[0, 0]),
        online("S2", "stack", ["a21026", "a00000"], height_m=30, above_buildings=True,
               position_m=[distance, 0]))


def _rates(so2_1: float, so2_2: float):
    return pd.concat([minutes("S1", "stack", "a21026", H, [so2_1] * 60),
                      minutes("S1", "stack", "a00000", H, [1.0] * 60, unit="m3/s"),
                      minutes("S2", "stack", "a21026", H, [so2_2] * 60),
                      minutes("S2", "stack", "a00000", H, [1.0] * 60, unit="m3/s")])


def test_equivalent_stack_near_stacks_judged_as_one(catalogue):
    """GB 16297-1996 §7.2, 附录A: two stacks of SO₂ 20 m and 30 m high, 40 m apart (< 20 + 30), count as one:
    Q = Q1 + Q2 against the rate at h = √((20² + 30²)/2) = 25.5 m (interpolated 4.3 → 15 kg/h: 10.19).
    Each alone complies (3.6 < 4.3 at 20 m; 7.2 < 15 at 30 m); together 10.8 > 10.19 exceeds."""
    ev = run(_rates(1000.0, 2000.0), _two_stacks(40.0), catalogue)
    rate = ev.assessments[ev.assessments["check"] == "rate"]
    assert rate["point"].tolist() == ["S1"]                      # one row: the equivalent stack
    q = rate.iloc[0]
    h_eq = (0.5 * (20**2 + 30**2)) ** 0.5
    assert q["value"] == pytest.approx(3.6 + 7.2) and q["limit"] == pytest.approx(4.3 + (15 - 4.3) * (h_eq - 20) / 10)
    assert q["verdict"] == "exceeds" and "equivalent stack" in q["reason"] and "S2" in q["reason"]
    assert "§7.2 附录A" in q["clause"]


def test_stacks_farther_than_the_sum_of_heights_are_judged_apart(catalogue):
    """GB 16297-1996 §7.2: at 50 m (not less than 20 + 30) the two stacks stay separate and both comply."""
    ev = run(_rates(1000.0, 2000.0), _two_stacks(50.0), catalogue)
    rate = ev.assessments[ev.assessments["check"] == "rate"].set_index("point")
    assert rate.loc["S1", "limit"] == pytest.approx(4.3) and rate.loc["S2", "limit"] == pytest.approx(15)
    assert set(rate["verdict"]) == {"compliant"}


def test_cli_limits_rate_equivalent_stack():
    """``envmon limits rate`` with two heights and their distance gives the equivalent stack's rate limit
    (GB 16297-1996 附录A: h = √((h1² + h2²)/2)); at a distance ≥ the sum of heights it is not combined."""
    import json

    from typer.testing import CliRunner

    from monitoring.cli import app
    res = CliRunner().invoke(app, ["limits", "rate", "--pollutant", "SO2", "--height", "20", "--height", "30",
                                   "--distance", "40"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    h_eq = (0.5 * (20**2 + 30**2)) ** 0.5
    assert out["combined"] and out["equivalent_height_m"] == pytest.approx(h_eq, abs=1e-3)
    assert out["rate_kg_h"] == pytest.approx(4.3 + (15 - 4.3) * (h_eq - 20) / 10)
    out = json.loads(CliRunner().invoke(app, ["limits", "rate", "--pollutant", "SO2", "--height", "20",
                                              "--height", "30", "--distance", "50"]).output)
    assert not out["combined"] and out["rate_kg_h"] == pytest.approx(4.3)
