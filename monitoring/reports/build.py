"""Build the monthly reports: gather once, then per scope compute, decide the version, write, render.

Scopes: the five clusters and the county (default), one cluster (``zone``) or one enterprise
(``enterprise``). Files per scope directory ``DIR/<YYYY-MM>/<scope>/`` (``county`` for the county,
``<zone>/<enterprise code>`` for one enterprise): report.html, report.pdf, points.csv, emissions.csv,
exceedances.csv, summary.json — and ``versions/v<N>/`` copies of every issued version (:mod:`.versions`).

Scopes are rendered in a pool of ``workers`` forked processes when asked for (``envmon report monthly
--workers 2``, the bench): charts and WeasyPrint layout are CPU-bound and single-threaded; the gathered month
is shared with the children by fork, not pickled. The default is 1 (in-process), which is what the DAG uses.
"""

from __future__ import annotations

import gc
import multiprocessing
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from limits.loader import CHECK_ZH
from monitoring.config import LOCAL_TZ, Settings
from monitoring.reports import content, figures, versions, writers
from monitoring.reports.gather import MonthData, gather_month
from monitoring.reports.period import STATUS_ZH, ReportMonth
from monitoring.reports.render import fewer_collections, render_html, write_pdf

SOURCE_ZH = {"readings": "监测数据", "ledger": "危废台账", "incidents": "事件", "complaints": "投诉",
             "inspections": "双随机检查", "quarantine": "隔离数据", "limits": "限值", "samples": "地下水/土壤样品"}
EXCEEDANCES_SHOWN = 200
OUTPUT_FILES = ("report.html", "report.pdf", "points.csv", "emissions.csv", "exceedances.csv", "summary.json")


@dataclass(frozen=True)
class Scope:
    zone: str | None            # None: the county
    enterprise: str | None = None

    @property
    def key(self) -> str:
        if self.enterprise:
            return f"{self.zone}/{self.enterprise}"
        return self.zone or "county"


@dataclass
class ScopeResult:
    scope: Scope
    directory: Path
    action: str                                   # issued | unchanged
    version: int
    status: str
    files: list[Path]
    timings: dict[str, float] = field(default_factory=dict)
    changes: int = 0


@dataclass
class BuildResult:
    month: ReportMonth
    results: list[ScopeResult]
    timings: dict[str, float]

    @property
    def paths(self) -> list[Path]:
        return [f for r in self.results for f in r.files]


# ---------------------------------------------------------------------------------------------------
def _history(out: Path, month: ReportMonth, scope: Scope, key: str) -> dict[str, dict[str, str]]:
    """month label → {entity: status} from the summaries of earlier issued reports of this scope."""
    hist: dict[str, dict[str, str]] = {}
    for k in range(1, 12):
        m = month.previous(k)
        s = versions.read_json(out / m.label / scope.key / "summary.json")
        if s:
            cards = s.get("zones") if key == "zone" else s.get("enterprises")
            hist[m.label] = {c[key]: c["status"] for c in cards or []}
    return hist


def _previous_cards(out: Path, month: ReportMonth, scope: Scope, key: str) -> dict[str, dict[str, Any]]:
    s = versions.read_json(out / month.previous().label / scope.key / "summary.json")
    if not s:
        return {}
    return {c[key]: c for c in (s.get("zones") if key == "zone" else s.get("enterprises")) or []}


def _title(data: MonthData, scope: Scope, names: content.Names) -> str:
    if scope.enterprise:
        where = f"{names.enterprise(scope.enterprise)}（{names.zone(scope.zone)}）"
    else:
        where = names.zone(scope.zone) if scope.zone else "云阳县中小企业集聚区（全县）"
    return f"{where} 环境监测月报 {data.month.label_zh}"


def _exceedance_rows(episodes: pd.DataFrame, names: content.Names) -> list[dict[str, Any]]:
    rows = []
    for r in episodes.head(EXCEEDANCES_SHOWN).to_dict("records"):
        rows.append({"point": f"{r['point']} {names.point(r['point'])}", "parameter": content.parameter_zh(r["parameter"]),
                     "check": CHECK_ZH.get(r["check"], r["check"]), "start": r["start"], "end": r["end"],
                     "windows": int(r["windows"]), "value": content.num(r["value"]), "unit": r["unit"] or "",
                     "limit": content.limit_text(r["limit"], r["limit_status"]),
                     "multiple": content.num(r["multiple"], 2), "status": r["limit_status"],
                     "incident": r["incident"]})
    return rows


