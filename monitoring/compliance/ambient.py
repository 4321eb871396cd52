"""Ambient air quality at the cluster stations: GB 3095-2012 class-2 means with their validity rules.

The bureau's concern here is the cluster's neighbourhood, not one stack: exceedances of GB 3095 are
their own incident kind (``ambient``, see :mod:`monitoring.incidents`).

Means (GB 3095-2012 §3 definitions; validity §8 / HJ 663 as quoted — the limits file
``limits/data/gb3095-2012.yaml`` keeps status ``unconfirmed``):

* **1-h mean** (``ambient_1h``): the mean of the hour's valid values; valid when they cover ≥ 75 % of the
  expected values (≥ 45 min of the hour, the same rule as the other online checks), else ``invalid``.
* **24-h mean** (``ambient_24h``): the mean of the valid 1-h means of the **local natural day**
  (Asia/Shanghai 00:00–24:00); needs ≥ 20 valid hours (rule ``ambient_24h_min_hours``), else ``invalid``.
  Only complete days inside the evaluated period are judged.
* **O₃ daily maximum 8-h mean** (``ambient_8h``): 8-h moving means of the valid 1-h means, each needing
  ≥ 6 valid hours (rule ``ambient_8h_min_hours``); the day's value is the largest of the 8-h means that
  lie inside the day (windows starting 00:00 … 16:00 local, HJ 663 convention); a day without a valid
  8-h mean is ``invalid``.
* Units: stations report mg/m³ (the canonical unit); GB 3095 gives µg/m³ (CO mg/m³): values are
  converted to the limit's unit before judging, and reported in it.

AQI per station-hour and station-day (HJ 633-2012) is computed from the same means by
:func:`ambient_aqi`, with :mod:`monitoring.compliance.aqi`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring.compliance.aggregate import GAP_COLUMNS
from monitoring.compliance.aqi import DAILY_INPUTS, HOURLY_INPUTS, aqi_frame
from monitoring.compliance.frames import (
    expected_per_hour,
    gap_text,
    hours,
    measured,
    to_assessments,
    verdicts,
)
from monitoring.config import LOCAL_TZ

AMBIENT_KIND = "ambient_air"
AMBIENT_CHECKS = ("ambient_1h", "ambient_24h", "ambient_8h")
MIN_DAY_HOURS = 20       # GB 3095-2012 §8 (as quoted): 24-h mean needs ≥ 20 hourly values
MIN_8H_HOURS = 6         # … O3 8-h mean needs ≥ 6 hourly values
CANONICAL_UNIT = "mg/m3"
#: factor from the canonical mg/m³ to the limit's unit
TO_UNIT = {"µg/m3": 1000.0, "ug/m3": 1000.0, "mg/m3": 1.0}
O3 = "a05024"


def local_day(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()


def hourly_means(hourly: pd.DataFrame, points: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                 min_capture: float = 0.75, parameters: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Every hour × (ambient station, parameter) in [start, end): ``mean`` (mg/m³, NaN when not valid),
    ``valid_hour``, counts and gap columns. Stations offline in the registry are skipped."""
    st = points[(points["kind"] == AMBIENT_KIND) & points["online"].astype(bool)]
    if st.empty:
        return pd.DataFrame()
    pairs = st[["point", "zone", "enterprise", "kind", "interval_s", "parameters"]].explode("parameters")
    pairs = pairs.rename(columns={"parameters": "parameter"}).astype({"point": "string", "parameter": "string"})
    if parameters is not None:
        pairs = pairs[pairs["parameter"].isin(parameters)]
    grid = pairs.merge(pd.DataFrame({"window_start": hours(start, end)}), how="cross")
    h = hourly[hourly["point"].isin(pairs["point"].unique())]
    g = grid.merge(h, on=["point", "parameter", "window_start"], how="left")
    g["expected"] = expected_per_hour(g["period"], g["interval_s"])
    valid = g["valid"].fillna(0)
    g["valid_hour"] = (valid > 0) & (valid >= np.ceil(min_capture * g["expected"]))
    g["mean"] = (g["sum"] / g["valid"].where(valid > 0)).where(g["valid_hour"])
    g["silence"] = (g["expected"] - g["received"].fillna(0)).clip(lower=0)
    for c in GAP_COLUMNS:
        g[c] = g[c].fillna(0)
    return g


