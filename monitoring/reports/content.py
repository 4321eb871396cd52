"""What a person reads: the report's sections as template context (Chinese labels, local times, charts).

:func:`report_context` turns one scope's :class:`~monitoring.reports.gather.MonthData` and its figures into
plain dicts and strings for ``monitoring/templates/report/report.html.j2``. Every section is built from
what exists; a missing source renders as "无数据" / "未接入" with the reason, never as an error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from limits.loader import CHECK_ZH
from limits.loader import STATUS_ZH as LIMIT_STATUS_ZH
from monitoring import charts
from monitoring.reports import figures as fig
from monitoring.reports.gather import MonthData
from monitoring.reports.period import STATUS_ZH as REPORT_STATUS_ZH
from sensors.schema import POINT_KINDS_ZH

#: point kinds (sensors.schema.POINT_KINDS_ZH) and the enterprise rows of the report's tables
KIND_ZH = {**POINT_KINDS_ZH, "enterprise": "企业"}
INCIDENT_STATUS_ZH = {"open": "待处理", "acknowledged": "已确认", "closed": "已关闭"}
OUTCOME_ZH = {"compliant": "未发现问题", "violation": "发现违法问题"}
FLAG_ZH = {"gap_F": "F 停运", "gap_M": "M 维护", "gap_S": "S 手工输入", "gap_D": "D 故障", "gap_C": "C 校准",
           "gap_T": "T 超量程", "gap_B": "B 通讯异常", "gap_other": "其他标记", "silence": "缺失"}


#: The change list's fields as a person reads them (summary.json keeps the codes).
CHANGE_FIELD_ZH = {
    "status": "报告状态", "row": "判定项", "judged": "判定时段", "over": "超标时段", "max_value": "最大值",
    "limit": "限值", "limit_status": "限值状态", "max_multiple": "最大超标倍数", "capture_pct": "有效传输率 %",
    "judged_windows": "判定时段数", "exceeding_windows": "超标时段数", "exceeding_series": "超标项数",
    "effective_transmission_pct": "有效传输率 %", "emission_kg": "排放量 kg", "incidents": "事件数",
    "incidents_open": "未关闭事件数", "quarantined": "隔离数据条数", "complaints": "投诉数",
    "inspections": "双随机检查数", "provisional_limits_applied": "使用暂定限值的判定项",
}


def changes_zh(changes: list[dict[str, Any]], names: Names) -> list[dict[str, Any]]:
    """The change list of a reissued report (:func:`monitoring.reports.versions.decide`) worded for the PDF:
    point, parameter, check and window in Chinese, field names in Chinese (``emission_kg.<code>`` →
    排放量 kg · 颗粒物), statuses in Chinese."""
    out = []
    for c in changes:
        what, field = c.get("what", ""), str(c.get("field", ""))
        old, new = c.get("old"), c.get("new")
        if "point" in c:
            what = " ".join(x for x in (c["point"], names.point(c["point"]), parameter_zh(c.get("parameter", "")),
                                        CHECK_ZH.get(c.get("check", ""), c.get("check", "")),
                                        fig.WINDOW_ZH.get(c.get("window", ""), c.get("window", ""))) if x)
        head, _, sub = field.partition(".")
        label = CHANGE_FIELD_ZH.get(head, head) + (f" · {parameter_zh(sub)}" if sub else "")
        if str(what).startswith("数据组成"):       # a data-version component: its fingerprint changed
            label = "数据指纹（SHA-256 前 12 位）"
        if head == "status":
            old, new = REPORT_STATUS_ZH.get(old, old), REPORT_STATUS_ZH.get(new, new)
        elif head == "limit_status":
            old, new = LIMIT_STATUS_ZH.get(old, old), LIMIT_STATUS_ZH.get(new, new)
        out.append({"what": what, "field": label, "old": old, "new": new})
    return out


def parameter_zh(code: str) -> str:
    """Chinese name of an HJ 212 code (the one parameter table, :mod:`sensors.parameters`)."""
    from sensors.parameters import parameter_name_zh

    return parameter_name_zh(code)


def num(v: Any, digits: int = 3) -> str:
    """A number for people: ≤ ``digits`` significant digits (at least integers kept), '—' for none."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA or pd.isna(v):
        return "—"
    v = float(v)
    if v == 0:
        return "0"
    if abs(v) >= 10 ** digits:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def pct(v: Any) -> str:
    return "—" if v is None or pd.isna(v) else f"{float(v):.1f}%"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records") if not frame.empty else []