def _annex(data: MonthData, code: str, names: content.Names, cards: list[dict], daily: pd.DataFrame,
           monthly: pd.DataFrame, cluster_table: pd.DataFrame) -> dict[str, Any]:
    """One enterprise's annex from the cluster's frames (its rows of the cluster's compliance table; charts
    of its points) — nothing recomputed per enterprise."""
    table = cluster_table[cluster_table["enterprise"].astype("string").fillna("") == code]
    pts = data.points[data.points["online"].astype(bool) & (data.points["enterprise"].astype("string").fillna("")
                                                             == code)]
    air_water = pts[pts["kind"].isin(["stack", "fugitive", "insite_vocs", "wastewater", "plant_effluent"])]["point"]
    noise_pts = pts[pts["kind"] == "noise"]["point"].tolist()
    return {"code": code, "name": names.enterprise(code), "card": next(c for c in cards if c["key"] == code),
            "compliance": content.compliance_rows(table, names),
            "emissions": content.section_emissions(monthly[monthly["enterprise"] == code], names),
            "heatmap_svg": None,   # the cluster's heatmap and the per-point capture table carry it
            "point_charts": content.point_charts(data, names, air_water.tolist(), daily),
            "noise_svg": content.noise_chart(data, names, noise_pts) if noise_pts else None}


def _environment_summary(data: MonthData) -> dict[str, Any]:
    """summary.json's issue-#14 figures: AQI days per station, groundwater samples over Class III, trend
    warnings, soil samples above the screening / control values."""
    gw = figures.groundwater_samples(data)
    trend = figures.groundwater_trends(data)
    soil = figures.soil_table(data)
    return {
        "ambient": figures.ambient_table(data).to_dict("records"),
        "groundwater_samples": len(gw), "groundwater_exceeding": int((gw["verdict"] == "exceeds").sum()),
        "trend_warnings": trend[trend["verdict"] == "exceeds"][["point", "parameter", "value", "limit"]].to_dict(
            "records") if not trend.empty else [],
        "soil": soil[["point", "parameter", "window_start", "value", "outcome"]].to_dict("records"),
    }


