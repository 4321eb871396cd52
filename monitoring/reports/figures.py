"""The report's numbers, computed from :class:`~monitoring.reports.gather.MonthData` (pure, no I/O).

Definitions (each table's docstring has the details):

* **超标倍数** (HJ 944-2018 执行报告; HJ 630 wording): (C − C₀) / C₀ for a window whose value C exceeds the
  limit C₀; for a pH range it is not defined (the table shows the value outside 6–9 instead).
* **有效传输率** (HJ 75-2017 / HJ 356-2019 wording, as used by the 在线监控 assessment):
  传输率 = received / expected, 有效率 = valid (flag N) / received, 有效传输率 = 传输率 × 有效率 = valid /
  expected — data capture, the one definition of :mod:`monitoring.compliance.capture` (``capture`` rows,
  summed with :func:`~monitoring.compliance.capture.capture_by`, percent by
  :func:`~monitoring.compliance.capture.capture_pct`): ``expected`` counts every hour of the whole month at
  the point's reporting interval (60 values an hour for minute data), also the hours before the first or
  after the last value received, so a month with data on a few days only has a low rate.
* **P95**: the 95th percentile (linear interpolation) of the judged window values of the month.
* **实际排放量**: Σ over valid hours of hourly mean concentration × hourly mean flow:
  stacks mg/m³ × m³/s × 3600 s / 10⁶ = kg/h (standard-state dry gas, the CEMS basis of GB 16297 and
  HJ 75); wastewater mg/L × L/s × 3600 s / 10⁶ = kg/h. A valid hour has ≥ 75 % of the expected values of
  both the pollutant and the flow (the HJ 75-2017 hourly-validity rule used by the compliance checks).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from monitoring.compliance.aggregate import GAP_COLUMNS
from monitoring.compliance.capture import capture_by, capture_pct
from monitoring.compliance.frames import expected_per_hour
from monitoring.config import LOCAL_TZ
from monitoring.reports.gather import MonthData

#: averaging (assessments) → the ``window`` column of points.csv
WINDOW_NAMES = {"1h": "hour", "1d": "day", "day": "day-period", "night": "night-period", "single": "single",
                "event": "event"}
WINDOW_ZH = {"hour": "小时均值", "day": "日均值", "day-period": "昼间", "night-period": "夜间", "single": "单次值",
             "event": "事件", "day-hour": "昼间每小时", "night-hour": "夜间每小时"}
#: flow parameter of each emitting kind and the factor to kg/h from (concentration × flow)
FLOWS = {"stack": ("a00000", 3600.0 / 1e6), "wastewater": ("w00000", 3600.0 / 1e6),
         "plant_effluent": ("w00000", 3600.0 / 1e6)}
MIN_CAPTURE = 0.75
JUDGED = ("compliant", "exceeds")


def local_text(t: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if t is None or pd.isna(t):
        return ""
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.tz_convert(LOCAL_TZ).strftime(fmt)


def _local_dates(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.tz_convert(LOCAL_TZ).dt.date


NOISE_HOUR_WINDOWS = {"leq_day": "day-hour", "leq_night": "night-hour", "lmax_night": "night-hour"}


def window_name(averaging: pd.Series, check: pd.Series | None = None) -> pd.Series:
    """points.csv ``window``: hour, day, day-hour / night-hour (noise judged per clock hour), …"""
    av = averaging.astype(object)
    names = av.map(WINDOW_NAMES).fillna(av).fillna("").astype(object)
    if check is not None:
        hourly_noise = check.map(NOISE_HOUR_WINDOWS)
        names = names.mask((averaging == "1h") & hourly_noise.notna(), hourly_noise)
    return names


def multiple(value: pd.Series, limit: pd.Series, check: pd.Series) -> pd.Series:
    """超标倍数 (C − C₀)/C₀ where C > C₀ > 0; NaN otherwise and for pH ranges."""
    m = (value - limit) / limit.where(limit > 0)
    return m.where((value > limit) & (check != "ph_range"))


# ---------------------------------------------------------------------------------------------------
def compliance_table(data: MonthData) -> pd.DataFrame:
    """达标判定 / points.csv: one row per point × parameter × check with the month's judged windows.

    Columns: point, enterprise, kind, parameter, check, window, expected, valid, capture_pct, judged, over,
    invalid, no_data, mean, p95, max_value, max_at (local), limit, limit_low, unit, max_multiple,
    max_multiple_at (local), limit_status, standard, clause.
    """
    a = data.evaluation.assessments
    a = a[~a["kind"].isin(["hw_store", "enterprise"])]
    cols = ["point", "enterprise", "kind", "parameter", "check", "window", "expected", "valid", "capture_pct",
            "judged", "over", "invalid", "no_data", "mean", "p95", "max_value", "max_at", "limit", "limit_low",
            "unit", "max_multiple", "max_multiple_at", "limit_status", "standard", "clause"]
    if a.empty:
        return pd.DataFrame(columns=cols)
    a = a.assign(window=window_name(a["averaging"], a["check"]),
                 multiple=multiple(a["value"], a["limit"], a["check"]),
                 is_judged=a["verdict"].isin(JUDGED), is_over=a["verdict"] == "exceeds",
                 is_invalid=a["verdict"] == "invalid", is_no_data=a["verdict"] == "no_data")
    keys = ["point", "parameter", "check", "window"]
    judged = a[a["is_judged"]]
    base = a.groupby(keys, observed=True, sort=True).agg(
        enterprise=("enterprise", "first"), kind=("kind", "first"),
        judged=("is_judged", "sum"), over=("is_over", "sum"), invalid=("is_invalid", "sum"),
        no_data=("is_no_data", "sum"),
        limit=("limit", "max"), limit_low=("limit_low", "max"), unit=("unit", "first"),
        limit_status=("limit_status", "first"), standard=("standard", "first"), clause=("clause", "first"),
    ).reset_index()
    if not judged.empty:
        by = judged.groupby(keys, observed=True)["value"]
        # P95: linear interpolation between order statistics (numpy's default percentile)
        stats = pd.concat([by.mean().rename("mean"), by.quantile(0.95, interpolation="linear").rename("p95"),
                           by.max().rename("max_value")], axis=1).reset_index()
        idx_max = judged.dropna(subset=["value"]).groupby(keys, observed=True)["value"].idxmax()
        at_max = judged.loc[idx_max, keys + ["window_start"]].rename(columns={"window_start": "max_at"})
        over = judged.dropna(subset=["multiple"])
        if not over.empty:
            idx_m = over.groupby(keys, observed=True)["multiple"].idxmax()
            at_m = over.loc[idx_m, keys + ["multiple", "window_start"]].rename(
                columns={"multiple": "max_multiple", "window_start": "max_multiple_at"})
        else:
            at_m = pd.DataFrame(columns=keys + ["max_multiple", "max_multiple_at"])
        base = base.merge(stats, on=keys, how="left").merge(at_max, on=keys, how="left").merge(
            at_m, on=keys, how="left")
    for c in ("mean", "p95", "max_value", "max_multiple"):
        if c not in base:
            base[c] = np.nan
        base[c] = pd.to_numeric(base[c], errors="coerce")
    for c in ("max_at", "max_multiple_at"):
        base[c] = base[c].map(local_text) if c in base else ""
    cap = capture_by_parameter(data)
    base = base.merge(cap[["point", "parameter", "expected", "valid", "capture_pct"]],
                      on=["point", "parameter"], how="left")
    return base[cols].sort_values(["point", "parameter", "check"], kind="stable").reset_index(drop=True)


def capture_by_parameter(data: MonthData) -> pd.DataFrame:
    """Month capture per point × parameter: expected, received, valid, gaps by flag, silence, rates (%)."""
    c = data.evaluation.capture
    c = c[c["window"] == "1d"]
    sums = ["expected", "received", "valid", *GAP_COLUMNS, "silence"]
    if c.empty:
        return pd.DataFrame(columns=["point", "enterprise", "kind", "parameter", *sums, "transmission_pct",
                                     "validity_pct", "capture_pct"])
    out = c.groupby(["point", "parameter"], observed=True).agg(
        enterprise=("enterprise", "first"), kind=("kind", "first"), **{s: (s, "sum") for s in sums}).reset_index()
    return _rates(out)


def _rates(frame: pd.DataFrame) -> pd.DataFrame:
    """传输率, 有效率 and 有效传输率 (= data capture, :func:`~monitoring.compliance.capture.capture_pct`)."""
    frame["transmission_pct"] = capture_pct(frame["received"], frame["expected"])
    frame["validity_pct"] = capture_pct(frame["valid"], frame["received"])
    frame["capture_pct"] = capture_pct(frame["valid"], frame["expected"])
    return frame


def effective_transmission(cap: pd.DataFrame) -> float | None:
    """有效传输率 (%) of capture rows taken together (sums of valid and expected, never a mean of rates)."""
    if cap.empty:
        return None
    pct = float(capture_by(cap.assign(all="all"), "all")["capture_pct"].iloc[0])
    return None if np.isnan(pct) else pct


def data_coverage(data: MonthData) -> tuple[pd.Timestamp, pd.Timestamp, int] | None:
    """(first local day, last local day, days with any value) of the month's online data; None without data."""
    c = data.evaluation.capture
    c = c[(c["window"] == "1d") & (c["received"] > 0)]
    if c.empty:
        return None
    days = pd.Series(_local_dates(c["window_start"])).drop_duplicates().sort_values()
    return pd.Timestamp(days.iloc[0]), pd.Timestamp(days.iloc[-1]), len(days)


