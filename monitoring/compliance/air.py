"""Air checks on hourly means: stacks (concentration and rate), fugitive boundary points, in-site NMHC.

* Stack (DB 50/418-2016 其他区域 = GB 16297-1996 表2 二级, provisional): the hourly mean concentration
  against the maximum concentration, and the hourly emission rate against the height-based rate; both
  must hold (GB 16297-1996 §4). Rate kg/h = hourly mean concentration mg/m³ × hourly mean flow m³/s
  (a00000) × 3600 / 10⁶. GB 16297 values are for standard-state dry gas: the concentrations and the flow
  are assumed to be reported at standard state, dry (as CEMS report them under HJ 75-2017); converted
  ``zs*`` values are not used.
* Fugitive boundary point: the hourly mean against the 无组织排放监控浓度限值.
* In-site NMHC (GB 37822-2019 附录A): the hourly mean against 10 mg/m³ and every single valid reading
  against 30 mg/m³ (reported per hour as the hour's highest valid reading).

An hourly mean needs at least ``min_capture`` (75 % by default, after HJ 75-2017's ≥ 45 valid minutes per
hour) of the expected values; a window below that is ``invalid``, a window without any valid value is
``no_data`` — flagged data is never an exceedance. The single-reading check needs one valid reading.

Equivalent stacks (GB 16297-1996 §7.2, 附录A): near stacks of one enterprise emitting the same pollutant
are judged as one equivalent stack, see :mod:`monitoring.compliance.equivalent`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from monitoring.compliance.aggregate import GAP_COLUMNS
from monitoring.compliance.equivalent import combine_equivalent_stacks
from monitoring.compliance.frames import (
    expected_per_hour,
    gap_text,
    hours,
    measured,
    to_assessments,
    verdicts,
)

AIR_KINDS = ("stack", "fugitive", "insite_vocs")
AIR_CHECKS = ("concentration", "rate", "boundary", "single_reading")
FLOW = "a00000"
#: mg/m³ × m³/s → kg/h
RATE_FACTOR = 3600.0 / 1e6


def _windows(limits: pd.DataFrame, points: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
             hourly: pd.DataFrame) -> pd.DataFrame:
    """Every hour × limit for online points; only hours with data for offline (manually sampled) points."""
    info = points[["point", "online", "interval_s"]].astype({"point": "string"})
    lim = limits.merge(info, on="point", how="left")
    grid_hours = pd.DataFrame({"window_start": hours(start, end)})
    online = lim[lim["online"].fillna(False).astype(bool)]
    grid = online.merge(grid_hours, how="cross")
    offline = lim[~lim["online"].fillna(False).astype(bool)]
    if not offline.empty:
        seen = hourly[["point", "parameter", "window_start"]].drop_duplicates()
        key = offline["parameter"].where(offline["check"] != "rate", offline["parameter"])
        off = offline.assign(parameter=key).merge(seen, on=["point", "parameter"], how="inner")
        grid = pd.concat([grid, off], ignore_index=True)
    return grid


def evaluate_air(hourly: pd.DataFrame, point_limits: pd.DataFrame, points: pd.DataFrame,
                 start: pd.Timestamp, end: pd.Timestamp, min_capture: float = 0.75,
                 catalogue: Any = None) -> pd.DataFrame:
    """Assessments for every (air point, parameter, check, hour) in [start, end).

    ``hourly``: :func:`~monitoring.compliance.aggregate.best_period` aggregates;
    ``point_limits``: :meth:`limits.catalogue.Catalogue.point_limits`; ``points``: ``points_table``.
    """
    lims = point_limits[point_limits["kind"].isin(AIR_KINDS) & point_limits["check"].isin(AIR_CHECKS)]
    lims = measured(lims, points)
    # a rate needs the flow too
    has_flow = points.loc[points["parameters"].map(lambda ps: FLOW in ps), "point"].astype("string")
    lims = lims[(lims["check"] != "rate") | lims["point"].isin(has_flow)]
    if lims.empty:
        return to_assessments(pd.DataFrame())
    in_range = hourly[(hourly["window_start"] >= start) & (hourly["window_start"] < end)]
    grid = _windows(lims, points, start, end, in_range)
    g = grid.merge(in_range, on=["point", "parameter", "window_start"], how="left")
    flow = in_range.loc[in_range["parameter"] == FLOW, ["point", "window_start", "valid", "sum", "period",
                                                       "received"]]
    flow = flow.rename(columns={"valid": "flow_valid", "sum": "flow_sum", "period": "flow_period",
                                "received": "flow_received"})
    g = g.merge(flow, on=["point", "window_start"], how="left")

    valid = g["valid"].fillna(0)
    rtd = 3600.0 / g["interval_s"]
    expected = expected_per_hour(g["period"], g["interval_s"])
    expected = expected.where(g["period"].notna(), rtd.where(g["online"].fillna(False).astype(bool)))
    mean = g["sum"] / g["valid"].where(valid > 0)
    flow_mean = g["flow_sum"] / g["flow_valid"].where(g["flow_valid"].fillna(0) > 0)
    is_rate = g["check"] == "rate"
    is_single = g["check"] == "single_reading"
    value = mean.where(~is_single, g["max"])
    value = value.where(~is_rate, mean * flow_mean * RATE_FACTOR)

    need = np.ceil(min_capture * expected)
    flow_expected = expected_per_hour(g["flow_period"], g["interval_s"])
    conc_short = (expected.notna() & (valid < need)) & ~is_single
    flow_short = is_rate & flow_expected.notna() & (g["flow_valid"].fillna(0) < np.ceil(min_capture * flow_expected))
    no_data = (valid == 0) | (is_rate & (g["flow_valid"].fillna(0) == 0))
    invalid = ~no_data & (conc_short | flow_short)
    g["silence"] = (expected - g["received"].fillna(0)).clip(lower=0)
    for c in GAP_COLUMNS:
        g[c] = g[c].fillna(0)
    g["verdict"] = verdicts(value, g["limit"], no_data, invalid)

    gaps = gap_text(g)
    capture = ("valid " + valid.astype("int64").astype(str) + "/"
               + expected.fillna(valid).astype("int64").astype(str))
    reason = pd.Series("", index=g.index, dtype=object)
    reason = reason.mask(no_data & (valid == 0), "no valid data (" + gaps.astype(object) + ")")
    reason = reason.mask(no_data & (valid > 0) & is_rate, "no valid flue-gas flow (a00000) this hour")
    reason = reason.mask(invalid & conc_short, capture.astype(object) + f" < {min_capture:.0%} capture ("
                         + gaps.astype(object) + ")")
    reason = reason.mask(invalid & ~conc_short & flow_short, "flow capture below "
                         f"{min_capture:.0%}: hourly rate not valid")
    over = g["verdict"] == "exceeds"
    kind_text = np.where(is_rate, "hourly emission rate", np.where(is_single, "single reading",
                                                                    "hourly mean"))
    reason = reason.mask(over, pd.Series(kind_text, index=g.index) + " above the limit")
    t = g["above_range"].fillna(0).astype("int64")
    reason = reason.mask(t > 0, reason + np.where(reason == "", "", "; ") + t.astype(str)
                         + " value(s) above the analyser's range (flag T) counted at the reported value")
    note = g["note"].fillna("").astype(object)
    reason = reason.where(note == "", reason + np.where(reason == "", "", "; ") + note)
    g["reason"] = reason
    g["value"] = value
    g["ratio"] = value / g["limit"]
    g["averaging"] = np.where(is_single, "single", "1h")
    g["window_end"] = g["window_start"] + pd.Timedelta(hours=1)
    g["valid_count"] = valid
    g["expected_count"] = expected
    return to_assessments(combine_equivalent_stacks(g, points, catalogue))