class Names:
    """Look-ups of Chinese names from the registry."""

    def __init__(self, registry: Any):
        self.registry = registry

    def point(self, pid: str) -> str:
        try:
            return self.registry.point(pid).name
        except KeyError:
            return pid

    def enterprise(self, code: Any) -> str:
        if code is None or pd.isna(code) or code == "":
            return "集聚区公共"
        e = self.registry.enterprises.get(str(code))
        return e.name if e else str(code)

    def zone(self, zid: Any) -> str:
        z = self.registry.zones.get(str(zid)) if zid is not None else None
        return f"{z.name_zh}集聚区" if z else "云阳县"


# ---------------------------------------------------------------------------------------------------
def limit_text(limit: Any, status: Any, low: Any = None) -> str:
    mark = "†" if status == "provisional" else ("‡" if status in ("unconfirmed", "quoted") else "")
    if low is not None and not pd.isna(low):
        return f"{num(low)}–{num(limit)}{mark}"
    return f"{num(limit)}{mark}"


def compliance_rows(table: pd.DataFrame, names: Names) -> list[dict[str, Any]]:
    rows = []
    for r in _records(table):
        rows.append({
            "point": r["point"], "point_name": names.point(r["point"]), "kind": KIND_ZH.get(r["kind"], r["kind"]),
            "parameter": parameter_zh(r["parameter"]), "check": CHECK_ZH.get(r["check"], r["check"]),
            "window": fig.WINDOW_ZH.get(r["window"], r["window"]), "unit": r["unit"] or "",
            "limit": limit_text(r["limit"], r["limit_status"], r["limit_low"]),
            "mean": num(r["mean"]), "max": num(r["max_value"]), "p95": num(r["p95"]), "max_at": r["max_at"] or "",
            "judged": int(r["judged"]), "over": int(r["over"]), "invalid": int(r["invalid"]) + int(r["no_data"]),
            "multiple": num(r["max_multiple"], 2) if pd.notna(r["max_multiple"]) else "—",
            "multiple_at": r["max_multiple_at"] or "", "capture": pct(r["capture_pct"]),
            "exceeds": int(r["over"]) > 0, "status": r["limit_status"],
        })
    return rows


def card_rows(cards: pd.DataFrame, key: str, names: Names, previous: dict[str, dict[str, Any]]) -> list[dict]:
    out = []
    for c in _records(cards):
        k = c[key]
        prev = previous.get(k)
        change = "无上月报告"
        if prev is not None:
            d = c["exceeding_windows"] - int(prev.get("exceeding_windows") or 0)
            change = f"超标时段 {'+' if d > 0 else ''}{d}" if d else "超标时段持平"
            if prev.get("status") != c["status"]:
                change += f"；{charts.STATUS_ZH.get(prev.get('status'), '—')}→{charts.STATUS_ZH[c['status']]}"
        out.append({"key": k, "name": names.enterprise(k) if key == "enterprise" else names.zone(k),
                    "status": c["status"], "status_zh": charts.STATUS_ZH[c["status"]],
                    "over": c["exceeding_windows"], "series": c["exceeding_series"], "judged": c["judged_windows"],
                    "ledger": c["ledger_findings"], "transmission": pct(c["transmission_pct"]),
                    "validity": pct(c["validity_pct"]), "effective": pct(c["effective_transmission_pct"]),
                    "open": c["incidents_open"], "closed": c["incidents_closed"], "change": change})
    return out


