"""``/console/incidents`` — the inbox and one incident's handling (报警 → 认领 → 核实 → 处置 → 反馈 → 办结).

Notification links (``ENVMON_PUBLIC_URL`` + ``/console/incidents/<id>``) open :func:`incident_page`.
Every step is a POST with the CSRF token; a refused step shows its reason on the page (409).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from markupsafe import Markup

from monitoring.attachments import MAX_ATTACHMENT_BYTES
from monitoring.casework import FINDINGS, REASONS, STAGES, CaseError
from monitoring.config import LOCAL_TZ
from monitoring.console import queries
from monitoring.console.views import Handler, Reader, console, render, status_zh
from monitoring.incidents import SEVERITY_NAMES, IncidentError
from sensors.parameters import load_parameter_table

router = APIRouter()


def _parameter_names() -> dict[str, str]:
    """Code → Chinese name, from the parameter table (:mod:`sensors.parameters`)."""
    return load_parameter_table().names_zh()


def _inbox_rows(request: Request, show: str) -> dict:
    c = console(request)
    incidents = c.casework.incidents.list(open_only=(show != "all"))
    if show == "all":
        incidents = incidents[:500]
    cases = c.casework.cases([i.id for i in incidents]) if incidents else {}
    now = datetime.now(UTC)
    rows = [(i, cases[i.id], cases[i.id].overdue_seconds(now)) for i in incidents if i.id in cases]
    if show != "all":
        rows = [r for r in rows if r[1].stage != "closed"]
    rows.sort(key=lambda r: (-(r[2] > 0), -r[0].severity, -r[0].id))
    return {"rows": rows, "show": show, "names": _parameter_names(), "stages": STAGES, "now": now}


def _inbox_table(request: Request, show: str) -> Markup:
    """The inbox table as HTML, rendered once per incident-store stamp and minute (the overdue times
    are shown to the minute) and shared by every user: it holds nothing user-specific."""
    from monitoring.console.cache import cached, incidents_stamp

    c = console(request)
    show = "all" if show == "all" else "open"

    def draw() -> Markup:
        ctx = _inbox_rows(request, show)
        ctx["zone_names"] = {z.id: z.name_zh for z in c.registry.zones.values()}
        return Markup(c.templates.get_template("_incident_rows.html").render(ctx))

    minute = int(datetime.now(UTC).timestamp() // 60)
    return cached(("inbox", c.sql_url, show, incidents_stamp(c.sql_url), minute), draw)


@router.get("/console/incidents")
def inbox(request: Request, user: Reader, show: str = "open"):
    return render(request, "incidents.html", {"show": show, "table": _inbox_table(request, show)})


@router.get("/console/incidents/rows")
def inbox_rows(request: Request, user: Reader, show: str = "open"):
    """The inbox table alone (htmx refreshes it every 30 s)."""
    return HTMLResponse(_inbox_table(request, show))


@router.get("/incidents/{incident_id}")
def legacy_link(incident_id: int):
    """Links sent before the console existed (``{ENVMON_PUBLIC_URL}/incidents/<id>``)."""
    return RedirectResponse(f"/console/incidents/{incident_id}", status_code=308)


def _incident_record(c, incident_id: int) -> tuple | None:
    """(incident, case, audit trail, evidence) of one incident, or None when it does not exist."""
    try:
        inc = c.casework.incidents.get(incident_id)
    except IncidentError:
        return None
    case = c.casework.case(incident_id)
    trail = [(e.at, e.actor, {"open": "报警（系统开启）", "acknowledge": "确认", "close": "关闭", "escalate": "未确认升级",
                               "update": "数据更新", "clear": "恢复达标", "reopen": "重新开启"}.get(e.action, e.action),
              e.note or "") for e in c.casework.incidents.history(incident_id)]
    trail += [(st.at, st.actor, st.action_zh, "；".join(x for x in (st.code_zh, st.note or "",
              f"期限 {st.due_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}" if st.due_at else "") if x))
              for st in c.casework.steps(incident_id)]
    trail.sort(key=lambda t: t[0])
    return inc, case, trail, c.casework.evidence(incident_id)


def _page(request: Request, incident_id: int, *, error: str | None = None, status_code: int = 200):
    from monitoring.console.cache import cached, incidents_stamp

    c = console(request)
    record = cached(("incident", c.sql_url, incident_id, incidents_stamp(c.sql_url)),
                    lambda: _incident_record(c, incident_id))
    if record is None:
        return render(request, "error.html", {"title": "事件不存在", "message": f"没有编号为 {incident_id} 的事件。"},
                      status_code=404)
    inc, case, trail, evidence = record
    now = datetime.now(UTC)
    return render(request, "incident.html", {
        "inc": inc, "case": case, "trail": trail, "evidence": evidence,
        "now": now, "overdue": case.overdue_seconds(now), "stages": STAGES, "findings": FINDINGS,
        "reasons": REASONS, "names": _parameter_names(), "error": error, "severity_names": SEVERITY_NAMES,
        "max_mb": MAX_ATTACHMENT_BYTES // (1024 * 1024),
        "point": c.registry.points.get(inc.point), "enterprise": c.registry.enterprises.get(inc.enterprise or ""),
        "has_chart": inc.kind != "data_missing",          # the chart itself says 无数据 when empty
        **(_likely_sources(c, inc) if inc.kind == "ambient" else {}),
    }, status_code=status_code)


def _likely_sources(c, inc) -> dict:
    """For an ambient-air incident: the cluster's stacks and fugitive points whose related readings rose
    in the exceedance hours (:func:`monitoring.compliance.sources.sources_for_incident`), once per
    incident version (InfluxDB is read once, not per page view). ``sources_note`` says why there is no
    list (no InfluxDB configured, or it failed)."""
    import logging

    from monitoring.console.cache import cached

    def compute() -> dict:
        from monitoring.compliance.sources import sources_for_incident
        from monitoring.ingest import store_from_settings

        if inc.started_at is None or inc.last_exceed_at is None:
            return {"sources": None, "sources_note": "事件尚无超标时段。"}
        try:
            store = store_from_settings(c.settings, required=False)
            if store is None:
                return {"sources": None, "sources_note": "未配置 InfluxDB，无法比对污染源数据。"}
            try:
                df = sources_for_incident(store, c.registry, inc)
            finally:
                store.close()
        except Exception as exc:
            logging.getLogger("envmon.console").exception("likely sources of incident #%s", inc.id)
            return {"sources": None, "sources_note": f"污染源数据比对失败：{exc}"}
        kinds = {"stack": "有组织排放口", "fugitive": "厂界无组织"}
        rows = [{**r, "kind_zh": kinds.get(r["kind"], r["kind"]),
                 "enterprise_name": getattr(c.registry.enterprises.get(r["enterprise"] or ""), "name", r["enterprise"]),
                 "point_name": getattr(c.registry.points.get(r["point"]), "name", r["point"])}
                for r in df.to_dict("records")]
        return {"sources": rows, "sources_note": None}

    return cached(("sources", c.sql_url, inc.id, inc.updated_at.isoformat()), compute, slow=True)


@router.get("/console/incidents/{incident_id}")
def incident_page(request: Request, user: Reader, incident_id: int):
    return _page(request, incident_id)


def _step(request: Request, incident_id: int, action, *args, **kwargs):
    try:
        action(incident_id, *args, **kwargs)
    except (CaseError, IncidentError) as exc:
        return _page(request, incident_id, error=str(exc), status_code=409)
    return RedirectResponse(f"/console/incidents/{incident_id}", status_code=303)


@router.post("/console/incidents/{incident_id}/claim")
def claim(request: Request, user: Handler, incident_id: int, assignee: str = Form(""), note: str = Form("")):
    return _step(request, incident_id, console(request).casework.claim, by=user.name,
                 assignee=assignee.strip() or None, note=note)


@router.post("/console/incidents/{incident_id}/verify")
def verify(request: Request, user: Handler, incident_id: int, finding: str = Form(...), note: str = Form("")):
    return _step(request, incident_id, console(request).casework.verify, by=user.name, finding=finding, note=note)


@router.post("/console/incidents/{incident_id}/decide")
def decide(request: Request, user: Handler, incident_id: int, reason: str = Form(...), due: str = Form(""),
           note: str = Form("")):
    try:
        due_at = datetime.combine(date.fromisoformat(due), time(18, 0), tzinfo=LOCAL_TZ)
    except ValueError:
        return _page(request, incident_id, error="请填写处置期限（日期）。", status_code=409)
    return _step(request, incident_id, console(request).casework.decide, by=user.name, reason=reason,
                 due_at=due_at, note=note)


@router.post("/console/incidents/{incident_id}/feedback")
def feedback(request: Request, user: Handler, incident_id: int, note: str = Form("")):
    return _step(request, incident_id, console(request).casework.feedback, by=user.name, note=note)


@router.post("/console/incidents/{incident_id}/evidence")
async def evidence(request: Request, user: Handler, incident_id: int, note: str = Form(""),
                   attachment: Annotated[UploadFile | None, File()] = None):
    from starlette.concurrency import run_in_threadpool
    data = await attachment.read(MAX_ATTACHMENT_BYTES + 1) if attachment is not None else b""
    name = attachment.filename if attachment is not None else None
    return await run_in_threadpool(_step, request, incident_id, console(request).casework.add_evidence,
                                   by=user.name, note=note, filename=name, data=data or None)


@router.post("/console/incidents/{incident_id}/close")
def close(request: Request, user: Handler, incident_id: int, note: str = Form("")):
    return _step(request, incident_id, console(request).casework.close, by=user.name, note=note)


@router.get("/console/incidents/{incident_id}/evidence/{evidence_id}")
def evidence_file(request: Request, user: Reader, incident_id: int, evidence_id: int):
    try:
        path, ev = console(request).casework.evidence_file(incident_id, evidence_id)
    except CaseError as exc:
        return render(request, "error.html", {"title": "附件不存在", "message": str(exc)}, status_code=404)
    return FileResponse(path, media_type=ev.content_type, filename=ev.filename,
                        content_disposition_type="attachment")


@router.get("/console/incidents/{incident_id}/chart.svg")
def incident_chart(request: Request, user: Reader, incident_id: int):
    """The series' windows from a day before to a day after the incident, against the limit."""
    from monitoring.console.charts import svg_response
    c = console(request)
    try:
        inc = c.casework.incidents.get(incident_id)
    except IncidentError:
        return render(request, "error.html", {"title": "事件不存在", "message": ""}, status_code=404)
    return svg_response(incident_chart_svg(c, inc))


