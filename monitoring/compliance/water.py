"""Water outlets and sewage-plant effluent: daily means against the outlet's standard and grade.

* The daily window is the **local** day (Asia/Shanghai, 00:00–24:00), because GB 8978-1996 and
  GB 18918-2002 mean calendar days as people keep them.
* The daily mean is the mean of every valid (flag N, or T at its reported value) value in the day, online
  or lab — and only when the day has enough of them (GB 8978-1996 §5.2.1: ≥ 2 samples a day, more by
  production cycle): an online analyser's day needs valid values covering ≥ ``min_capture`` (75 %) of the
  values expected that day (from the period it reports: hourly data 24, minute data 1440 / interval) and at
  least 2; a lab/manual point needs ≥ 2 samples. A day short of that is ``invalid`` with the reason
  "insufficient data" — a capture gap, never a verdict. (pH is a range judged on every sample: one valid
  sample outside 6–9 is a violation.)
* Standard and grade come from the registry (``WaterPoint.standard``/``grade``): GB 8978-1996 grade 3 for
  outlets into a town sewer ending in a secondary plant; GB 18918-2002 一级A/一级B for plant effluent.
* GB 18918-2002 NH₃-N: the bracket value applies when the day's mean water temperature (w01010) at the
  same point is ≤ 12 °C; without a temperature that day the (stricter) > 12 °C value applies and the
  reason says so.
* pH is judged as a range on the day's lowest and highest valid reading (pH is logarithmic and the
  standards give a range, not a mean); the reported value is the extreme nearer to / further past a
  bound, ``limit`` the violated (or nearer) bound, ``ratio`` the distance outside the range divided by
  its width (0 inside).
* Non-detects (qualifier ``<``, value = detection limit) count as half the detection limit in the mean.
  A day whose values are all non-detects is compliant when the detection limit is at or below the limit,
  and ``invalid`` ("detection limit above the limit") otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring.compliance.frames import expected_per_hour, measured, to_assessments, verdicts
from monitoring.config import LOCAL_TZ

WATER_KINDS = ("wastewater", "plant_effluent")
TEMPERATURE = "w01010"


def local_days(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Local days whose 00:00 lies in [start, end), with their UTC bounds."""
    first = start.tz_convert(LOCAL_TZ).ceil("D")
    days = pd.date_range(first, end.tz_convert(LOCAL_TZ), freq="D", inclusive="left")
    return pd.DataFrame({"local_date": days.tz_localize(None),
                         "window_start": days.tz_convert("UTC"),
                         "window_end": (days + pd.Timedelta(days=1)).tz_convert("UTC")})