# ---------------------------------------------------------------------------------------------------
def _capture_matrix(data: MonthData, points: list[str]) -> np.ndarray:
    """Day × hour classes over ``points`` together (see :data:`monitoring.charts.CAPTURE_CLASSES`)."""
    days = data.month.days
    m = np.zeros((len(days), 24), dtype=int)
    c = data.evaluation.capture
    c = c[(c["window"] == "1h") & c["point"].isin(points)]
    if c.empty:
        return m
    gaps = [g for g in fig.GAP_COLUMNS]
    h = c.groupby("window_start", observed=True)[["expected", "received", "valid", *gaps]].sum().reset_index()
    local = h["window_start"].dt.tz_convert("Asia/Shanghai")
    day_idx = (local.dt.tz_localize(None).dt.normalize() - pd.Timestamp(days[0])).dt.days.to_numpy()
    hour = local.dt.hour.to_numpy()
    ratio = (h["valid"] / h["expected"].where(h["expected"] > 0)).fillna(0).to_numpy()
    flagged = h[gaps].sum(axis=1).to_numpy() > 0
    cls = np.where(h["received"].to_numpy() == 0, 0,
                   np.where(ratio >= fig.MIN_CAPTURE, 1, np.where(flagged, 2, 3)))
    ok = (day_idx >= 0) & (day_idx < len(days))
    m[day_idx[ok], hour[ok]] = cls[ok]
    return m


#: Width of a chart shown two per row on A4 (report.css: 184 mm of text width, 49 % each), inches.
HALF_WIDTH_IN = 3.5


def point_charts(data: MonthData, names: Names, points: list[str], daily: pd.DataFrame) -> list[dict[str, str]]:
    """One chart per air/water point: each pollutant's daily value as % of its limit."""
    out = []
    days = data.month.days
    lim = data.limits[data.limits["check"].isin(["concentration", "daily_mean", "boundary"])]
    water = data.evaluation.assessments
    water = water[(water["check"] == "daily_mean")]
    for pid in points:
        pl = lim[lim["point"] == pid]
        if pl.empty:
            continue
        series: dict[str, list[float]] = {}
        for _, row in pl.iterrows():
            if row["check"] == "daily_mean":
                w = water[(water["point"] == pid) & (water["parameter"] == row["parameter"])]
                by_day = dict(zip(fig._local_dates(w["window_start"]), w["value"] / w["limit"] * 100, strict=True))
            else:
                d = daily[(daily["point"] == pid) & (daily["parameter"] == row["parameter"])]
                by_day = dict(zip(d["local_date"], d["mean"] / row["limit"] * 100, strict=True))
            if by_day:
                series[parameter_zh(row["parameter"])] = [by_day.get(day, np.nan) for day in days]
        title = f"{pid} {names.point(pid)}"
        # two per row (report.css .charts2): drawn at that width, so that the labels keep their point size;
        # the title is the page's caption above the chart (it wraps, a long point name does not get cut off)
        out.append({"title": title, "svg": charts.daily_ratio(days, series, width_in=HALF_WIDTH_IN, height_in=1.6)})
    return out


def noise_chart(data: MonthData, names: Names, points: list[str]) -> str | None:
    nd = fig.noise_days(data)
    nd = nd[nd["point"].isin(points) & nd["check"].isin(["leq_day", "leq_night"])]
    if nd.empty:
        return None
    days = data.month.days
    series = {}
    for (pid, check), g in nd.groupby(["point", "check"], observed=True):
        by_day = dict(zip(g["local_date"], g["value"], strict=True))
        series[f"{pid} {'昼' if check == 'leq_day' else '夜'}"] = [by_day.get(d, np.nan) for d in days]
    limits = nd.groupby("check")["limit"].max()
    return charts.daily_levels(days, series, unit="dB(A)", title="厂界噪声 昼间/夜间等效声级（日）",
                               limits={"昼间限值": float(limits.get("leq_day", np.nan)),
                                       "夜间限值": float(limits.get("leq_night", np.nan))})