def scope_report(data: MonthData, scope: Scope, *, status: str, now: datetime, out: Path,
                 public: bool = False) -> tuple[dict[str, Any], dict[str, Any], dict[str, pd.DataFrame]]:
    """(template context, summary.json content, CSV frames) of one scope — no version fields yet."""
    names = content.Names(data.registry)
    table = figures.compliance_table(data)
    monthly, daily_mass = figures.emissions(data)
    ex = figures.exceedance_list(data)
    episodes = figures.exceedance_episodes(data)
    ent_cards = figures.entity_cards(data, "enterprise")
    zone_cards = figures.entity_cards(data, "zone") if scope.zone is None else pd.DataFrame()
    enterprise_cards = content.card_rows(ent_cards, "enterprise", names,
                                         _previous_cards(out, data.month, scope, "enterprise"))
    zone_card_rows = content.card_rows(zone_cards, "zone", names, _previous_cards(out, data.month, scope, "zone")) \
        if scope.zone is None else []
    components = versions.data_components(data)
    version = versions.data_version(components)
    cap = figures.capture_by_parameter(data)
    headline = {
        "judged_windows": int(table["judged"].sum()) if not table.empty else 0,
        "exceeding_windows": len(ex),
        "exceeding_series": int((table["over"] > 0).sum()) if not table.empty else 0,
        "effective_transmission_pct": figures.effective_transmission(cap),
        "emission_kg": {str(k): float(v) for k, v in monthly.groupby("parameter")["mass_kg"].sum().items()}
        if not monthly.empty else {},
        "incidents": len(data.incidents),
        "incidents_open": int((data.incidents["status"] != "closed").sum()) if not data.incidents.empty else 0,
        "quarantined": int(data.quarantine["count"].sum()) if not data.quarantine.empty else 0,
        "complaints": len(data.complaints), "inspections": len(data.inspections),
        "provisional_limits_applied": int((table["limit_status"] == "provisional").sum()) if not table.empty else 0,
    }
    summary: dict[str, Any] = {
        "report": "monthly", "month": data.month.label, "scope": scope.key,
        "zone": scope.zone, "enterprise": scope.enterprise, "status": status,
        "review_deadline": data.month.review_deadline.tz_convert(LOCAL_TZ).isoformat(),
        "data_version": version, "data_components": components, "headline": headline,
        "enterprises": ent_cards.to_dict("records"),
        "zones": zone_cards.to_dict("records") if scope.zone is None else [],
        "missing_sources": data.missing,
        "environment": _environment_summary(data),
    }
    # sections
    if scope.zone is None:                      # county: exceeding series only, per-point detail is in the zones
        shown = table[table["over"] > 0]
        compliance_note = (f"全县共 {len(table)} 个判定项，此处列出本月有超标的 {len(shown)} 项；"
                           "全部判定项见各集聚区报告与 points.csv。")
    elif scope.enterprise is None:              # cluster: exceptions here, every item in the annexes
        shown = table[table["over"] > 0]
        compliance_note = (f"本集聚区共 {len(table)} 个判定项，此处列出本月有超标的 {len(shown)} 项；"
                           "各企业全部判定项见附件，全部数据见 points.csv。")
    else:
        shown, compliance_note = table, ""
    noise = figures.noise_table(data, table)
    water = figures.water_table(data, table)
    air_table = shown[~shown["kind"].isin(["noise", "wastewater", "plant_effluent"])]
    lmax = data.evaluation.assessments
    lmax = lmax[(lmax["check"] == "lmax_night") & (lmax["verdict"] == "exceeds")]
    daily = figures.daily_means(data)
    history = _history(out, data.month, scope, "zone" if scope.zone is None else "enterprise")
    current_key = "zone" if scope.zone is None else "enterprise"
    cards_now = zone_cards if scope.zone is None else ent_cards
    history[data.month.label] = dict(zip(cards_now[current_key], cards_now["status"], strict=True)) \
        if not cards_now.empty else {}
    months = [data.month.previous(k).label for k in range(11, 0, -1)] + [data.month.label]
    strip_rows = list(cards_now[current_key]) if not cards_now.empty else []
    all_points = data.points[data.points["online"].astype(bool)]["point"].tolist()
    coverage = figures.data_coverage(data)
    coverage_text = (f"本月在线数据覆盖 {coverage[0]:%m-%d} 至 {coverage[1]:%m-%d}（有数据 {coverage[2]} 天，"
                     f"全月 {len(data.month.days)} 天）" if coverage else "本月无在线数据")
    ctx: dict[str, Any] = {
        "title": _title(data, scope, names), "status": status, "status_zh": STATUS_ZH[status],
        "month_zh": data.month.label_zh, "public": public, "single": bool(scope.enterprise),
        "period_text": f"{data.month.first_day:%Y-%m-%d} 00:00 至 {data.month.next_first_day:%Y-%m-%d} 00:00",
        "deadline_text": data.month.review_deadline.tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        "generated_text": pd.Timestamp(now).tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        "data_version": version, "data_version_short": version[:12], "components": components,
        "review_day": data.month.review_day, "source_zh": SOURCE_ZH, "missing": data.missing,
        "provisional_used": headline["provisional_limits_applied"] > 0,
        "coverage_text": coverage_text,
        "zone_cards": zone_card_rows, "enterprise_cards": enterprise_cards,
        "strip_svg": content.status_strip_svg(history, names, months, strip_rows) if strip_rows else None,
        "compliance": content.compliance_rows(air_table, names), "compliance_note": compliance_note,
        "compliance_empty": data.missing.get("readings") or ("本月无废气超标判定项" if not scope.enterprise
                                                             else "本月无废气判定项"),
        "exceedances": _exceedance_rows(episodes, names), "exceedance_count": len(ex),
        "episode_count": len(episodes),
        "emissions": content.section_emissions(monthly, names) if scope.zone is not None
        else content.section_emissions_by_enterprise(monthly, names),
        "mass_svg": content.mass_chart(data, daily_mass),
        "heatmap_svg": content.charts.capture_heatmap(content._capture_matrix(data, all_points), data.month.days,
                                                      title="数据采集（日 × 时，全部在线监测点）", legend=False)
        if all_points else None,
        "quality": content.section_quality(data, names, by_enterprise=scope.zone is None),
        "noise": content.compliance_rows(noise if scope.enterprise else noise[noise["over"] > 0], names),
        "noise_events": [{"point": f"{r['point']} {names.point(r['point'])}",
                          "start": figures.local_text(r["window_start"]), "value": content.num(r["value"]),
                          "limit": content.num(r["limit"])} for r in lmax.head(100).to_dict("records")],
        "water": content.compliance_rows(water if scope.enterprise else water[water["over"] > 0], names),
        "environment": content.section_environment(data, names),
        "hw": content.section_hw(data, names),
        "incidents": content.section_incidents(data, names, public),
        "inspections": content.section_inspections(data, names, pd.Timestamp(now).tz_convert(LOCAL_TZ)),
        "method": content.section_method(data),
        "point_charts": [], "noise_svgs": [], "annexes": [], "changes": [],
        "charts_note": "各集聚区报告含各监测点图表" if scope.zone is None else "各企业监测点图表见附件",
    }
    if scope.enterprise:
        pts = data.points[data.points["online"].astype(bool)]
        aw = pts[pts["kind"].isin(["stack", "fugitive", "insite_vocs", "wastewater", "plant_effluent"])]["point"]
        ctx["point_charts"] = content.point_charts(data, names, aw.tolist(), daily)
        npts = pts[pts["kind"] == "noise"]["point"].tolist()
        ctx["noise_svgs"] = [s for s in [content.noise_chart(data, names, npts)] if s] if npts else []
    elif scope.zone is not None:
        ctx["annexes"] = [_annex(data, e.code, names, enterprise_cards, daily, monthly, table)
                          for e in data.enterprises]
    frames = {"points": table, "emissions": monthly, "exceedances": ex}
    return ctx, summary, frames


