"""Soil points of the key units: GB 36600-2018 second-class land, screening and control values.

Each lab sample (mg/kg, ``sensors.lab``; non-detects as ``<DL``) is judged twice (averaging ``single``):

* ``screening`` (筛选值): above it the site needs a detailed investigation and risk assessment — in
  envmon a **follow-up task** (:mod:`monitoring.followup`), not an incident;
* ``control`` (管制值): above it risk control or remediation is required — an **incident** (it opens at
  once, like every single-sample exceedance).

Values: ``limits/data/gb36600-2018.yaml`` (status ``unconfirmed``). Non-detects follow the groundwater
rule: compliant when the detection limit ≤ the value, else ``invalid``.
"""

from __future__ import annotations

import pandas as pd

from monitoring.compliance.frames import measured, to_assessments
from monitoring.compliance.groundwater import _judge_samples

SOIL_KIND = "soil"


def evaluate_soil(hourly: pd.DataFrame, point_limits: pd.DataFrame, points: pd.DataFrame,
                  start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Assessments per soil point, parameter, sample and check (screening, control) in [start, end)."""
    lims = point_limits[(point_limits["kind"] == SOIL_KIND) & point_limits["check"].isin(["screening", "control"])]
    lims = measured(lims, points)
    if lims.empty:
        return to_assessments(pd.DataFrame())
    g = _judge_samples(hourly, lims, points, start, end)
    if g.empty:
        return to_assessments(pd.DataFrame())
    over = g["verdict"] == "exceeds"
    g["reason"] = g["reason"].mask(over & (g["check"] == "screening"),
                                   "above the screening value: detailed investigation and risk assessment")
    g["reason"] = g["reason"].mask(over & (g["check"] == "control"),
                                   "above the control value: risk control or remediation")
    return to_assessments(g)