# ---------------------------------------------------------------------------------------------------
def section_quality(data: MonthData, names: Names, by_enterprise: bool = False) -> dict[str, Any]:
    """数据质量 per point, or (``by_enterprise``: the county report) per enterprise — the same sums."""
    per_point = fig.capture_by_point(data)
    if by_enterprise and not per_point.empty:
        sums = ["expected", "received", "valid", *fig.GAP_COLUMNS, "silence"]
        ent = per_point.assign(enterprise=per_point["enterprise"].astype("string").fillna("—"))
        per_point = fig._rates(ent.groupby("enterprise", observed=True).agg(
            points=("point", "size"), **{c: (c, "sum") for c in sums}).reset_index())
        per_point = per_point.assign(point=per_point["enterprise"], kind="enterprise")
    rows = []
    for r in _records(per_point):
        flags = ", ".join(f"{FLAG_ZH[g]} {int(r[g])}" for g in [*fig.GAP_COLUMNS, "silence"] if r.get(g))
        name = (f"{names.enterprise(r['point'])}（{int(r['points'])} 个点）" if by_enterprise
                else names.point(r["point"]))
        rows.append({"point": r["point"], "name": name, "kind": KIND_ZH.get(r["kind"], r["kind"]),
                     "expected": f"{int(r['expected']):,}", "received": f"{int(r['received']):,}",
                     "valid": f"{int(r['valid']):,}", "transmission": pct(r["transmission_pct"]),
                     "validity": pct(r["validity_pct"]), "effective": pct(r["capture_pct"]),
                     "low": (r["capture_pct"] or 0) < 90, "flags": flags})
    outs = [{**o, "name": names.point(o["point"])} for o in _records(fig.outages(data))]
    quarantine = _records(data.quarantine)
    return {"rows": rows, "outages": outs, "quarantine": quarantine,
            "quarantine_total": int(data.quarantine["count"].sum()) if not data.quarantine.empty else 0}


def section_emissions(monthly: pd.DataFrame, names: Names) -> list[dict[str, Any]]:
    return [{"point": r["point"], "name": names.point(r["point"]), "enterprise": names.enterprise(r["enterprise"]),
             "parameter": parameter_zh(r["parameter"]), "hours": int(r["hours"]), "mass": num(r["mass_kg"], 4),
             "permitted": num(r["permitted_kg"]) if pd.notna(r["permitted_kg"]) else "未登记"}
            for r in _records(monthly)]


def section_emissions_by_enterprise(monthly: pd.DataFrame, names: Names) -> list[dict[str, Any]]:
    """The county's 实际排放量 per enterprise and pollutant (per outlet in the cluster reports and emissions.csv)."""
    if monthly.empty:
        return []
    g = monthly.groupby(["enterprise", "parameter"], observed=True).agg(
        outlets=("point", "nunique"), hours=("hours", "max"), mass_kg=("mass_kg", "sum"),
        permitted_kg=("permitted_kg", lambda v: v.sum(min_count=1))).reset_index()
    return [{"point": f"{int(r['outlets'])} 个排放口", "name": "", "enterprise": names.enterprise(r["enterprise"]),
             "parameter": parameter_zh(r["parameter"]), "hours": int(r["hours"]), "mass": num(r["mass_kg"], 4),
             "permitted": num(r["permitted_kg"]) if pd.notna(r["permitted_kg"]) else "未登记"}
            for r in _records(g)]


def mass_chart(data: MonthData, daily: pd.DataFrame) -> str | None:
    if daily.empty:
        return None
    days = data.month.days
    series = {}
    for par, g in daily.groupby("parameter"):
        by_day = g.groupby("local_date")["mass_kg"].sum()
        series[parameter_zh(par)] = [float(by_day.get(d, 0.0)) for d in days]
    return charts.cumulative_mass(days, series, title="本月累计排放量 (kg)")