def daily(hourly: pd.DataFrame, expected: pd.Series | None = None) -> pd.DataFrame:
    """Sum the hourly aggregates into local days (valid, sum, min, max, nd, received; with ``expected``,
    the values each hour row should hold, also ``expected`` and ``hours``: the day's sum over the hours
    present and their number)."""
    cols = ["point", "parameter", "local_date", "valid", "above_range", "sum", "min", "max", "nd", "received",
            "period", "expected", "hours"]
    if hourly.empty:
        return pd.DataFrame(columns=cols)
    local = hourly["window_start"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()
    exp = expected if expected is not None else pd.Series(np.nan, index=hourly.index)
    return hourly.assign(local_date=local, expected=exp).groupby(["point", "parameter", "local_date"],
                                                                 observed=True).agg(
        valid=("valid", "sum"), above_range=("above_range", "sum"), sum=("sum", "sum"), min=("min", "min"), max=("max", "max"), nd=("nd", "sum"),
        received=("received", "sum"), period=("period", "first"), expected=("expected", "sum"),
        hours=("valid", "size")).reset_index()


#: GB 8978-1996 §5.2.1: at least two samples in 24 h for a daily mean.
MIN_DAILY_VALUES = 2


def evaluate_water(hourly: pd.DataFrame, point_limits: pd.DataFrame, points: pd.DataFrame,
                   start: pd.Timestamp, end: pd.Timestamp, min_capture: float = 0.75) -> pd.DataFrame:
    """Assessments per water point, parameter and local day in [start, end)."""
    lims = point_limits[point_limits["kind"].isin(WATER_KINDS)
                        & point_limits["check"].isin(["daily_mean", "ph_range"])]
    lims = measured(lims, points)
    if lims.empty:
        return to_assessments(pd.DataFrame())
    water_points = lims["point"].unique()
    hw = hourly[hourly["point"].isin(water_points) & (hourly["window_start"] >= start)
                & (hourly["window_start"] < end)]
    info = points[["point", "online", "interval_s"]].astype({"point": "string"})
    # each hour's expected count follows the period that hour was delivered in: a device that sent hourly
    # values (CN 2061) for part of a day and 5-minute data for the rest fills the day (was: the day's
    # first period applied to all 24 h → "insufficient data" for a complete day)
    interval = hw["point"].astype("string").map(info.set_index("point")["interval_s"])
    days = daily(hw, expected_per_hour(hw["period"], interval) if len(hw) else None)
    lims = lims.merge(info, on="point")
    grid = lims.merge(local_days(start, end), how="cross")
    days = days.astype({"local_date": grid["local_date"].dtype})   # an empty period has no dtype to offer
    g = grid.merge(days, on=["point", "parameter", "local_date"], how="left")
    g = g[g["online"].fillna(False).astype(bool) | g["valid"].notna()].copy()
    temp = days[days["parameter"] == TEMPERATURE]
    temp = temp.assign(temp_c=temp["sum"] / temp["valid"].where(temp["valid"] > 0))[["point", "local_date", "temp_c"]]
    g = g.merge(temp, on=["point", "local_date"], how="left")

    valid = g["valid"].fillna(0)
    mean = g["sum"] / g["valid"].where(valid > 0)
    has_cold = g["cold_limit"].notna()
    cold = has_cold & (g["temp_c"] <= g["cold_max_temp_c"])
    limit = g["limit"].where(~cold, g["cold_limit"])
    is_ph = g["check"] == "ph_range"
    low, high = g["limit_low"], g["limit"]
    below = low - g["min"]
    above = g["max"] - high
    use_low = is_ph & (below > above)
    value = mean.where(~is_ph, g["max"].where(~use_low, g["min"]))
    limit = limit.where(~use_low, low)
    # ph: exceed when outside either bound; express as value>limit on a signed scale for verdicts()
    ph_out = is_ph & ((below > 0) | (above > 0))
    all_nd = (g["nd"].fillna(0) == valid) & (valid > 0)
    dl = 2 * mean  # all non-detect: mean of DL/2 values → mean DL
    nd_invalid = all_nd & (dl > limit)
    no_data = valid == 0
    online = g["online"].fillna(False).astype(bool)
    hours_per_day = (g["window_end"] - g["window_start"]) / pd.Timedelta(hours=1)
    nominal = expected_per_hour(g["period"], g["interval_s"])
    present = g["hours"].fillna(0)
    rate = (g["expected"] / present.where(present > 0)).fillna(nominal)      # per hour, as delivered
    expected = (g["expected"].fillna(0) + (hours_per_day - present).clip(lower=0) * rate).where(online)
    need = np.ceil(min_capture * expected.fillna(0)).clip(lower=MIN_DAILY_VALUES)
    insufficient = ~is_ph & ~no_data & (valid < need)
    judged = value.where(~is_ph, np.where(ph_out, np.inf, -np.inf))
    g["verdict"] = verdicts(judged.where(~is_ph, judged), limit.where(~is_ph, 0.0), no_data,
                            (nd_invalid & ~is_ph) | insufficient)
    ratio = (value / limit).where(~is_ph, np.maximum(np.maximum(below, above), 0) / (high - low))
    reason = pd.Series("", index=g.index, dtype=object)
    reason = reason.mask(has_cold & cold, "water ≤ " + g["cold_max_temp_c"].astype(str) + " °C (daily mean "
                         + g["temp_c"].round(1).astype(str) + " °C): bracket value applies")
    reason = reason.mask(has_cold & g["temp_c"].isna(), "no water temperature this day: the > 12 °C value applies")
    reason = reason.mask(has_cold & (g["temp_c"] > g["cold_max_temp_c"]),
                         "water > 12 °C (daily mean " + g["temp_c"].round(1).astype(str) + " °C)")
    reason = reason.mask(all_nd & ~nd_invalid, "all values below the detection limit (non-detect, DL/2 rule)")
    reason = reason.mask(nd_invalid, "all non-detect but the detection limit is above the limit")
    reason = reason.mask(is_ph & ~no_data, "daily pH range " + g["min"].round(2).astype(str) + "–"
                         + g["max"].round(2).astype(str))
    reason = reason.mask(insufficient, "insufficient data: " + valid.astype("int64").astype(str) + " valid of "
                         + np.where(online, expected.fillna(0).round().astype("int64").astype(str) + " expected (≥ "
                                    + f"{min_capture:.0%}" + " and ≥ 2 needed)", "samples (≥ 2 needed)")
                         + ", GB 8978-1996 5.2.1: no daily mean")
    t = g["above_range"].fillna(0).astype("int64")
    reason = reason.mask((t > 0) & ~no_data, reason + np.where(reason == "", "", "; ") + t.astype(str)
                         + " value(s) above the analyser's range (flag T) counted at the reported value")
    reason = reason.mask(no_data, "no valid data")
    g["reason"] = reason
    g["value"] = value
    g["limit"] = limit
    g["ratio"] = ratio
    g["averaging"] = "1d"
    g["valid_count"] = valid
    g["expected_count"] = expected
    return to_assessments(g)