def _eight_hour(g: pd.DataFrame) -> pd.DataFrame:
    """Per station-day: the largest valid 8-h moving mean of O3 inside the day (windows starting
    00:00–16:00 local) and how many valid 8-h means there were."""
    o3 = g[g["parameter"] == O3].sort_values(["point", "window_start"])
    if o3.empty:
        return pd.DataFrame(columns=["point", "parameter", "local_date", "mean_8h", "n_8h"])
    out = []
    for point, s in o3.groupby("point", sort=False):
        s = s.set_index("window_start")["mean"]
        full = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="h", tz="UTC"))
        mean8 = full.rolling(8, min_periods=MIN_8H_HOURS).mean()      # window ending at this hour
        count8 = full.rolling(8, min_periods=1).count()
        start8 = mean8.index - pd.Timedelta(hours=7)
        frame = pd.DataFrame({"mean_8h": mean8.to_numpy(), "n": count8.to_numpy(), "w_start": start8})
        frame["local_start"] = frame["w_start"].dt.tz_convert(LOCAL_TZ)
        frame = frame[frame["local_start"].dt.hour <= 16]
        frame["local_date"] = frame["local_start"].dt.tz_localize(None).dt.normalize()
        day = frame.groupby("local_date").agg(mean_8h=("mean_8h", "max"), n_8h=("mean_8h", "count")).reset_index()
        day["point"] = point
        out.append(day)
    res = pd.concat(out, ignore_index=True)
    res["parameter"] = O3
    return res