def incident_chart_svg(c, inc) -> str:
    """The incident's chart, drawn once per incident version (memory, then the shared disk cache)."""
    from monitoring.console.charts import cached, windows_chart

    title = f"{inc.point} {_parameter_names().get(inc.parameter, inc.parameter)}（限值来源：{status_zh(inc.limit_status)}）"
    return cached(("incident", c.sql_url, inc.id, inc.updated_at.isoformat()), lambda: windows_chart(
        queries.series_windows(c.sql_url, inc.id), title=title, unit=inc.unit or ""), c.chart_dir)


def prewarm_charts(c, limit: int = 300) -> int:
    """Draw ahead the charts of open incidents not drawn yet (one server process at a time: a lock file in
    the chart folder), so that an operator opening an incident finds its chart ready. Returns how many
    were drawn."""
    import fcntl
    import os

    from monitoring.console.charts import is_cached

    c.chart_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(c.chart_dir / ".prewarm.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0                      # another worker is at it
        drawn = 0
        for inc in c.casework.incidents.list(open_only=True)[:limit]:
            if inc.kind == "data_missing":
                continue
            if not is_cached(("incident", c.sql_url, inc.id, inc.updated_at.isoformat()), c.chart_dir):
                incident_chart_svg(c, inc)
                drawn += 1
        return drawn
    finally:
        os.close(fd)
