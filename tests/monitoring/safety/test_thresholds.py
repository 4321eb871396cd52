"""Safety thresholds as data: GB/T 50493-2019 settings, the confined-space O₂ range, plant overrides.

Clauses (as quoted in the reference, status kept ``unconfirmed``):
GB/T 50493-2019 — combustible gas first-level ≤ 25 %LEL, second-level ≤ 50 %LEL; toxic gas first-level
≤ 100 % OEL, second-level ≤ 200 % OEL (H₂S MAC 10 mg/m³; CO, NH₃ PC-STEL 30 mg/m³, GBZ 2.1).
Confined spaces: O₂ 19.5–23.5 % vol before and during entry. GB 15577-2018: dust-collector thresholds
from each plant's safety plan.
"""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.safety.thresholds import SafetyPlanError, Thresholds, levels, load_safety_plans


def _row(t: Thresholds, point: str, parameter: str, level: int) -> dict:
    row = t.describe(point, parameter, level)
    assert row is not None, (point, parameter, level)
    return row


def test_combustible_gas_settings_are_the_gbt50493_maxima_and_stay_unconfirmed(thresholds):
    r1, r2 = _row(thresholds, "NX-001-AQ01", "x01001", 1), _row(thresholds, "NX-001-AQ01", "x01001", 2)
    assert (r1["value"], r2["value"], r1["unit"]) == (25.0, 50.0, "%LEL")
    assert r1["standard"] == "GB/T 50493-2019" and r1["status"] == r2["status"] == "unconfirmed"
    lv = thresholds.evaluate(np.array(["NX-001-AQ01"] * 5, dtype=object), np.array(["x01001"] * 5, dtype=object),
                             np.array([24.9, 25.0, 49.9, 50.0, 80.0]))
    assert lv.tolist() == [0, 1, 1, 2, 2]          # a setting is reached at equality


def test_toxic_gas_settings_are_100_and_200_percent_of_the_occupational_limit(thresholds):
    # H2S: MAC 10 mg/m³ → 10 / 20; CO: PC-STEL 30 mg/m³ → 30 / 60 (GB/T 50493-2019 with GBZ 2.1)
    assert (_row(thresholds, "JK-WWTP-AQ01", "x01002", 1)["value"],
            _row(thresholds, "JK-WWTP-AQ01", "x01002", 2)["value"]) == (10.0, 20.0)
    assert (_row(thresholds, "JK-WWTP-AQ01", "a21005", 1)["value"],
            _row(thresholds, "JK-WWTP-AQ01", "a21005", 2)["value"]) == (30.0, 60.0)
    assert (_row(thresholds, "PA-003-AQ01", "x01003", 1)["value"],
            _row(thresholds, "PA-003-AQ01", "x01003", 2)["value"]) == (30.0, 60.0)


def test_oxygen_outside_19_5_to_23_5_percent_is_a_second_level_alarm(thresholds):
    r = _row(thresholds, "GY-WWTP-AQ02", "a19001", 2)
    assert (r["low"], r["value"]) == (19.5, 23.5)
    assert thresholds.describe("GY-WWTP-AQ02", "a19001", 1) is None   # no quoted first level for O2
    lv = thresholds.evaluate(np.array(["GY-WWTP-AQ02"] * 5, dtype=object), np.array(["a19001"] * 5, dtype=object),
                             np.array([19.4, 19.5, 20.9, 23.5, 23.6]))
    assert lv.tolist() == [2, 0, 0, 0, 2]           # the bounds themselves are inside the range


def test_plant_safety_plan_replaces_the_shipped_value_with_its_provenance(thresholds):
    # JK-001's plan alarms earlier (20 %LEL) — allowed, GB/T 50493 gives a maximum
    r = _row(thresholds, "JK-001-AQ01", "x01001", 1)
    assert r["value"] == 20.0 and r["status"] == "override" and "唐三哥酒业" in r["standard"]
    assert _row(thresholds, "JK-001-AQ01", "x01001", 2)["value"] == 50.0      # level 2 not in the plan
    # JK-002's dust plan replaces the GB 15577 placeholders; JK-005 keeps them, marked unconfirmed
    assert _row(thresholds, "JK-002-AQ11", "x02001", 1)["value"] == 1200.0
    placeholder = _row(thresholds, "JK-005-AQ11", "x02001", 1)
    assert placeholder["value"] == 1500.0 and placeholder["status"] == "unconfirmed"
    assert "placeholder" in placeholder["source"]


def test_every_safety_sensor_has_a_threshold_for_each_parameter(registry, thresholds):
    for p in registry.points_of(kind="safety"):
        for q in p.parameters:
            assert thresholds.watched(p.id, q), (p.id, q)


def test_levels_vectorised_nan_threshold_means_no_level():
    lv = levels(np.array([5.0, 15.0, np.nan]), np.array([10.0, np.nan, 10.0]), np.full(3, np.nan),
                np.array([np.nan, 12.0, 20.0]), np.full(3, np.nan))
    assert lv.tolist() == [0, 2, 0]


def test_safety_plan_errors_name_file_and_entry(tmp_path):
    bad = tmp_path / "plans.yaml"
    bad.write_text("plans:\n  - document: X\n    target: {enterprise: JK-001}\n    thresholds:\n"
                   "      - {parameter: x01001, level: 3, value: 10, unit: '%LEL'}\n", encoding="utf-8")
    with pytest.raises(SafetyPlanError, match=r"plans.yaml: plans\[0\].thresholds\[0\]: level must be 1 or 2"):
        load_safety_plans(bad)
    bad.write_text("plans:\n  - document: X\n    target: {zone: jiangkou}\n", encoding="utf-8")
    with pytest.raises(SafetyPlanError, match="target must name exactly one of enterprise, point"):
        load_safety_plans(bad)
