"""``/public/…`` — 一公开: clusters and enterprises, published 双随机 results, the complaint form.

Only what may be published: registry facts (names, industries), published inspection results
(:data:`monitoring.roster.publication.PUBLIC_COLUMNS`), and for complaints the receipt's status and
public answer. Never inspectors' or complainants' personal data, internal notes or unreviewed data
(the monitoring readings themselves are not shown here: only reviewed monthly reports are public — except
the air quality index of the clusters' ambient stations, the real-time index HJ 633-2012 publishes hourly,
marked as unreviewed automatic data).
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from monitoring.complaints import ComplaintError, ComplaintRateLimited, receipt_status, submit_public
from monitoring.console.views import console, render

router = APIRouter(prefix="/public")


def _published_results(request: Request):
    """Published 双随机 results (rows of the public CSVs written by ``envmon roster publish``)."""
    import pandas as pd
    folder = console(request).settings.public_dir
    frames = []
    for path in sorted(folder.glob("roster-*.csv")):
        try:
            frames.append(pd.read_csv(path, dtype=str, encoding="utf-8-sig"))
        except (OSError, ValueError, pd.errors.ParserError):
            continue
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@router.get("/")
def public_home(request: Request):
    c = console(request)
    zones = [(z, c.registry.enterprises_of(z.id)) for z in c.registry.zones.values()]
    results = _published_results(request)
    from monitoring.console.aqi_view import cached_station_aqi, categories
    return render(request, "public/home.html", {"zones": zones, "results_count": len(results),
                                                "aqi": cached_station_aqi(c.settings, c.registry),
                                                "aqi_categories": categories()})


@router.get("/zones/{zone_id}")
def public_zone(request: Request, zone_id: str):
    c = console(request)
    zone = c.registry.zones.get(zone_id)
    if zone is None:
        return render(request, "error.html", {"title": "未找到", "message": "没有这个集聚区。"}, status_code=404)
    results = _published_results(request)
    if not results.empty and "所在集聚区" in results:
        results = results[results["所在集聚区"].isin([zone.id, zone.name_zh])]
    return render(request, "public/zone.html", {"zone": zone, "enterprises": c.registry.enterprises_of(zone.id),
                                                "results": results})


@router.get("/enterprises/{code}")
def public_enterprise(request: Request, code: str):
    c = console(request)
    ent = c.registry.enterprises.get(code)
    if ent is None:
        return render(request, "error.html", {"title": "未找到", "message": "没有这个企业。"}, status_code=404)
    results = _published_results(request)
    if not results.empty and "企业编码" in results:
        results = results[results["企业编码"] == code]
    from monitoring.console.reports_index import enterprise_status, public_reports
    monthly = enterprise_status(public_reports(c.settings.reports_dir, c.settings.public_reports_dir), code)
    return render(request, "public/enterprise.html", {"ent": ent, "zone": c.registry.zones.get(ent.zone),
                                                      "results": results, "monthly": monthly})


def _past_plans(request: Request) -> list[tuple[str, list[dict]]]:
    """双随机 plans after the fact: the drawn enterprises of periods that have ended (no inspectors, no
    notes, no seeds), newest period first."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from monitoring.config import LOCAL_TZ
    from monitoring.db import session_scope
    from monitoring.roster import tables
    from monitoring.roster.period import Period
    from monitoring.roster.publication import MODES
    c = console(request)
    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    plans: dict[str, list[dict]] = {}
    with session_scope(c.sql_url) as s:
        draws = [d for d in tables.active_draws(s) if Period.parse(d.period).end < today]
        if not draws:
            return []
        done = set(s.scalars(select(tables.ResultRow.task_id)))
        for t in s.scalars(select(tables.TaskRow).where(tables.TaskRow.record_id.in_([d.record_id for d in draws]))
                           .order_by(tables.TaskRow.task_id)):
            ent = c.registry.enterprises.get(t.enterprise)
            plans.setdefault(t.period, []).append({
                "task_id": t.task_id, "enterprise": ent.name if ent else t.enterprise,
                "zone": c.registry.zones[t.zone].name_zh if t.zone in c.registry.zones else t.zone,
                "mode": MODES.get(t.mode, t.mode), "done": t.task_id in done})
    return sorted(plans.items(), reverse=True)


@router.get("/results")
def public_results(request: Request):
    return render(request, "public/results.html", {"results": _published_results(request),
                                                   "plans": _past_plans(request)})


@router.get("/complaints/new")
def complaint_form(request: Request):
    return render(request, "public/complaint_form.html", {"zones": list(console(request).registry.zones.values()),
                                                          "form": {}})


@router.post("/complaints")
def complaint_submit(request: Request, what: str = Form(""), where: str = Form(""), when: str = Form(""),
                     contact: str = Form(""), zone: str = Form("")):
    c = console(request)
    form = {"what": what, "where": where, "when": when, "contact": contact, "zone": zone}
    zones = list(c.registry.zones.values())
    if zone and zone not in c.registry.zones:
        zone = ""
    try:
        receipt = submit_public(c.sql_url, what=what, where=where, when=when, contact=contact or None,
                                zone=zone or None, client=request.client.host if request.client else None)
    except ComplaintRateLimited as exc:
        return render(request, "public/complaint_form.html",
                      {"zones": zones, "form": form,
                       "error": f"提交过于频繁，请 {exc.retry_after // 60 + 1} 分钟后再试，或拨打 12369 环保举报热线。"},
                      status_code=429)
    except ComplaintError as exc:
        return render(request, "public/complaint_form.html", {"zones": zones, "form": form,
                                                              "error": f"请检查填写内容：{exc}"}, status_code=422)
    return RedirectResponse(f"/public/complaints/receipt?no={receipt}&new=1", status_code=303)


@router.get("/complaints/receipt")
def complaint_receipt(request: Request, no: str = "", new: int = 0):
    status = receipt_status(console(request).sql_url, no) if no else None
    return render(request, "public/receipt.html", {"no": no, "status": status, "new": bool(new)},
                  status_code=200 if status or not no else 404)