def capture_by_point(data: MonthData) -> pd.DataFrame:
    """数据质量: per point (all its parameters together) with HJ 212 flag counts and silence."""
    per = capture_by_parameter(data)
    if per.empty:
        return per
    sums = ["expected", "received", "valid", *GAP_COLUMNS, "silence"]
    out = per.groupby("point", observed=True).agg(enterprise=("enterprise", "first"), kind=("kind", "first"),
                                                  **{s: (s, "sum") for s in sums}).reset_index()
    return _rates(out)


def outages(data: MonthData, min_hours: int = 3) -> pd.DataFrame:
    """Runs of ≥ ``min_hours`` consecutive hours in which a point sent nothing at all (any parameter)."""
    c = data.evaluation.capture
    c = c[c["window"] == "1h"]
    cols = ["point", "enterprise", "start", "end", "hours"]
    if c.empty:
        return pd.DataFrame(columns=cols)
    h = c.groupby(["point", "window_start"], observed=True).agg(
        received=("received", "sum"), enterprise=("enterprise", "first")).reset_index()
    h = h.sort_values(["point", "window_start"])
    silent = h["received"] == 0
    # run id: increments whenever the point changes or silence toggles
    run = ((h["point"] != h["point"].shift()) | (silent != silent.shift())).cumsum()
    runs = h[silent].groupby(run[silent]).agg(point=("point", "first"), enterprise=("enterprise", "first"),
                                              start=("window_start", "min"), end=("window_start", "max"),
                                              hours=("window_start", "size"))
    runs = runs[runs["hours"] >= min_hours].copy()
    runs["end"] = runs["end"] + pd.Timedelta(hours=1)
    runs["start"] = runs["start"].map(local_text)
    runs["end"] = runs["end"].map(local_text)
    return runs[cols].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------