def daily_means(g: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Per station, parameter and complete local day in [start, end): 24-h mean (mg/m³, NaN when < 20
    valid hours), the number of valid hours, the O3 daily max 1-h and max 8-h means."""
    if g.empty:
        return pd.DataFrame()
    g = g.assign(local_date=local_day(g["window_start"]))
    day = g.groupby(["point", "parameter", "local_date"], observed=True).agg(
        valid_hours=("valid_hour", "sum"), mean_sum=("mean", "sum"), max_1h=("mean", "max"),
        zone=("zone", "first"), enterprise=("enterprise", "first"), kind=("kind", "first")).reset_index()
    day["mean_24h"] = (day["mean_sum"] / day["valid_hours"].where(day["valid_hours"] > 0)).where(
        day["valid_hours"] >= MIN_DAY_HOURS)
    day["window_start"] = day["local_date"].dt.tz_localize(LOCAL_TZ).dt.tz_convert("UTC")
    day["window_end"] = (day["local_date"] + pd.Timedelta(days=1)).dt.tz_localize(LOCAL_TZ).dt.tz_convert("UTC")
    day = day[(day["window_start"] >= start) & (day["window_end"] <= end)]
    eight = _eight_hour(g)
    day = day.merge(eight, on=["point", "parameter", "local_date"], how="left")
    return day.reset_index(drop=True)


def evaluate_ambient(hourly: pd.DataFrame, point_limits: pd.DataFrame, points: pd.DataFrame,
                     start: pd.Timestamp, end: pd.Timestamp, min_capture: float = 0.75) -> pd.DataFrame:
    """Assessments for every station × parameter × (hour, local day) against GB 3095-2012 class 2."""
    lims = point_limits[(point_limits["kind"] == AMBIENT_KIND) & point_limits["check"].isin(AMBIENT_CHECKS)]
    lims = measured(lims, points)
    if lims.empty:
        return to_assessments(pd.DataFrame())
    g = hourly_means(hourly, points, start, end, min_capture, tuple(lims["parameter"].unique()))
    if g.empty:
        return to_assessments(pd.DataFrame())
    factor = lims["unit"].map(TO_UNIT).fillna(1.0)
    lims = lims.assign(factor=factor.to_numpy())
    parts = []
    # 1-h means
    l1 = lims[lims["check"] == "ambient_1h"].drop(columns=["zone", "enterprise", "kind"])
    h = g.merge(l1, on=["point", "parameter"], how="inner")
    if not h.empty:
        value = h["mean"] * h["factor"]
        valid = h["valid"].fillna(0)
        no_data = valid == 0
        invalid = ~no_data & ~h["valid_hour"]
        h["verdict"] = verdicts(value, h["limit"], no_data, invalid)
        gaps = gap_text(h).astype(object)
        reason = pd.Series("", index=h.index, dtype=object)
        reason = reason.mask(no_data, "no valid data (" + gaps + ")")
        reason = reason.mask(invalid, "valid " + valid.astype("int64").astype(str) + "/"
                             + h["expected"].astype("int64").astype(str) + f" < {min_capture:.0%} of the hour ("
                             + gaps + ")")
        reason = reason.mask(h["verdict"] == "exceeds", "1-h mean above the GB 3095-2012 class-2 limit")
        h = h.assign(value=value, ratio=value / h["limit"], reason=reason, averaging="1h",
                     window_end=h["window_start"] + pd.Timedelta(hours=1), valid_count=valid,
                     expected_count=h["expected"])
        parts.append(h)
    # 24-h means and O3 daily max 8-h
    days = daily_means(g, start, end)
    if not days.empty:
        ld = lims[lims["check"].isin(["ambient_24h", "ambient_8h"])].drop(columns=["zone", "enterprise", "kind"])
        d = days.merge(ld, on=["point", "parameter"], how="inner")
        if not d.empty:
            is8 = d["check"] == "ambient_8h"
            mean = d["mean_24h"].where(~is8, d["mean_8h"])
            value = mean * d["factor"]
            no_data = d["valid_hours"] == 0
            invalid = ~no_data & value.isna()
            d["verdict"] = verdicts(value, d["limit"], no_data, invalid)
            reason = pd.Series("", index=d.index, dtype=object)
            reason = reason.mask(no_data, "no valid hour this day")
            reason = reason.mask(invalid & ~is8, d["valid_hours"].astype(int).astype(str)
                                 + f" valid hours < {MIN_DAY_HOURS} (GB 3095-2012 §8)")
            reason = reason.mask(invalid & is8, f"no 8-h mean with ≥ {MIN_8H_HOURS} valid hours (GB 3095-2012 §8)")
            reason = reason.mask(d["verdict"] == "exceeds", np.where(
                is8, "daily maximum 8-h mean above the limit", "24-h mean above the limit"))
            d = d.assign(value=value, ratio=value / d["limit"], reason=reason,
                         averaging=np.where(is8, "8h", "1d"), valid_count=d["valid_hours"],
                         expected_count=24)
            parts.append(d)
    if not parts:
        return to_assessments(pd.DataFrame())
    out = pd.concat(parts, ignore_index=True)
    return to_assessments(out)


def ambient_aqi(hourly: pd.DataFrame, points: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                min_capture: float = 0.75) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(hourly AQI, daily AQI) per station, HJ 633-2012. Columns: ``point``, ``zone``, ``window_start``,
    ``window_end``, the IAQI columns, ``aqi``, ``level``, ``category``, ``colour``, ``rgb``,
    ``primary``, ``primary_zh``, ``exceeding``. Means are converted to µg/m³ (CO mg/m³)."""
    g = hourly_means(hourly, points, start, end, min_capture)
    if g.empty:
        return pd.DataFrame(), pd.DataFrame()
    from limits.aqi import load_aqi_tables

    units = load_aqi_tables().units
    g = g.assign(conc=g["mean"] * g["parameter"].map(lambda c: TO_UNIT.get(units.get(c, "mg/m3"), 1.0)))
    wide = g.pivot_table(index=["point", "zone", "window_start"], columns="parameter", values="conc",
                         aggfunc="first", dropna=False).reset_index()
    cols = {}
    for code, avg in HOURLY_INPUTS:
        cols[f"{code}_{avg}"] = wide.get(code, np.nan)
    hourly_aqi = pd.concat([wide[["point", "zone", "window_start"]],
                            aqi_frame(pd.DataFrame(cols, index=wide.index), HOURLY_INPUTS)], axis=1)
    hourly_aqi["window_end"] = hourly_aqi["window_start"] + pd.Timedelta(hours=1)
    days = daily_means(g.drop(columns="conc"), start, end)
    if days.empty:
        return hourly_aqi, pd.DataFrame()
    days = days.assign(f=days["parameter"].map(lambda c: TO_UNIT.get(units.get(c, "mg/m3"), 1.0)))
    days["c24"], days["c1"], days["c8"] = days["mean_24h"] * days["f"], days["max_1h"] * days["f"], \
        days["mean_8h"] * days["f"]
    keys = ["point", "local_date", "window_start", "window_end"]
    daily_cols: dict[str, pd.Series] = {}
    base = days[keys].drop_duplicates().reset_index(drop=True)
    for code, avg in DAILY_INPUTS:
        src = {"24h": "c24", "1h": "c1", "8h": "c8"}[avg]
        s = days[days["parameter"] == code][keys + [src]]
        daily_cols[f"{code}_{avg}"] = base.merge(s, on=keys, how="left")[src]
    zone = days.drop_duplicates("point").set_index("point")["zone"]
    daily = pd.concat([base, aqi_frame(pd.DataFrame(daily_cols), DAILY_INPUTS)], axis=1)
    daily.insert(1, "zone", daily["point"].map(zone))
    # A 日报 day needs its 24-h means (GB 3095-2012 §8 表4: ≥ 20 valid hours): a partial day with O₃'s
    # 1-h maximum alone (the first or the current day) has no daily AQI, not 优 on one pollutant.
    day24 = [f"iaqi_{code}_{avg}" for code, avg in DAILY_INPUTS if avg == "24h"]
    partial = ~daily[day24].notna().any(axis=1)
    daily.loc[partial, "aqi"] = np.nan
    for col in ("level", "category", "colour", "rgb", "primary", "primary_zh", "exceeding"):
        daily.loc[partial, col] = pd.NA
    return hourly_aqi, daily


def aqi_period(store, registry, start, end, zone: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(hourly AQI, daily AQI) of every station over [start, end) from the stored readings."""
    from monitoring.compliance.aggregate import best_period, hourly_aggregates
    from monitoring.compliance.frames import points_table

    start, end = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    readings = store.read_readings(start, end, kind=AMBIENT_KIND, zone=zone)
    return ambient_aqi(best_period(hourly_aggregates(readings)), points_table(registry), start, end)


def days_by_category(daily_aqi: pd.DataFrame, assessments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per station: days in each AQI category (HJ 633-2012 表2) and exceedance days — days with a GB 3095
    24-h or O₃ 8-h exceedance when ``assessments`` are given, else days with AQI > 100 — for reports."""
    if daily_aqi.empty:
        return pd.DataFrame()
    counts = daily_aqi.pivot_table(index="point", columns="category", values="aqi", aggfunc="count",
                                   fill_value=0)
    from limits.aqi import load_aqi_tables

    order = [c.category for c in load_aqi_tables().categories]
    counts = counts.reindex(columns=order, fill_value=0)
    counts["valid_days"] = counts.sum(axis=1)
    if assessments is not None and not assessments.empty:
        a = assessments[(assessments["kind"] == AMBIENT_KIND) & assessments["check"].isin(["ambient_24h", "ambient_8h"])
                        & (assessments["verdict"] == "exceeds")]
        exc = a.groupby("point")["window_start"].nunique()
    else:
        exc = daily_aqi[daily_aqi["aqi"] > 100].groupby("point")["window_start"].nunique()
    counts["exceedance_days"] = exc.reindex(counts.index).fillna(0).astype(int)
    return counts.reset_index()