def section_hw(data: MonthData, names: Names) -> dict[str, Any]:
    stock, findings = fig.hazardous_waste(data)
    stock_rows = [{"store": r["store"], "name": names.point(r["store"]), "enterprise": names.enterprise(r["enterprise"]),
                   "waste_code": r["waste_code"], "month_in": num(r["month_in_t"]), "month_out": num(r["month_out_t"]),
                   "stock": num(r["stock_t"])} for r in _records(stock)]
    finding_rows = [{"point": r["point"], "enterprise": names.enterprise(r["enterprise"]),
                     "check": CHECK_ZH.get(r["check"], r["check"]), "value": num(r["value"]),
                     "limit": limit_text(r["limit"], r["limit_status"]), "unit": r["unit"] or "",
                     "verdict": charts.STATUS_ZH.get(r["verdict"], r["verdict"]), "reason": r["reason"] or "",
                     "when": fig.local_text(r["window_start"], "%Y-%m-%d")} for r in _records(findings)]
    return {"stock": stock_rows, "findings": finding_rows, "missing": data.missing.get("ledger")}


def section_incidents(data: MonthData, names: Names, public: bool) -> dict[str, Any]:
    inc = fig.incidents_table(data)
    rows = []
    for r in _records(inc):
        rows.append({"id": r["id"], "point": r["point"], "name": names.point(r["point"]),
                     "parameter": parameter_zh(r["parameter"]), "kind": "数据缺失" if r["kind"] == "data_missing" else "超标",
                     "status": INCIDENT_STATUS_ZH.get(r["status"], r["status"]),
                     "started": fig.local_text(r["started_at"]), "cleared": fig.local_text(r["cleared_at"]),
                     "closed": fig.local_text(r["closed_at"]),
                     "hours_to_close": num(r["hours_to_close"], 3) if pd.notna(r["hours_to_close"]) else "未关闭",
                     "peak": num(r["peak_value"]), "unit": r["unit"] or "",
                     "closed_by": "" if public else (r["closed_by"] or "")})
    comp = [{"enterprise": names.enterprise(r["enterprise"]), "date": str(r["received_on"]), "channel": r["channel"],
             "substantiated": "属实" if r["substantiated"] else "不属实/待查",
             "summary": "" if public else (r.get("summary") or "")} for r in _records(data.complaints)]
    return {"rows": rows, "complaints": comp, "missing": data.missing.get("incidents"),
            "complaints_missing": data.missing.get("complaints")}


def section_inspections(data: MonthData, names: Names, today: pd.Timestamp) -> dict[str, Any]:
    rows = []
    for r in _records(data.inspections):
        due = r["publish_due"]
        pub = r["published_at"]
        if pub is not None and not pd.isna(pub):
            pub_day = pd.Timestamp(pub).tz_convert("Asia/Shanghai").date()
            state = "按期公开" if pub_day <= due else "逾期公开"
        else:
            state = "逾期未公开" if today.date() > due else "待公开"
        rows.append({"task": r["task_id"], "enterprise": names.enterprise(r["enterprise"]),
                     "date": str(r["inspected_on"]), "outcome": OUTCOME_ZH.get(r["outcome"], r["outcome"]),
                     "due": str(due), "published": fig.local_text(pub, "%Y-%m-%d"), "state": state,
                     "late": state.startswith("逾期")})
    return {"rows": rows, "missing": data.missing.get("inspections")}


def section_method(data: MonthData) -> dict[str, Any]:
    lim = data.limits
    standards = []
    if not lim.empty:
        g = lim.groupby(["standard", "clause", "limit_status"], dropna=False, observed=True).agg(
            n=("point", "size"), source=("limit_source", "first")).reset_index()
        for r in _records(g):
            standards.append({"standard": r["standard"], "clause": r["clause"], "n": int(r["n"]),
                              "status": LIMIT_STATUS_ZH.get(r["limit_status"], r["limit_status"]),
                              "provisional": r["limit_status"] == "provisional", "source": r["source"]})
    return {"standards": standards}


