"""GB 12348-2008: energy means, background correction bands and edges, Lmax allowances, local day/night."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from monitoring.compliance import assess_noise, energy_mean, evaluate_readings

from .helpers import make_registry, minutes, online


def test_energy_mean_is_not_the_arithmetic_mean():
    assert energy_mean([50, 60]) == pytest.approx(10 * np.log10((1e5 + 1e6) / 2))   # 57.40
    assert energy_mean([60] * 10) == pytest.approx(60)


# measured 60 dB(A); D = 60 − background, compared raw first (GB 12348-2008 §5.9, 表7)
@pytest.mark.parametrize("background, corrected, verdict", [
    (45.0, 60.0, "compliant"),    # D 15 > 10: none
    (49.0, 60.0, "compliant"),    # D 11 > 10: none
    (49.6, 60.0, "compliant"),    # D 10.4 > 10: none (rounding first would give 10 → −1)
    (49.95, 60.0, "compliant"),   # D 10.05 > 10: none
    (50.0, 59.0, "compliant"),    # D 10: −1
    (54.0, 59.0, "compliant"),    # D 6: −1
    (54.4, 59.0, "compliant"),    # D 5.6 → 6: −1
    (54.6, 58.0, "compliant"),    # D 5.4 → 5: −2
    (56.0, 58.0, "compliant"),    # D 4: −2
    (56.6, 57.0, "compliant"),    # D 3.4 → 3: −3
    (57.0, 57.0, "compliant"),    # D 3: −3
    (57.5, None, "invalid"),      # D 2.5 < 3: no valid result (rounding first would give 3 → −3)
    (57.6, None, "invalid"),      # D 2.4
    (60.0, None, "invalid"),      # D 0
])
def test_background_correction_compares_the_raw_difference_first(catalogue, background, corrected, verdict):
    """GB 12348-2008 §5.9 表7: D = measured − background, unrounded: D > 10 → no correction; D < 3 → no
    valid result (measure again); 3 ≤ D ≤ 10 → round D, then 3 → −3, 4–5 → −2, 6–10 → −1."""
    r = assess_noise(catalogue, 2, "day", 60.0, background=background)
    assert r.corrected_leq == corrected and r.verdict == verdict
    if verdict == "invalid":
        assert "measure again" in r.reason


def test_background_examples_of_the_clause(catalogue):
    """GB 12348-2008 §5.9 表7, the audit's cases: 60.4 over a background of 50 (D 10.4 > 10) is not
    corrected and exceeds the class-2 day limit 60 (rounding first gave "compliant 59.4"); 52.7 over 50
    (D 2.7 < 3) is no valid result (rounding first gave D 3, −3, "compliant")."""
    r = assess_noise(catalogue, 2, "day", 60.4, background=50.0)
    assert (r.corrected_leq, r.correction, r.verdict) == (60.4, 0.0, "exceeds")
    assert "no background correction" in r.reason
    r = assess_noise(catalogue, 2, "day", 52.7, background=50.0)
    assert r.verdict == "invalid" and r.corrected_leq is None and r.difference == 2.7


def test_correction_decides_the_verdict(catalogue):
    """GB 12348-2008 表1 class 2 day 60 and 表7: 61 uncorrected exceeds; with a background of 55 (D 6 → −1)
    the corrected 60 complies (not strictly above the limit)."""
    assert assess_noise(catalogue, 2, "day", 61.0).verdict == "exceeds"
    r = assess_noise(catalogue, 2, "day", 61.0, background=55.0)
    assert (r.corrected_leq, r.verdict, r.limit) == (60.0, "compliant", 60)


def test_indoor_measurement_limit_is_ten_below_table_1(catalogue):
    """GB 12348-2008 4.1.5: a boundary closer than 1 m to a noise-sensitive building is measured indoors and
    judged against 表1 − 10 dB(A): class 2 night 50 → 40, so 45 dB(A) indoors exceeds."""
    r = assess_noise(catalogue, 2, "night", 45.0, indoor=True)
    assert (r.limit, r.verdict) == (40, "exceeds") and "4.1.5" in r.reason
    assert assess_noise(catalogue, 2, "night", 45.0).verdict == "compliant"


@pytest.mark.parametrize("kind, lmax, verdict", [
    ("frequent", 60.0, "compliant"), ("frequent", 60.1, "exceeds"),
    ("sporadic", 65.0, "compliant"), ("sporadic", 65.1, "exceeds"),
])
def test_night_lmax_allowance(catalogue, kind, lmax, verdict):
    r = assess_noise(catalogue, 2, "night", 48.0, lmax=lmax, kind=kind)   # class 2 night limit 50
    assert r.lmax_limit == 50 + (10 if kind == "frequent" else 15)
    assert r.lmax_verdict == verdict and r.verdict == verdict


@pytest.mark.parametrize("cls, period, limit", [(0, "day", 50), (0, "night", 40), (1, "night", 45),
                                                (3, "day", 65), (4, "day", 70), (4, "night", 55)])
def test_class_limits(catalogue, cls, period, limit):
    assert assess_noise(catalogue, cls, period, limit).verdict == "compliant"
    assert assess_noise(catalogue, cls, period, limit + 0.1).verdict == "exceeds"


def test_cli_noise_assess():
    from monitoring.cli import app
    res = CliRunner().invoke(app, ["noise", "assess", "--class", "2", "--period", "night", "--leq", "52",
                                   "--background", "46", "--lmax", "66", "--kind", "sporadic"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["limit"] == 50 and out["corrected_leq"] == 51 and out["verdict"] == "exceeds"
    assert out["lmax_verdict"] == "exceeds" and "Lmax" in out["reason"]
    res = CliRunner().invoke(app, ["noise", "assess", "--class", "2", "--period", "day", "--leq", "60",
                                   "--background", "59"])
    assert json.loads(res.output)["verdict"] == "invalid"


# --- evaluation over readings ------------------------------------------------------------------------------
def _noise_registry(**kw):
    return make_registry(online("N1", "noise", ["Leq", "LMx"], zone_class=2, **kw))


def _by_hour(ev, check):
    a = ev.assessments[ev.assessments["check"] == check].copy()
    a["local_hour"] = a["window_start"].dt.tz_convert("Asia/Shanghai").dt.hour
    return a.set_index("local_hour")


def test_one_loud_hour_is_not_diluted_by_a_quiet_day(catalogue):
    """GB 12348-2008 §5.5: the Leq of a representative period of the source is judged — every clock hour,
    not the 16-h day. 1 h at 65 + 15 h at 55 dB(A): day Leq 56.9 (< 60) but the loud hour exceeds the
    class-2 day limit 60 (表1); the day Leq is reported beside each hourly verdict."""
    reg = _noise_registry()
    values = [55.0] * 60 * 4 + [65.0] * 60 + [55.0] * 60 * 11          # 06:00–22:00, loud 10:00–11:00
    day = minutes("N1", "noise", "Leq", "2024-05-01 06:00", values, unit="dB(A)", statistic="data")
    ev = evaluate_readings(day, reg, catalogue, start="2024-05-01 06:00", end="2024-05-01 22:00")
    a = _by_hour(ev, "leq_day")
    assert len(a) == 16 and set(a["averaging"]) == {"1h"}
    ld = 10 * np.log10((10**6.5 + 15 * 10**5.5) / 16)
    assert ld == pytest.approx(56.9, abs=0.05)
    assert a["period_value"].to_numpy() == pytest.approx(np.full(16, ld))
    assert a.loc[10, "verdict"] == "exceeds" and a.loc[10, "value"] == pytest.approx(65)
    assert (a.drop(index=10)["verdict"] == "compliant").all()
    assert ev.exceedances["window_start"].tolist() == [pd.Timestamp("2024-05-01 02:00", tz="UTC")]
    assert "Ld 56.9" in a.loc[10, "reason"] and a.loc[10, "expected_count"] == 60


def test_night_hours_lmax_and_local_time(catalogue):
    """GB 12348-2008 表1 class 2 night 50 dB(A), 4.1.2 night Lmax ≤ limit + 10 (frequent noise); night is
    22:00–06:00 local (the frame's windows are UTC: 22:00 local = 14:00 UTC)."""
    reg = _noise_registry()
    night = minutes("N1", "noise", "Leq", "2024-05-01 22:00", [49.0] * 420 + [52.0] * 60, unit="dB(A)",
                    statistic="data")
    lmax = minutes("N1", "noise", "LMx", "2024-05-01 22:00", [59.0] * 120 + [61.0] + [58.0] * 359,
                   unit="dB(A)", statistic="data")
    ev = evaluate_readings(pd.concat([night, lmax]), reg, catalogue,
                           start="2024-05-01 22:00", end="2024-05-02 06:00")
    leq, lm = _by_hour(ev, "leq_night"), _by_hour(ev, "lmax_night")
    assert len(leq) == 8 and len(lm) == 8 and ev.assessments["check"].isin(["leq_night", "lmax_night"]).all()
    assert leq.loc[5, "verdict"] == "exceeds" and (leq.drop(index=5)["verdict"] == "compliant").all()
    assert leq.loc[22, "window_start"] == pd.Timestamp("2024-05-01 14:00", tz="UTC")
    assert leq.loc[22, "period_value"] == pytest.approx(10 * np.log10((7 * 10**4.9 + 10**5.2) / 8))
    assert lm.loc[0, "verdict"] == "exceeds" and lm.loc[0, "value"] == 61 and lm.loc[0, "limit"] == 60
    assert (lm.drop(index=0)["verdict"] == "compliant").all() and (lm["period_value"] == 61).all()


def test_background_readings_correct_or_invalidate(catalogue):
    """GB 12348-2008 §5.9 表7 on hourly windows: a day background of 56 under 62 (D 6 → −1) gives 61, above
    the day limit 60; a night background of 53 under 55 (D 2 < 3) leaves no valid result, never a verdict."""
    reg = _noise_registry()
    day = minutes("N1", "noise", "Leq", "2024-05-01 06:00", [62.0] * 960, unit="dB(A)", statistic="data")
    bg_ok = minutes("N1", "noise", "Leq", "2024-05-01 10:00", [56.0] * 10, unit="dB(A)", statistic="bg")
    night = minutes("N1", "noise", "Leq", "2024-05-01 22:00", [55.0] * 480, unit="dB(A)", statistic="data")
    bg_bad = minutes("N1", "noise", "Leq", "2024-05-02 02:00", [53.0] * 10, unit="dB(A)", statistic="bg")
    ev = evaluate_readings(pd.concat([day, bg_ok, night, bg_bad]), reg, catalogue,
                           start="2024-05-01 06:00", end="2024-05-02 06:00")
    d, n = _by_hour(ev, "leq_day"), _by_hour(ev, "leq_night")
    assert d["value"].to_numpy() == pytest.approx(np.full(16, 61.0)) and (d["verdict"] == "exceeds").all()
    assert "correction -1.0" in d.loc[6, "reason"] and d.loc[6, "period_value"] == pytest.approx(61)
    assert (n["verdict"] == "invalid").all() and "measure again" in n.loc[23, "reason"]
    assert set(ev.exceedances["check"]) == {"leq_day"}


def test_registry_hours_sporadic_type_and_capture(catalogue):
    """Registry day/night hours (GB 12348-2008 §3: set by the county) and 4.1.3 sporadic Lmax ≤ night limit
    + 15; an online hour with < 75 % of its minute values is invalid, not judged."""
    reg = _noise_registry(day_start="07:00", night_start="23:00", noise_type="sporadic")
    lvl = minutes("N1", "noise", "Leq", "2024-05-01 22:00", [62.0] * 60, unit="dB(A)", statistic="data")
    lmax = minutes("N1", "noise", "LMx", "2024-05-01 23:00", [64.0] * 60, unit="dB(A)", statistic="data")
    short = minutes("N1", "noise", "Leq", "2024-05-02 00:00", [70.0] * 40, unit="dB(A)", statistic="data")
    ev = evaluate_readings(pd.concat([lvl, lmax, short]), reg, catalogue, start="2024-05-01 22:00",
                           end="2024-05-02 01:00")
    d, n, lm = _by_hour(ev, "leq_day"), _by_hour(ev, "leq_night"), _by_hour(ev, "lmax_night")
    assert d.loc[22, "verdict"] == "exceeds" and d.loc[22, "limit"] == 60   # 22–23 is day for this point
    assert n.loc[23, "verdict"] == "no_data"
    assert n.loc[0, "verdict"] == "invalid" and "40/60" in n.loc[0, "reason"]
    assert lm.loc[23, "limit"] == 65 and lm.loc[23, "verdict"] == "compliant"


def test_indoor_point_judged_against_table_1_minus_10(catalogue):
    """GB 12348-2008 4.1.5: registry ``indoor: true`` → class 2 day limit 60 − 10 = 50, night 40, night
    Lmax 40 + 10 (frequent)."""
    reg = _noise_registry(indoor=True)
    day = minutes("N1", "noise", "Leq", "2024-05-01 06:00", [52.0] * 60, unit="dB(A)", statistic="data")
    ev = evaluate_readings(day, reg, catalogue, start="2024-05-01 06:00", end="2024-05-01 07:00")
    a = _by_hour(ev, "leq_day")
    assert (a.loc[6, "limit"], a.loc[6, "verdict"]) == (50, "exceeds") and "4.1.5" in a.loc[6, "clause"]
    lims = catalogue.point_limits(reg).set_index("check")["limit"]
    assert (lims["leq_night"], lims["lmax_night"]) == (40, 50)


def test_cli_noise_assess_raw_difference_first():
    """``envmon noise assess`` applies GB 12348-2008 §5.9 表7 with the raw difference first: 60.4 over 50
    exceeds 60 uncorrected; 52.7 over 50 is invalid; --indoor applies 4.1.5 (表1 − 10)."""
    from monitoring.cli import app
    run = CliRunner()
    out = json.loads(run.invoke(app, ["noise", "assess", "--class", "2", "--period", "day", "--leq", "60.4",
                                      "--background", "50"]).output)
    assert (out["corrected_leq"], out["verdict"]) == (60.4, "exceeds")
    out = json.loads(run.invoke(app, ["noise", "assess", "--class", "2", "--period", "day", "--leq", "52.7",
                                      "--background", "50"]).output)
    assert out["verdict"] == "invalid"
    out = json.loads(run.invoke(app, ["noise", "assess", "--class", "2", "--period", "day", "--leq", "52",
                                      "--indoor"]).output)
    assert (out["limit"], out["verdict"]) == (50, "exceeds")