def write_scope(data: MonthData, scope: Scope, *, status: str, now: datetime, out: Path,
                public_dir: Path | None = None) -> ScopeResult:
    """Compute, decide the version, and (if something changed) write and keep one scope's report."""
    t0, c0 = time.perf_counter(), time.process_time()
    directory = writers.report_dir(out, out / data.month.label / scope.key)
    ctx, summary, frames = scope_report(data, scope, status=status, now=now, out=out)
    t1 = time.perf_counter()
    decision = versions.decide(directory, summary, frames["points"])
    files = [directory / f for f in OUTPUT_FILES]
    if decision.action == "unchanged" and all(f.exists() for f in files):
        return ScopeResult(scope, directory, "unchanged", decision.number, status, files,
                           {"figures": t1 - t0})
    summary.update(version=decision.number, issued_at=pd.Timestamp(now).tz_convert(LOCAL_TZ).isoformat(),
                   changes=decision.changes)
    ctx.update(version=decision.number, changes=content.changes_zh(decision.changes, content.Names(data.registry)))
    writers.write_points(frames["points"], directory / "points.csv")
    writers.write_emissions(frames["emissions"], directory / "emissions.csv")
    writers.write_exceedances(frames["exceedances"], directory / "exceedances.csv")
    writers.write_summary(summary, directory / "summary.json")
    t2 = time.perf_counter()
    html = render_html(ctx)
    writers._replace(directory / "report.html", html)
    t3 = time.perf_counter()
    write_pdf(html, directory / "report.pdf")
    t4 = time.perf_counter()
    versions.keep_version(directory, decision.number, files,
                          versions.issued_entry(decision.number, summary, now, len(decision.changes)))
    if public_dir is not None:
        _publish(data, scope, ctx, public_dir, public_dir / data.month.label / scope.key)
    t5 = time.perf_counter()
    return ScopeResult(scope, directory, "issued", decision.number, status, files,
                       {"figures+charts": t1 - t0, "csv+json": t2 - t1, "html": t3 - t2, "pdf": t4 - t3,
                        "keep+publish": t5 - t4, "cpu": time.process_time() - c0}, len(decision.changes))


