"""AQI and IAQI by HJ 633-2012 (tables in ``limits/aqi/hj633-2012.yaml``, status ``unconfirmed``).

* IAQI (§5.1, 表1): ``IAQI_P = (IAQI_Hi − IAQI_Lo)/(BP_Hi − BP_Lo)·(C_P − BP_Lo) + IAQI_Lo`` between the
  breakpoints around the concentration, **rounded up** to an integer. A concentration above the highest
  breakpoint is reported as IAQI 500 (the top of the scale).
* SO₂ 1-h mean > 800 µg/m³: no 1-h IAQI, the SO₂ IAQI is that of its 24-h mean; O₃ 8-h mean > 800
  µg/m³: no 8-h IAQI, the O₃ IAQI is that of its 1-h mean (表1 注).
* AQI = max IAQI (§5.2). AQI > 50: the pollutant(s) with that IAQI are the primary pollutant(s)
  (首要污染物); IAQI > 100: an exceeding pollutant (超标污染物) (§5.3).
* Level, category and colour (表2): 0–50 一级 优 绿色, 51–100 二级 良 黄色, 101–150 三级 轻度污染 橙色,
  151–200 四级 中度污染 红色, 201–300 五级 重度污染 紫色, > 300 六级 严重污染 褐红色.
* Hourly AQI (实时报) per station and hour: SO₂, NO₂, CO, O₃ 1-h means; PM10/PM2.5 1-h means on the 24-h
  breakpoints (project rule, unconfirmed). Daily AQI (日报) per station and local day: the 24-h means of
  SO₂, NO₂, CO, PM10, PM2.5 and O₃'s daily maximum 1-h and 8-h means.

Inputs are frames of means in the AQI unit (µg/m³, CO mg/m³): :func:`aqi_frame` takes one column per
(pollutant, averaging) and returns AQI, level, category, colour and primary pollutants per row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from limits.aqi import AqiTables, load_aqi_tables

#: (pollutant, table averaging) used by the hourly AQI and the daily AQI, in report order.
HOURLY_INPUTS = (("a21026", "1h"), ("a21004", "1h"), ("a21005", "1h"), ("a05024", "1h"),
                 ("a34002", "24h"), ("a34004", "24h"))
DAILY_INPUTS = (("a21026", "24h"), ("a21004", "24h"), ("a21005", "24h"), ("a05024", "1h"),
                ("a05024", "8h"), ("a34002", "24h"), ("a34004", "24h"))


def iaqi(concentration: np.ndarray | pd.Series | float, pollutant: str, averaging: str,
         tables: AqiTables | None = None) -> np.ndarray:
    """IAQI (rounded up; NaN where the concentration is NaN or has no IAQI on this table)."""
    t = tables or load_aqi_tables()
    bp = np.asarray(t.breakpoints[(pollutant, averaging)], dtype=float)
    steps = np.asarray(t.iaqi[:len(bp)], dtype=float)
    c = np.atleast_1d(np.asarray(concentration, dtype=float))
    i = np.clip(np.searchsorted(bp, c, side="left"), 1, len(bp) - 1)
    lo_c, hi_c, lo_i, hi_i = bp[i - 1], bp[i], steps[i - 1], steps[i]
    value = (hi_i - lo_i) / (hi_c - lo_c) * (c - lo_c) + lo_i
    value = np.where(c > bp[-1], np.nan if len(bp) < len(t.iaqi) else t.iaqi[-1], value)
    # ceil with a tolerance: 50.0000000001 from float noise must stay 50
    out = np.ceil(np.round(value, 9))
    return np.where(np.isnan(c) | (c < 0), np.nan, out)


def category_of(aqi: np.ndarray | pd.Series, tables: AqiTables | None = None) -> pd.DataFrame:
    """Level, category, colour and RGB of each AQI (表2); NaN AQI → <NA>."""
    t = tables or load_aqi_tables()
    a = np.asarray(aqi, dtype=float)
    edges = np.array([c.max_aqi for c in t.categories])
    idx = np.searchsorted(edges, a, side="left")
    idx = np.clip(idx, 0, len(edges) - 1)
    ok = ~np.isnan(a)

    def col(attr: str) -> pd.Series:
        vals = np.array([getattr(c, attr) for c in t.categories], dtype=object)[idx]
        return pd.Series(np.where(ok, vals, None), dtype="string")
    return pd.DataFrame({"level": col("level"), "category": col("category"), "colour": col("colour"),
                         "rgb": col("rgb")})


def aqi_frame(means: pd.DataFrame, inputs: tuple[tuple[str, str], ...], tables: AqiTables | None = None
              ) -> pd.DataFrame:
    """AQI from mean concentrations. ``means`` has a column ``"<code>_<averaging>"`` per input (missing
    columns count as not measured). Returns the IAQI columns plus ``aqi``, ``level``, ``category``,
    ``colour``, ``rgb``, ``primary`` (codes, ``,``-joined; <NA> when AQI ≤ 50), ``primary_zh``,
    ``exceeding`` (codes with IAQI > 100)."""
    t = tables or load_aqi_tables()
    cols: dict[str, np.ndarray] = {}
    for code, avg in inputs:
        name = f"{code}_{avg}"
        c = means[name] if name in means else pd.Series(np.nan, index=means.index)
        cols[f"iaqi_{name}"] = iaqi(c.to_numpy(dtype=float), code, avg, t)
    # 表1 注: SO2 1-h > 800 → its 24-h IAQI; O3 8-h > 800 → its 1-h IAQI
    if ("a21026", "1h") in inputs and "a21026_1h" in means:
        over = means["a21026_1h"].to_numpy(dtype=float) > 800
        day = iaqi(means["a21026_24h"], "a21026", "24h", t) if "a21026_24h" in means else np.full(len(means), np.nan)
        cols["iaqi_a21026_1h"] = np.where(over, day, cols["iaqi_a21026_1h"])
    if ("a05024", "8h") in inputs and "a05024_8h" in means:
        over = means["a05024_8h"].to_numpy(dtype=float) > 800
        cols["iaqi_a05024_8h"] = np.where(over, np.nan, cols["iaqi_a05024_8h"])
    out = pd.DataFrame(cols, index=means.index)
    values = out.to_numpy(dtype=float)
    has_any = ~np.isnan(values).all(axis=1) if values.size else np.zeros(len(out), dtype=bool)
    aqi = np.full(len(out), np.nan)
    if values.size:
        aqi[has_any] = np.nanmax(values[has_any], axis=1)
    out["aqi"] = aqi
    out = pd.concat([out, category_of(aqi, t).set_index(out.index)], axis=1)
    codes = [c for c, _ in inputs]
    prim, prim_zh, exc = [], [], []
    for row, a in zip(values, aqi):
        if np.isnan(a) or a <= 50:
            prim.append(None)
            prim_zh.append(None)
        else:
            hit = sorted({codes[j] for j in np.flatnonzero(row == a)}, key=codes.index)
            prim.append(",".join(hit))
            prim_zh.append("、".join(t.names[c] for c in hit))
        over = sorted({codes[j] for j in np.flatnonzero(np.nan_to_num(row, nan=-1) > 100)}, key=codes.index)
        exc.append(",".join(over) or None)
    out["primary"] = pd.Series(prim, index=out.index, dtype="string")
    out["primary_zh"] = pd.Series(prim_zh, index=out.index, dtype="string")
    out["exceeding"] = pd.Series(exc, index=out.index, dtype="string")
    return out