def _valid_hourly_means(data: MonthData) -> pd.DataFrame:
    """Hourly means that meet the hourly-validity rule (≥ 75 % of expected values), with the point kind."""
    h = data.hourly
    if h.empty:
        return pd.DataFrame(columns=["point", "parameter", "window_start", "mean", "kind"])
    info = data.points[["point", "kind", "interval_s"]]
    h = h.merge(info, on="point", how="inner")
    expected = expected_per_hour(h["period"], h["interval_s"])
    ok = (h["valid"] > 0) & (h["valid"] >= MIN_CAPTURE * expected)
    h = h[ok]
    return h.assign(mean=h["sum"] / h["valid"])[["point", "parameter", "window_start", "mean", "kind"]]


EMISSION_COLUMNS = ["point", "enterprise", "kind", "parameter", "hours", "mass_kg", "permitted_kg", "unit"]


def emissions(data: MonthData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(monthly mass per point × pollutant, daily mass per point × pollutant × local date).

    Pollutants: the parameters that have a concentration / daily-mean limit at the point.
    """
    means = _valid_hourly_means(data)
    lims = data.limits[data.limits["check"].isin(["concentration", "daily_mean"])
                       & data.limits["kind"].isin(list(FLOWS))][["point", "parameter"]].drop_duplicates()
    empty_daily = pd.DataFrame(columns=["point", "parameter", "local_date", "mass_kg"])
    if means.empty or lims.empty:
        return pd.DataFrame(columns=EMISSION_COLUMNS), empty_daily
    parts = []
    for kind, (flow, factor) in FLOWS.items():
        m = means[means["kind"] == kind]
        q = m[m["parameter"] == flow][["point", "window_start", "mean"]].rename(columns={"mean": "flow"})
        c = m.merge(lims, on=["point", "parameter"], how="inner")
        j = c.merge(q, on=["point", "window_start"], how="inner")
        if j.empty:
            continue
        parts.append(j.assign(mass_kg=j["mean"] * j["flow"] * factor))
    if not parts:
        return pd.DataFrame(columns=EMISSION_COLUMNS), empty_daily
    hourly = pd.concat(parts, ignore_index=True)
    hourly["local_date"] = _local_dates(hourly["window_start"])
    monthly = hourly.groupby(["point", "parameter"], observed=True).agg(
        kind=("kind", "first"), hours=("mass_kg", "size"), mass_kg=("mass_kg", "sum")).reset_index()
    ents = data.points.set_index("point")["enterprise"]
    monthly["enterprise"] = monthly["point"].map(ents)
    monthly["permitted_kg"] = np.nan       # the registry has no permitted amounts yet
    monthly["unit"] = "kg"
    daily = hourly.groupby(["point", "parameter", "local_date"], observed=True)["mass_kg"].sum().reset_index()
    return monthly[EMISSION_COLUMNS], daily


def daily_means(data: MonthData) -> pd.DataFrame:
    """Local-daily mean and max of the valid hourly means per point × parameter (air and water)."""
    means = _valid_hourly_means(data)
    if means.empty:
        return pd.DataFrame(columns=["point", "parameter", "local_date", "mean", "max"])
    means["local_date"] = _local_dates(means["window_start"])
    return means.groupby(["point", "parameter", "local_date"], observed=True)["mean"].agg(
        mean="mean", max="max").reset_index()


# ---------------------------------------------------------------------------------------------------
EXCEEDANCE_COLUMNS = ["point", "enterprise", "kind", "parameter", "check", "window", "start", "end", "value",
                      "limit", "unit", "multiple", "limit_status", "incident"]


def exceedance_list(data: MonthData) -> pd.DataFrame:
    """exceedances.csv: every exceeding window (local times) with the incident that covers it, if any."""
    a = data.evaluation.assessments
    a = a[a["verdict"] == "exceeds"]
    if a.empty:
        return pd.DataFrame(columns=EXCEEDANCE_COLUMNS)
    out = a.assign(window=window_name(a["averaging"], a["check"]), multiple=multiple(a["value"], a["limit"], a["check"]))
    out["incident"] = _incident_numbers(out, data.incidents)
    out["start"] = out["window_start"].map(local_text)
    out["end"] = out["window_end"].map(local_text)
    out = out.sort_values(["window_start", "point", "parameter"], kind="stable")
    return out[EXCEEDANCE_COLUMNS].reset_index(drop=True)


def exceedance_episodes(data: MonthData) -> pd.DataFrame:
    """The exceeding windows joined into episodes for people (exceedances.csv keeps every window): consecutive
    windows of one point × parameter × check (a window starting where the previous one ended) are one row
    with its first start, last end, number of windows, the highest value and 超标倍数, and the incidents."""
    a = data.evaluation.assessments
    a = a[a["verdict"] == "exceeds"]
    cols = ["point", "parameter", "check", "start", "end", "windows", "value", "limit", "unit", "multiple",
            "limit_status", "incident"]
    if a.empty:
        return pd.DataFrame(columns=cols)
    keys = ["point", "parameter", "check"]
    a = a.assign(multiple=multiple(a["value"], a["limit"], a["check"]), incident=_incident_numbers(a, data.incidents))
    a = a.sort_values([*keys, "window_start"], kind="stable").reset_index(drop=True)
    same = (a[keys] == a[keys].shift()).all(axis=1) & (a["window_start"] == a["window_end"].shift())
    a["episode"] = (~same).cumsum()
    out = a.groupby("episode").agg(
        point=("point", "first"), parameter=("parameter", "first"), check=("check", "first"),
        first=("window_start", "min"), last=("window_end", "max"), windows=("window_start", "size"),
        value=("value", "max"), limit=("limit", "max"), unit=("unit", "first"), multiple=("multiple", "max"),
        limit_status=("limit_status", "first"),
        incident=("incident", lambda s: ", ".join(f"#{int(i)}" for i in sorted(set(s.dropna()))))).reset_index(drop=True)
    out["start"] = out["first"].map(local_text)
    out["end"] = out["last"].map(local_text)
    return out.sort_values(["first", "point", "parameter"], kind="stable")[cols].reset_index(drop=True)


def _incident_numbers(windows: pd.DataFrame, incidents: pd.DataFrame) -> pd.Series:
    result = pd.Series(pd.NA, index=windows.index, dtype="Int64")
    if incidents.empty:
        return result
    inc = incidents[incidents["kind"] != "data_missing"] if "kind" in incidents else incidents
    j = windows.reset_index().merge(inc[["id", "point", "parameter", "check", "started_at", "cleared_at"]],
                                    on=["point", "parameter", "check"], how="inner")
    if j.empty:
        return result
    inside = (j["window_start"] >= j["started_at"].fillna(pd.Timestamp.min.tz_localize("UTC"))) & (
        j["cleared_at"].isna() | (j["window_start"] < j["cleared_at"]))
    j = j[inside].sort_values("id").drop_duplicates("index")
    result.loc[j["index"].to_numpy()] = j["id"].to_numpy()
    return result


# ---------------------------------------------------------------------------------------------------
def noise_table(data: MonthData, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per noise point × check: periods judged, over, energy-mean of the period levels, max and when
    (rows of ``table``, the scope's :func:`compliance_table`, when given)."""
    t = compliance_table(data) if table is None else table
    return t[t["kind"] == "noise"].reset_index(drop=True)


def noise_days(data: MonthData) -> pd.DataFrame:
    """Per noise point, local day and check: the day/night level (Ld/Ln, the night's Lmax) and hours over.

    Hourly windows (GB 12348 §5.5 per clock hour) carry the period's level in ``period_value``; older
    period windows carry it in ``value``. A night belongs to the day it starts on (22:00 D → 06:00 D+1).
    """
    a = data.evaluation.assessments
    a = a[a["kind"] == "noise"]
    cols = ["point", "local_date", "check", "value", "over", "limit"]
    if a.empty:
        return pd.DataFrame(columns=cols)
    level = a["period_value"] if "period_value" in a else a["value"]
    local = pd.to_datetime(a["window_start"], utc=True).dt.tz_convert(LOCAL_TZ)
    night = a["check"].isin(["leq_night", "lmax_night"])
    local = local.where(~night, local - pd.Timedelta(hours=12))
    a = a.assign(local_date=local.dt.date, level=level, is_over=a["verdict"] == "exceeds")
    out = a.groupby(["point", "local_date", "check"], observed=True).agg(
        value=("level", "max"), over=("is_over", "sum"), limit=("limit", "max")).reset_index()
    return out[cols]


def water_table(data: MonthData, table: pd.DataFrame | None = None) -> pd.DataFrame:
    t = compliance_table(data) if table is None else table
    return t[t["kind"].isin(["wastewater", "plant_effluent"])].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------
def hazardous_waste(data: MonthData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(stock per store × waste code at the month's end with the oldest entry's age, findings of the checks)."""
    led = data.ledger
    stock_cols = ["store", "enterprise", "waste_code", "in_t", "out_t", "stock_t", "month_in_t", "month_out_t"]
    if led.empty:
        stock = pd.DataFrame(columns=stock_cols)
    else:
        in_month = (led["date"] >= data.month.start) & (led["date"] < data.month.end)
        g = led.assign(month_in=led["quantity_in_t"].where(in_month, 0.0),
                       month_out=led["quantity_out_t"].where(in_month, 0.0))
        stock = g.groupby(["store", "waste_code"], observed=True).agg(
            enterprise=("enterprise", "first"), in_t=("quantity_in_t", "sum"), out_t=("quantity_out_t", "sum"),
            month_in_t=("month_in", "sum"), month_out_t=("month_out", "sum")).reset_index()
        stock["stock_t"] = (stock["in_t"] - stock["out_t"]).clip(lower=0)
        stock = stock[stock_cols]
    la = data.ledger_assessments
    findings = la[la["verdict"] != "compliant"] if not la.empty else la
    return stock, findings.reset_index(drop=True)


def incidents_table(data: MonthData) -> pd.DataFrame:
    """Incidents of the month with workflow state and time to close (h)."""
    inc = data.incidents
    if inc.empty:
        return inc
    out = inc.copy()
    closed = out["closed_at"].notna()
    out["hours_to_close"] = np.where(closed, (out["closed_at"] - out["created_at"]) / pd.Timedelta(hours=1), np.nan)
    return out


# ---------------------------------------------------------------------------------------------------
def entity_cards(data: MonthData, by: str) -> pd.DataFrame:
    """Summary cards grouped ``by`` ``enterprise`` or ``zone``.

    status: ``exceeds`` if any emission window or ledger check exceeded; ``compliant`` if windows were judged
    and none exceeded; ``no_data`` otherwise. Rates are 有效传输率 components (see module docstring).
    """
    a = data.evaluation.assessments
    la = data.ledger_assessments
    cap = capture_by_parameter(data)
    if by == "zone" and not cap.empty:
        cap = cap.merge(data.points[["point", "zone"]], on="point", how="left")
    keys: list[str]
    if by == "enterprise":
        keys = [e.code for e in data.enterprises]
    else:
        keys = [data.zone] if data.zone else list(data.registry.zones)
    def split(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """``frame``'s rows per key, grouped once (a mask per key is quadratic in a county of enterprises)."""
        if frame.empty or by not in frame:
            return {}
        return {str(k): g for k, g in frame.groupby(frame[by].astype("string").fillna(""), observed=True)}

    groups = [split(f) for f in (a, la, cap, data.incidents)]
    empties = [f.iloc[0:0] for f in (a, la, cap, data.incidents)]
    rows = []
    for k in keys:
        ak, lk, ck, ik = (g.get(k, e) for g, e in zip(groups, empties, strict=True))
        judged = int(ak["verdict"].isin(JUDGED).sum()) if not ak.empty else 0
        over = int((ak["verdict"] == "exceeds").sum()) if not ak.empty else 0
        ledger_over = int((lk["verdict"] == "exceeds").sum()) if not lk.empty else 0
        series_over = int(ak[ak["verdict"] == "exceeds"][["point", "parameter", "check"]].drop_duplicates().shape[0]) \
            if over else 0
        rates = _rates(pd.DataFrame({c: [float(ck[c].sum()) if not ck.empty else 0.0]
                                     for c in ("expected", "received", "valid")})).iloc[0]
        status = "exceeds" if over or ledger_over else ("compliant" if judged or (not lk.empty) else "no_data")
        open_n = int((ik["status"] != "closed").sum()) if not ik.empty else 0
        rows.append({
            by: k, "status": status, "judged_windows": judged, "exceeding_windows": over,
            "exceeding_series": series_over, "ledger_findings": ledger_over,
            **{k: None if np.isnan(rates[c]) else float(rates[c]) for k, c in (
                ("transmission_pct", "transmission_pct"), ("validity_pct", "validity_pct"),
                ("effective_transmission_pct", "capture_pct"))},
            "incidents_open": open_n, "incidents_closed": int(len(ik) - open_n),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------
# Environment quality (issue #14): ambient air, groundwater, soil
# ---------------------------------------------------------------------------------------------------
AQI_CATEGORIES = ("优", "良", "轻度污染", "中度污染", "重度污染", "严重污染")


def ambient_table(data: MonthData) -> pd.DataFrame:
    """Per ambient station: valid days, days per AQI category (HJ 633-2012 表2), exceedance days (a GB 3095-2012
    24-h or O₃ 8-h exceedance), the most frequent primary pollutant of the days with AQI > 50 and how many
    days it was, and the month's highest daily AQI with its day."""
    from monitoring.compliance.ambient import days_by_category

    cols = ["point", "valid_days", *AQI_CATEGORIES, "exceedance_days", "primary", "primary_days", "max_aqi",
            "max_day"]
    d = data.aqi_daily
    if d.empty:
        return pd.DataFrame(columns=cols)
    counts = days_by_category(d, data.evaluation.assessments)
    counts = counts.reindex(columns=["point", "valid_days", *AQI_CATEGORIES, "exceedance_days"], fill_value=0)
    prim = d[d["primary_zh"].notna()].assign(p=lambda f: f["primary_zh"].str.split("、")).explode("p")
    top = (prim.groupby(["point", "p"]).size().rename("n").reset_index()
           .sort_values(["point", "n", "p"], ascending=[True, False, True]).drop_duplicates("point"))
    best = d.loc[d["aqi"].fillna(-1).groupby(d["point"]).idxmax(), ["point", "aqi", "local_date"]]
    out = counts.merge(top.rename(columns={"p": "primary", "n": "primary_days"}), on="point", how="left")
    out = out.merge(best.rename(columns={"aqi": "max_aqi", "local_date": "max_day"}), on="point", how="left")
    return out[cols]


def groundwater_samples(data: MonthData) -> pd.DataFrame:
    """The month's groundwater samples against GB/T 14848-2017 Class III (one row per sample × parameter)."""
    a = data.evaluation.assessments
    a = a[(a["kind"] == "groundwater") & (a["check"] == "class_iii")]
    return a.sort_values(["point", "window_start", "parameter"]).reset_index(drop=True)


def groundwater_trends(data: MonthData) -> pd.DataFrame:
    """Trend assessments of the wells at the month's end: warnings (verdict ``exceeds``) first."""
    t = data.gw_trend
    if t.empty:
        return t
    return t.assign(_w=t["verdict"] != "exceeds").sort_values(["_w", "point", "parameter"]).drop(
        columns="_w").reset_index(drop=True)


def soil_table(data: MonthData) -> pd.DataFrame:
    """Soil samples of the look-back year, one row per point × sample × parameter with the measured value, the
    GB 36600-2018 second-class screening and control values and the outcome: ``control`` (above the control
    value: an incident), ``screening`` (above the screening value: a follow-up task), ``below``, ``invalid``."""
    s = data.soil
    cols = ["point", "enterprise", "window_start", "parameter", "value", "unit", "screening", "control",
            "outcome", "limit_status"]
    if s.empty:
        return pd.DataFrame(columns=cols)
    keys = ["point", "enterprise", "window_start", "parameter"]
    wide = s.pivot_table(index=keys, columns="check", values="limit", aggfunc="first").reset_index()
    first = s.drop_duplicates(keys)[[*keys, "value", "unit", "limit_status"]]
    over = s[s["verdict"] == "exceeds"].groupby(keys)["check"].agg(set).rename("over").reset_index()
    bad = s[s["verdict"] == "invalid"].groupby(keys).size().rename("bad").reset_index()
    out = wide.merge(first, on=keys).merge(over, on=keys, how="left").merge(bad, on=keys, how="left")
    has = out["over"].apply(lambda v: v if isinstance(v, set) else set())
    out["outcome"] = np.where(has.apply(lambda v: "control" in v), "control",
                              np.where(has.apply(lambda v: "screening" in v), "screening",
                                       np.where(out["bad"].fillna(0) > 0, "invalid", "below")))
    for c in ("screening", "control"):
        if c not in out:
            out[c] = np.nan
    return out.sort_values(keys).reset_index(drop=True)[cols]
