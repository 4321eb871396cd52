"""Groundwater wells: GB/T 14848-2017 Class III per sample, and the trend over the last samples.

* **Per sample** (``class_iii``, averaging ``single``): every lab sample (or online value) of a well's
  parameter against its Class III limit (``limits/data/gbt14848-2017.yaml``, status ``unconfirmed``);
  pH against the range 6.5–8.5. A non-detect (qualifier ``<``, value = detection limit) is compliant when
  the detection limit is at or below the limit, else ``invalid`` (the method cannot show compliance).
  A sample above the limit opens an incident at once (averaging ``single``).
* **Trend** (:func:`trend_warnings`, check ``trend_warning``): over the last ``n`` samples (rule
  ``gw_trend_samples``, 4) the least-squares slope per day; a **rising** trend warns before the class is
  crossed when the latest sample is compliant and either reaches ``share`` of the limit (rule
  ``gw_trend_warn_share``, 70 %) or the line projected to the next sampling (the well's ``interval_s``)
  reaches the limit. Both rules are project rules (status ``provisional``), not the standard's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from monitoring.compliance.frames import measured, to_assessments, verdicts

GROUNDWATER_KIND = "groundwater"
TREND_CHECK = "trend_warning"


def _judge_samples(hourly: pd.DataFrame, lims: pd.DataFrame, points: pd.DataFrame, start: pd.Timestamp,
                   end: pd.Timestamp) -> pd.DataFrame:
    """Per-sample verdicts (one row per sampled hour × limit) shared by groundwater and soil."""
    pts = lims["point"].unique()
    s = hourly[hourly["point"].isin(pts) & (hourly["window_start"] >= start) & (hourly["window_start"] < end)
               & (hourly["valid"] > 0)]
    g = s.merge(lims, on=["point", "parameter"], how="inner")
    if g.empty:
        return g
    mean = g["sum"] / g["valid"]
    all_nd = g["nd"] == g["valid"]
    dl = 2 * mean                                   # all non-detect: mean of DL/2 → DL
    is_range = g["limit_low"].notna()
    below, above = g["limit_low"] - g["min"], g["max"] - g["limit"]
    use_low = is_range & (below > above)
    value = mean.where(~all_nd, dl).where(~is_range, g["max"].where(~use_low, g["min"]))
    limit = g["limit"].where(~use_low, g["limit_low"])
    out_of_range = is_range & ((below > 0) | (above > 0))
    nd_invalid = all_nd & (dl > g["limit"]) & ~is_range
    judged = value.where(~is_range, np.where(out_of_range, np.inf, -np.inf))
    g["verdict"] = verdicts(judged, limit.where(~is_range, 0.0), pd.Series(False, index=g.index), nd_invalid)
    reason = pd.Series("", index=g.index, dtype=object)
    reason = reason.mask(all_nd & ~nd_invalid, "non-detect: detection limit " + dl.round(6).astype(str)
                         + " ≤ limit")
    reason = reason.mask(nd_invalid, "non-detect but the detection limit " + dl.round(6).astype(str)
                         + " is above the limit")
    g["reason"] = reason
    g["value"] = value
    g["limit"] = limit
    g["ratio"] = (value / limit).where(~is_range, np.maximum(np.maximum(below, above), 0)
                                       / (g["limit"] - g["limit_low"]))
    g["averaging"] = "single"
    g["window_end"] = g["window_start"] + pd.Timedelta(hours=1)
    g["valid_count"] = g["valid"]
    g["expected_count"] = pd.NA
    return g


def evaluate_groundwater(hourly: pd.DataFrame, point_limits: pd.DataFrame, points: pd.DataFrame,
                         start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Assessments per well, parameter and sample in [start, end) against GB/T 14848-2017 Class III."""
    lims = point_limits[(point_limits["kind"] == GROUNDWATER_KIND) & (point_limits["check"] == "class_iii")]
    lims = measured(lims, points)
    if lims.empty:
        return to_assessments(pd.DataFrame())
    g = _judge_samples(hourly, lims, points, start, end)
    if g.empty:
        return to_assessments(pd.DataFrame())
    g["reason"] = g["reason"].mask(g["verdict"] == "exceeds", "sample above the GB/T 14848-2017 Class III limit")
    return to_assessments(g)