def status_strip_svg(history: dict[str, dict[str, str]], names: Names, months: list[str], rows: list[str]) -> str:
    """``history``: month → {key: status}; rows: enterprise codes (or zone ids)."""
    frame = pd.DataFrame({m[2:]: [history.get(m, {}).get(k, "no_data") for k in rows] for m in months},
                         index=[names.enterprise(k) if k in names.registry.enterprises else names.zone(k) for k in rows])
    return charts.status_strip(frame, title="近12个月合规状态", legend=True)


# ---------------------------------------------------------------------------------------------------
# Environment quality (issue #14)
# ---------------------------------------------------------------------------------------------------
SOIL_OUTCOME_ZH = {"control": "超管制值 → 事件", "screening": "超筛选值 → 跟进调查", "below": "低于筛选值",
                   "invalid": "检出限高于筛选值，无法判定"}
VERDICT_ZH = {"exceeds": "超标", "compliant": "达标", "invalid": "无法判定", "no_data": "无数据"}


def _day(v: Any, fmt: str = "%m-%d") -> str:
    return "—" if v is None or pd.isna(v) else pd.Timestamp(v).strftime(fmt)


def section_environment(data: MonthData, names: Names) -> dict[str, Any]:
    """环境质量: AQI days per ambient station, groundwater samples and trend warnings, soil samples."""
    amb = [{"point": f"{r['point']} {names.point(r['point'])}", "valid": int(r["valid_days"]),
            "cats": [int(r[c]) for c in fig.AQI_CATEGORIES], "exceed": int(r["exceedance_days"]),
            "primary": (f"{r['primary']}（{int(r['primary_days'])} 天）" if isinstance(r["primary"], str) else "—"),
            "max_aqi": num(r["max_aqi"]), "max_day": _day(r["max_day"])}
           for r in _records(fig.ambient_table(data))]
    gw = [{"point": f"{r['point']} {names.point(r['point'])}", "date": fig.local_text(r["window_start"], "%Y-%m-%d"),
           "parameter": parameter_zh(r["parameter"]), "value": num(r["value"]), "unit": r["unit"] or "",
           "limit": limit_text(r["limit"], r["limit_status"]), "verdict": VERDICT_ZH.get(r["verdict"], r["verdict"]),
           "over": r["verdict"] == "exceeds"} for r in _records(fig.groundwater_samples(data))]
    trend = [{"point": f"{r['point']} {names.point(r['point'])}", "parameter": parameter_zh(r["parameter"]),
              "latest": fig.local_text(r["window_start"], "%Y-%m-%d"), "projected": num(r["value"]),
              "limit": limit_text(r["limit"], r["limit_status"]), "unit": r["unit"] or "",
              "warn": r["verdict"] == "exceeds", "verdict": "预警：上升趋势" if r["verdict"] == "exceeds" else "无预警",
              "reason": r["reason"] or ""} for r in _records(fig.groundwater_trends(data))]
    soil = [{"point": f"{r['point']} {names.point(r['point'])}", "enterprise": names.enterprise(r["enterprise"]),
             "date": fig.local_text(r["window_start"], "%Y-%m-%d"), "parameter": parameter_zh(r["parameter"]),
             "value": num(r["value"]), "screening": limit_text(r["screening"], r["limit_status"]),
             "control": limit_text(r["control"], r["limit_status"]), "outcome": SOIL_OUTCOME_ZH[r["outcome"]],
             "over": r["outcome"] in ("screening", "control")} for r in _records(fig.soil_table(data))]
    kinds = set(data.points["kind"]) if not data.points.empty else set()
    return {"ambient": amb, "categories": fig.AQI_CATEGORIES, "groundwater": gw, "trend": trend, "soil": soil,
            "has_ambient": "ambient_air" in kinds, "has_groundwater": "groundwater" in kinds,
            "has_soil": "soil" in kinds}
