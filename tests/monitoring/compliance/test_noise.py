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


# measured 60 dB(A): difference = 60 − background, rounded half-up
@pytest.mark.parametrize("background, corrected, verdict", [
    (45.0, 60.0, "compliant"),    # diff 15 > 10: none
    (49.0, 60.0, "compliant"),    # diff 11: none
    (49.6, 59.0, "compliant"),    # diff 10.4 → 10: −1
    (50.0, 59.0, "compliant"),    # diff 10: −1
    (54.0, 59.0, "compliant"),    # diff 6: −1
    (54.6, 58.0, "compliant"),    # diff 5.4 → 5: −2
    (55.0, 58.0, "compliant"),    # diff 5: −2
    (56.0, 58.0, "compliant"),    # diff 4: −2
    (56.6, 57.0, "compliant"),    # diff 3.4 → 3: −3
    (57.0, 57.0, "compliant"),    # diff 3: −3
    (57.5, 57.0, "compliant"),    # diff 2.5 → 3 (half up): −3
    (57.6, None, "invalid"),      # diff 2.4 → 2 < 3: measure again
    (58.0, None, "invalid"),      # diff 2
    (60.0, None, "invalid"),      # diff 0
])
def test_background_correction_bands(catalogue, background, corrected, verdict):
    r = assess_noise(catalogue, 2, "day", 60.0, background=background)
    assert r.corrected_leq == corrected and r.verdict == verdict
    if verdict == "invalid":
        assert "measure again" in r.reason


def test_correction_decides_the_verdict(catalogue):
    # class 2 day limit 60: 61 uncorrected exceeds; with a background 55 (diff 6, −1) it complies
    assert assess_noise(catalogue, 2, "day", 61.0).verdict == "exceeds"
    r = assess_noise(catalogue, 2, "day", 61.0, background=55.0)
    assert (r.corrected_leq, r.verdict, r.limit) == (60.0, "compliant", 60)


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


def test_day_and_night_follow_local_time_and_energy_mean(catalogue):
    reg = _noise_registry()
    # local 2024-05-01 06:00 → 22:00: 480 min at 55 and 480 min at 62 → energy mean 59.79 < 60
    day = minutes("N1", "noise", "Leq", "2024-05-01 06:00", [55.0] * 480 + [62.0] * 480, unit="dB(A)",
                  statistic="data")
    # night 22:00 → 06:00 next day: 51 dB(A) all night (limit 50), Lmax 59 (frequent limit 60)
    night = minutes("N1", "noise", "Leq", "2024-05-01 22:00", [51.0] * 480, unit="dB(A)", statistic="data")
    lmax = minutes("N1", "noise", "LMx", "2024-05-01 22:00", [59.0] * 480, unit="dB(A)", statistic="data")
    ev = evaluate_readings(pd.concat([day, night, lmax]), reg, catalogue,
                           start="2024-05-01 00:00", end="2024-05-02 00:00")
    a = ev.assessments.set_index("check")
    assert a.loc["leq_day", "value"] == pytest.approx(10 * np.log10((10**5.5 + 10**6.2) / 2))
    assert a.loc["leq_day", "verdict"] == "compliant"
    assert a.loc["leq_night", "verdict"] == "exceeds" and a.loc["leq_night", "value"] == pytest.approx(51)
    assert a.loc["lmax_night", "verdict"] == "compliant" and a.loc["lmax_night", "limit"] == 60
    # windows are UTC in the frame: the local night 22:00–06:00 is 14:00–22:00 UTC
    assert a.loc["leq_night", "window_start"] == pd.Timestamp("2024-05-01 14:00", tz="UTC")
    assert a.loc["leq_night", "window_end"] == pd.Timestamp("2024-05-01 22:00", tz="UTC")
    assert a.loc["leq_day", "expected_count"] == 960 and a.loc["leq_day", "valid_count"] == 960
    assert "no background" in a.loc["leq_day", "reason"]


def test_background_readings_correct_or_invalidate(catalogue):
    reg = _noise_registry()
    day = minutes("N1", "noise", "Leq", "2024-05-01 06:00", [62.0] * 960, unit="dB(A)", statistic="data")
    bg_ok = minutes("N1", "noise", "Leq", "2024-05-01 10:00", [56.0] * 10, unit="dB(A)", statistic="bg")
    night = minutes("N1", "noise", "Leq", "2024-05-01 22:00", [55.0] * 480, unit="dB(A)", statistic="data")
    bg_bad = minutes("N1", "noise", "Leq", "2024-05-02 02:00", [53.0] * 10, unit="dB(A)", statistic="bg")
    ev = evaluate_readings(pd.concat([day, bg_ok, night, bg_bad]), reg, catalogue,
                           start="2024-05-01 00:00", end="2024-05-02 00:00")
    a = ev.assessments.set_index("check")
    assert a.loc["leq_day", "value"] == pytest.approx(61) and a.loc["leq_day", "verdict"] == "exceeds"
    assert "correction -1.0" in a.loc["leq_day", "reason"]
    # night: 55 − 53 = 2 dB(A) → no valid result, never compliant nor exceeding
    assert a.loc["leq_night", "verdict"] == "invalid" and "measure again" in a.loc["leq_night", "reason"]
    assert ev.exceedances["check"].tolist() == ["leq_day"]


def test_registry_hours_and_sporadic_type(catalogue):
    reg = _noise_registry(day_start="07:00", night_start="23:00", noise_type="sporadic")
    # 22:00–23:00 local is still day for this point: 62 there exceeds the day limit only if counted as day
    lvl = minutes("N1", "noise", "Leq", "2024-05-01 22:00", [58.0] * 60, unit="dB(A)", statistic="data")
    lmax = minutes("N1", "noise", "LMx", "2024-05-01 23:00", [64.0] * 60, unit="dB(A)", statistic="data")
    ev = evaluate_readings(pd.concat([lvl, lmax]), reg, catalogue, start="2024-05-01 00:00",
                           end="2024-05-02 00:00")
    a = ev.assessments.set_index("check")
    assert a.loc["leq_day", "value"] == pytest.approx(58) and a.loc["leq_day", "verdict"] == "compliant"
    assert a.loc["leq_night", "verdict"] == "no_data"
    assert a.loc["lmax_night", "limit"] == 65 and a.loc["lmax_night", "verdict"] == "compliant"