def trend_warnings(samples: pd.DataFrame, point_limits: pd.DataFrame, points: pd.DataFrame, *,
                   n: int = 4, share: float = 0.7) -> pd.DataFrame:
    """Trend assessments (check ``trend_warning``) per well and parameter from its last ``n`` samples.

    ``samples``: canonical readings of groundwater points (any length of history; ``statistic`` sample
    or online values). One row per (well, parameter) with ≥ 3 samples: ``value`` = the line projected to
    the next sampling, ``verdict`` ``exceeds`` (= warn) when the slope is positive, the latest sample is
    within the limit and (latest ≥ share × limit or projection ≥ limit); ``compliant`` otherwise; the
    window is the latest sample's hour, so a new sample re-judges the trend.
    """
    lims = point_limits[(point_limits["kind"] == GROUNDWATER_KIND) & (point_limits["check"] == "class_iii")
                        & point_limits["limit_low"].isna()]
    if samples.empty or lims.empty:
        return to_assessments(pd.DataFrame())
    s = samples[samples["flag"] == "N"].sort_values("time")
    interval = points.set_index("point")["interval_s"]
    rows: list[dict[str, Any]] = []
    for (point, parameter), grp in s.groupby(["point", "parameter"], sort=False):
        lim = lims[(lims["point"] == point) & (lims["parameter"] == parameter)]
        if lim.empty:
            continue
        last = grp.tail(n)
        if len(last) < 3:
            continue
        lim = lim.iloc[0]
        t_days = (last["time"] - last["time"].iloc[0]).dt.total_seconds().to_numpy() / 86400.0
        v = last["value"].to_numpy(dtype=float)
        slope = float(np.polyfit(t_days, v, 1)[0]) if np.ptp(t_days) > 0 else 0.0
        step_days = float(interval.get(point, 2592000)) / 86400.0
        latest = float(v[-1])
        projected = latest + slope * step_days
        limit = float(lim["limit"])
        warn = slope > 0 and latest <= limit and (latest >= share * limit or projected >= limit)
        t0 = pd.Timestamp(last["time"].iloc[-1]).floor("h")
        rows.append({**{c: lim[c] for c in ("zone", "enterprise", "kind", "standard", "clause", "limit_status",
                                             "limit_source", "unit")},
                     "point": point, "parameter": parameter, "check": TREND_CHECK, "averaging": "single",
                     "window_start": t0, "window_end": t0 + pd.Timedelta(hours=1),
                     "value": projected, "limit": limit, "ratio": projected / limit,
                     "verdict": "exceeds" if warn else "compliant", "valid_count": len(last),
                     "reason": (f"rising {slope * 30:+.4g} {lim['unit']}/30 d over the last {len(last)} samples; "
                                f"latest {latest:.4g} = {latest / limit:.0%} of the Class III limit, projected "
                                f"{projected:.4g} at the next sampling")})
    return to_assessments(pd.DataFrame(rows))


def trend_from_store(store: Any, registry: Any, catalogue: Any, now: Any, *, lookback_days: int = 800) -> pd.DataFrame:
    """Trend assessments from the stored history of every well (the batch path, after each evaluation)."""
    from monitoring.compliance.frames import points_table

    points = points_table(registry)
    limits = catalogue.point_limits(registry)
    rules = catalogue.rules
    n = int(rules["gw_trend_samples"].value) if "gw_trend_samples" in rules else 4
    share = float(rules["gw_trend_warn_share"].value) if "gw_trend_warn_share" in rules else 0.7
    end = pd.Timestamp(now)
    samples = store.read_readings(end - pd.Timedelta(days=lookback_days), end, kind=GROUNDWATER_KIND)
    return trend_warnings(samples, limits, points, n=n, share=share)