def _publish(data: MonthData, scope: Scope, ctx: dict[str, Any], root: Path, target: Path) -> None:
    """The public version: same figures, no personal data (handlers' names, complaint texts)."""
    writers.report_dir(root, target, writers.PUBLIC)
    public_ctx = dict(ctx, public=True,
                      incidents=content.section_incidents(data, content.Names(data.registry), public=True))
    html = render_html(public_ctx)
    writers._replace(target / "report.html", html, writers.PUBLIC)
    write_pdf(html, target / "report.pdf", writers.PUBLIC)


# ---------------------------------------------------------------------------------------------------
_SHARED: dict[str, Any] = {}


def _run_scope(scope: Scope) -> ScopeResult:
    d = _SHARED
    with fewer_collections():
        data = d["data"].select(zone=scope.zone, enterprise=scope.enterprise) \
            if (scope.zone is not None and d["data"].zone is None) or scope.enterprise else d["data"]
        return write_scope(data, scope, status=d["status"], now=d["now"], out=d["out"],
                           public_dir=d["public_dir"])


def build_monthly(settings: Settings, month: str | ReportMonth, *, zone: str | None = None,
                  enterprise: str | None = None, out: Path | None = None, now: datetime | None = None,
                  store: Any = None, registry: Any = None, catalogue: Any = None, workers: int | None = None,
                  publish: bool = False) -> BuildResult:
    """Build the reports of ``month`` (``YYYY-MM``). See the module docstring for scopes and files."""
    from limits.catalogue import load_catalogue
    from monitoring.registry import load_registry

    timings: dict[str, float] = defaultdict(float)
    t0 = time.perf_counter()
    now = now or datetime.now(UTC)
    rm = month if isinstance(month, ReportMonth) else ReportMonth.parse(month, settings.report_review_day)
    registry = registry or load_registry(settings.registry_path)
    catalogue = catalogue or load_catalogue(settings.limits_override or None)
    if store is None:
        from monitoring.ingest import store_from_settings

        store = store_from_settings(settings)
    if zone is not None:
        zone = registry.find_zone(zone).id
    if enterprise is not None:
        if enterprise not in registry.enterprises:
            raise KeyError(f"unknown enterprise {enterprise!r}")
        zone = registry.enterprises[enterprise].zone
        scopes = [Scope(zone, enterprise)]
    elif zone is not None:
        scopes = [Scope(zone)]
    else:
        scopes = [Scope(z) for z in registry.zones] + [Scope(None)]
    out = Path(out) if out is not None else settings.reports_dir
    timings["setup"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    with fewer_collections():    # the query answers are millions of short-lived lists (JSON rows)
        data = gather_month(settings, rm, store=store, registry=registry, catalogue=catalogue, zone=zone)
    timings["gather (InfluxDB + SQL)"] = time.perf_counter() - t1
    status = rm.status(now)
    _SHARED.update(data=data, status=status, now=now, out=out,
                   public_dir=settings.public_reports_dir if publish else None)
    # forked workers only when asked for (CLI, bench): forking a process that runs other threads (an Airflow
    # task, a test runner) can deadlock in the child on a lock held by a thread that was not copied
    workers = workers if workers is not None else 1
    t2 = time.perf_counter()
    froze = False
    try:
        if workers > 1 and len(scopes) > 1:
            ctx = multiprocessing.get_context("fork")
            # the gathered month (~0.7 GB of frames, registry, catalogue) moves to the collector's permanent
            # generation before the fork: the workers' collections never walk it (nor copy its pages by
            # touching their headers)
            gc.collect()
            gc.freeze()
            froze = True
            with ctx.Pool(workers) as pool:
                # the county first: it is the largest and should not be the straggler
                order = sorted(scopes, key=lambda s: s.zone is not None)
                results = pool.map(_run_scope, order, chunksize=1)
            results = sorted(results, key=lambda r: scopes.index(r.scope))
        else:
            results = [_run_scope(s) for s in scopes]
    finally:
        _SHARED.clear()
        if froze:   # only what this call froze: an in-process build leaves a caller's frozen objects alone
            gc.unfreeze()
    timings["scopes (wall)"] = time.perf_counter() - t2
    for r in results:
        for k, v in r.timings.items():
            timings[f"  {k} (summed over scopes)"] += v
    timings["total"] = time.perf_counter() - t0
    return BuildResult(rm, results, dict(timings))
