"""GB/T 14848-2017 Class III per sample with the trend warning; GB 36600-2018 screening and control.

Clauses (limits files status ``unconfirmed``): GB/T 14848-2017 表1 III类 — NH₃-N 0.50 mg/L, Hg 0.001 mg/L,
pH 6.5–8.5. GB 36600-2018 表1 第二类用地 — Cr(VI) screening 5.7 / control 78 mg/kg, As 60 / 140 mg/kg.
Trend rules (project, provisional): last 4 samples, warn at 70 % of the limit or a projection reaching it.
"""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.compliance import evaluate_readings
from monitoring.compliance.frames import points_table
from monitoring.compliance.groundwater import trend_warnings
from tests.monitoring.compliance.helpers import ENT, make_registry, minutes

WELL = {"id": "JK-GW01", "kind": "groundwater", "zone": "jiangkou", "name": "井", "online": False,
        "interval_s": 2592000, "parameters": ["w21003", "hg", "w01001"]}
SOIL = {"id": "JK-001-TR01", "kind": "soil", "zone": "jiangkou", "enterprise": "JK-001", "name": "土",
        "online": False, "interval_s": 31536000, "parameters": ["soil_cr6", "soil_as"]}
REG = make_registry(WELL, SOIL, enterprises=(ENT,))


def sample(point, kind, parameter, when, value, unit="mg/L", qualifier=None):
    return minutes(point, kind, parameter, when, [value], period="sample", statistic="sample", unit=unit,
                   qualifier=qualifier)


def test_groundwater_sample_against_class_iii_with_non_detects_and_ph(catalogue):
    r = pd.concat([
        sample("JK-GW01", "groundwater", "w21003", "2026-10-10 09:00", 0.60),
        sample("JK-GW01", "groundwater", "w21003", "2026-11-10 09:00", 0.50),
        sample("JK-GW01", "groundwater", "hg", "2026-10-10 09:00", 0.0001, qualifier="<"),   # DL ≤ limit
        sample("JK-GW01", "groundwater", "hg", "2026-11-10 09:00", 0.01, qualifier="<"),     # DL > 0.001
        sample("JK-GW01", "groundwater", "w01001", "2026-10-10 09:00", 8.6, unit="pH"),
        sample("JK-GW01", "groundwater", "w01001", "2026-11-10 09:00", 6.5, unit="pH"),
    ])
    ev = evaluate_readings(r, REG, catalogue, start="2026-10-01", end="2026-12-01")
    a = ev.assessments.sort_values(["parameter", "window_start"]).reset_index(drop=True)
    got = {(p, str(t.tz_convert("Asia/Shanghai").date())): v for p, t, v in
           zip(a["parameter"], a["window_start"], a["verdict"])}
    assert got == {("w21003", "2026-10-10"): "exceeds", ("w21003", "2026-11-10"): "compliant",
                   ("hg", "2026-10-10"): "compliant", ("hg", "2026-11-10"): "invalid",
                   ("w01001", "2026-10-10"): "exceeds", ("w01001", "2026-11-10"): "compliant"}
    nh3 = a[a["parameter"] == "w21003"].iloc[0]
    assert (nh3["standard"], nh3["check"], nh3["averaging"], nh3["limit_status"]) == (
        "GB/T 14848-2017", "class_iii", "single", "unconfirmed")
    assert "detection limit" in a[(a["parameter"] == "hg") & (a["verdict"] == "invalid")]["reason"].iloc[0]


def _well_samples(values):
    return pd.concat([sample("JK-GW01", "groundwater", "w21003", f"2026-{m:02d}-10 09:00", v)
                      for m, v in zip(range(5, 5 + len(values)), values)])


@pytest.mark.parametrize(("values", "verdict"), [
    ([0.20, 0.28, 0.36, 0.42], "exceeds"),        # rising: 84 % of the limit, next sample projected above
    ([0.10, 0.12, 0.14, 0.16], "compliant"),      # rising but far from the limit
    ([0.45, 0.40, 0.38, 0.36], "compliant"),      # falling
    ([0.30, 0.40, 0.50, 0.70], "compliant"),      # already above: an exceedance, not a warning
])
def test_groundwater_trend_warns_before_the_class_is_crossed(catalogue, values, verdict):
    limits = catalogue.point_limits(REG)
    t = trend_warnings(_well_samples(values), limits, points_table(REG))
    assert t["verdict"].tolist() == [verdict] and t["check"].tolist() == ["trend_warning"]
    if verdict == "exceeds":
        # latest 0.42 ≥ 70 % of 0.50; the line projects ≈ 0.49 at the next monthly sampling
        assert 0.42 < t["value"].iloc[0] < 0.5 and "rising" in t["reason"].iloc[0] and t["limit"].iloc[0] == 0.5


def test_trend_needs_three_samples(catalogue):
    t = trend_warnings(_well_samples([0.3, 0.45]), catalogue.point_limits(REG), points_table(REG))
    assert t.empty


def test_soil_screening_and_control_per_sample_in_mg_per_kg(catalogue):
    r = pd.concat([
        sample("JK-001-TR01", "soil", "soil_cr6", "2026-06-15 10:00", 6.0, unit="mg/kg"),     # > 5.7, < 78
        sample("JK-001-TR01", "soil", "soil_as", "2026-06-15 10:00", 150.0, unit="mg/kg"),    # > 60 and > 140
        sample("JK-001-TR01", "soil", "soil_cr6", "2026-07-15 10:00", 0.5, unit="mg/kg", qualifier="<"),
    ])
    ev = evaluate_readings(r, REG, catalogue, start="2026-06-01", end="2026-08-01")
    a = ev.assessments
    v = {(p, c, str(t.tz_convert("Asia/Shanghai").month)): x for p, c, t, x in
         zip(a["parameter"], a["check"], a["window_start"], a["verdict"])}
    assert v == {("soil_cr6", "screening", "6"): "exceeds", ("soil_cr6", "control", "6"): "compliant",
                 ("soil_as", "screening", "6"): "exceeds", ("soil_as", "control", "6"): "exceeds",
                 ("soil_cr6", "screening", "7"): "compliant", ("soil_cr6", "control", "7"): "compliant"}
    assert set(a["standard"]) == {"GB 36600-2018"} and set(a["unit"]) == {"mg/kg"}
    assert "risk assessment" in a[(a["check"] == "screening") & (a["verdict"] == "exceeds")]["reason"].iloc[0]
