"""``/console/inspections`` — 双随机: draw (with a confirmation step and a reason when replacing), verify
(replay), the roster, result entry per task (checklist and photos), publication deadlines (20 working
days), publish.

Inspectors see and record only their own tasks (their account's ``inspector_id`` is on the task's team);
operators everything; leaders read. The roster is internal (检查前保密): staff pages only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy import select
from starlette.datastructures import UploadFile

from monitoring.attachments import (
    MAX_ATTACHMENT_BYTES,
    AttachmentError,
    InspectionPhoto,
    check_attachment,
    write_private,
)
from monitoring.config import LOCAL_TZ
from monitoring.console.users import User
from monitoring.console.views import Handler, Reader, ResultRecorder, console, render
from monitoring.db import session_scope
from monitoring.roster import tables
from monitoring.roster.period import Period, PeriodError
from monitoring.roster.publication import (
    MODES,
    OUTCOMES,
    deadlines,
    publish_period,
    record_result,
    results_frame,
)
from monitoring.roster.records import RosterError

router = APIRouter(prefix="/console/inspections")

#: the checklist of a result (检查要点); answers go into the internal note of the result
CHECKLIST: dict[str, str] = {
    "facilities": "污染防治设施正常运行",
    "online": "在线监测设备正常运行、数据真实",
    "permit": "按排污许可证要求排污",
    "hazardous_waste": "危险废物贮存、转移规范",
    "ledger": "环境管理台账完整",
}
ANSWERS = {"yes": "是", "no": "否", "na": "不适用"}


@dataclass
class TaskView:
    task_id: str
    record_id: str
    period: str
    enterprise: str
    name: str
    zone: str
    mode: str
    inspectors: list[str]
    inspector_names: list[str]
    result: dict | None


def _all_tasks(c) -> list[TaskView]:
    res = results_frame(c.settings)
    by_task = {r["task_id"]: r for r in res.to_dict("records")}
    out: list[TaskView] = []
    with session_scope(c.sql_url) as s:
        draws = tables.active_draws(s)
        names: dict[str, dict[str, str]] = {}
        for d in draws:
            rec = tables.record_json(d)
            names[d.record_id] = {i["id"]: i["name"] for i in rec["inputs"]["inspector_directory"]["inspectors"]}
        tasks = s.scalars(select(tables.TaskRow).where(tables.TaskRow.record_id.in_([d.record_id for d in draws]))
                          .order_by(tables.TaskRow.period.desc(), tables.TaskRow.task_id)).all()
        for t in tasks:
            ent = c.registry.enterprises.get(t.enterprise)
            out.append(TaskView(t.task_id, t.record_id, t.period, t.enterprise, ent.name if ent else t.enterprise,
                                t.zone, t.mode, list(t.inspectors),
                                [names.get(t.record_id, {}).get(i, i) for i in t.inspectors], by_task.get(t.task_id)))
    return out


def roster_stamp(sql_url: str) -> tuple:
    """Changes whenever a draw, a supersession, a result or a publication is recorded (one round trip)."""
    from sqlalchemy import func

    t = tables
    with session_scope(sql_url) as s:
        return tuple(s.execute(select(
            select(func.count(t.DrawRow.record_id)).scalar_subquery(),
            select(func.max(t.DrawRow.drawn_at)).scalar_subquery(),
            select(func.count(t.SupersessionRow.record_id)).scalar_subquery(),
            select(func.count(t.ResultRow.task_id)).scalar_subquery(),
            select(func.max(t.ResultRow.recorded_at)).scalar_subquery(),
            select(func.count(t.PublicationRow.task_id)).scalar_subquery(),
            select(func.max(t.PublicationRow.published_at)).scalar_subquery())).one())


def _roster(c, today: date) -> tuple[list[TaskView], list[tuple], object]:
    """Every active task, the active draws and the publication deadlines, computed once per roster stamp
    and day (:mod:`monitoring.console.cache`); callers filter what a user may see."""
    from monitoring.console.cache import cached

    def compute():
        with session_scope(c.sql_url) as s:
            draws = [(d.record_id, d.period, d.scope, d.drawn_at, d.drawn_by) for d in tables.active_draws(s)]
        return _all_tasks(c), draws, deadlines(c.settings, today)

    return cached(("roster", c.sql_url, roster_stamp(c.sql_url), today), compute)


def _tasks(request: Request, user: User) -> list[TaskView]:
    """The tasks ``user`` may see: an inspector only those of teams they are on."""
    c = console(request)
    tasks = _roster(c, datetime.now(UTC).astimezone(LOCAL_TZ).date())[0]
    if user.role == "inspector":
        tasks = [t for t in tasks if user.inspector_id and user.inspector_id in t.inspectors]
    return tasks


def _next_period() -> str:
    return str(Period.containing(datetime.now(UTC).astimezone(LOCAL_TZ).date()).next())


@router.get("")
def inspections_page(request: Request, user: Reader, published: str | None = None, n: int = 0):
    note = f"{published} 已公开，新公开 {n} 条结果。" if published else None
    return inspections(request, user, note=note)


def inspections(request: Request, user: User, error: str | None = None, status_code: int = 200,
                note: str | None = None):
    c = console(request)
    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    tasks = _tasks(request, user)
    _, draws, due = _roster(c, today)
    if user.role == "inspector":
        mine = {t.task_id for t in tasks}
        due = due[due["task_id"].isin(mine)] if not due.empty else due
        draws = [d for d in draws if any(t.record_id == d[0] for t in tasks)]
    return render(request, "inspections.html", {
        "tasks": tasks, "draws": draws, "deadlines": due.to_dict("records") if not due.empty else [],
        "modes": MODES, "outcomes": OUTCOMES, "next_period": _next_period(), "zones": c.registry.zones.values(),
        "error": error, "note": note, "periods": sorted({t.period for t in tasks}, reverse=True), "today": today,
    }, status_code=status_code)


@router.post("/draw/confirm")
def draw_confirm(request: Request, user: Handler, period: Annotated[str, Form()] = "",
                 zone: Annotated[str, Form()] = ""):
    """The confirmation step: what will be drawn, and whether it replaces a draw (then a reason)."""
    c = console(request)
    try:
        p = Period.parse(period.strip())
    except PeriodError as exc:
        return inspections(request, user, error=str(exc), status_code=409)
    scope = zone or "county"
    with session_scope(c.sql_url) as s:
        clashing = [d.record_id for d in tables.active_draws(s, p) if d.scope in ("county", scope) or scope == "county"]
    return render(request, "inspection_draw_confirm.html", {
        "period": str(p), "zone": zone, "zone_name": c.registry.zones[zone].name_zh if zone in c.registry.zones else "全县",
        "clashing": clashing})


@router.post("/draw")
def draw(request: Request, user: Handler, period: Annotated[str, Form()], zone: Annotated[str, Form()] = "",
         replace_reason: Annotated[str, Form()] = "", confirmed: Annotated[str, Form()] = ""):
    from monitoring.roster.records import run_draw
    c = console(request)
    if confirmed != "yes":
        return inspections(request, user, error="抽取须先确认。", status_code=409)
    try:
        rec = run_draw(c.settings, period, zone=zone or None, by=user.name,
                       replace_reason=replace_reason.strip() or None)
    except (RosterError, PeriodError, ValueError, KeyError) as exc:
        return inspections(request, user, error=f"抽取未完成：{exc}", status_code=409)
    return RedirectResponse(f"/console/inspections/records/{rec['record_id']}", status_code=303)


@router.get("/records/{record_id}")
def record_page(request: Request, user: Reader, record_id: str):
    from monitoring.roster.verify import verify_record
    c = console(request)
    tasks = [t for t in _tasks(request, user) if t.record_id == record_id]
    if user.role == "inspector" and not tasks:
        return render(request, "error.html", {"title": "无权访问", "message": "这不是您的检查任务。"}, status_code=403)
    with session_scope(c.sql_url) as s:
        row = s.get(tables.DrawRow, record_id)
        rec = tables.record_json(row) if row else None
    if rec is None:
        return render(request, "error.html", {"title": "记录不存在", "message": record_id}, status_code=404)
    verification = verify_record(c.settings, record_id, registry=c.registry) if request.query_params.get("verify") \
        else None
    return render(request, "inspection_record.html", {"rec": rec, "tasks": tasks, "modes": MODES,
                                                      "outcomes": OUTCOMES, "verification": verification})


def _task_or_none(request: Request, user: User, task_id: str) -> TaskView | None:
    return next((t for t in _tasks(request, user) if t.task_id == task_id), None)


def _photos(sql_url: str, task_id: str) -> list[InspectionPhoto]:
    with session_scope(sql_url) as s:
        return list(s.scalars(select(InspectionPhoto).where(InspectionPhoto.task_id == task_id)
                              .order_by(InspectionPhoto.id)))


@router.get("/tasks/{task_id}")
def task_get(request: Request, user: Reader, task_id: str):
    return task_page(request, user, task_id)


def task_page(request: Request, user: User, task_id: str, error: str | None = None, status_code: int = 200):
    task = _task_or_none(request, user, task_id)
    if task is None:
        return render(request, "error.html", {"title": "任务不存在或不是您的任务", "message": task_id}, status_code=404)
    with session_scope(console(request).sql_url) as s:
        row = s.get(tables.ResultRow, task_id)
        internal = {"note": row.note, "by": row.recorded_by, "at": row.recorded_at} if row else None
    return render(request, "inspection_task.html", {
        "task": task, "internal": internal, "checklist": CHECKLIST, "answers": ANSWERS, "outcomes": OUTCOMES, "modes": MODES,
        "photos": _photos(console(request).sql_url, task_id), "error": error,
        "today": datetime.now(UTC).astimezone(LOCAL_TZ).date().isoformat(),
        "max_mb": MAX_ATTACHMENT_BYTES // (1024 * 1024)}, status_code=status_code)


@router.post("/tasks/{task_id}/result")
async def task_result(request: Request, user: ResultRecorder, task_id: str):
    """Record the result once: outcome, date, checklist answers and note (internal), photos."""
    from starlette.concurrency import run_in_threadpool
    form = await request.form()
    photos = [(f.filename, await f.read(MAX_ATTACHMENT_BYTES + 1)) for f in form.getlist("photos")
              if isinstance(f, UploadFile) and f.filename]
    return await run_in_threadpool(_record, request, user, task_id, dict(form), photos)


def _record(request: Request, user: User, task_id: str, form: dict, photos: list[tuple[str, bytes]]):
    c = console(request)
    task = _task_or_none(request, user, task_id)
    if task is None:
        return render(request, "error.html", {"title": "任务不存在或不是您的任务", "message": task_id}, status_code=404)
    missing = [label for key, label in CHECKLIST.items() if form.get(f"check_{key}") not in ANSWERS]
    if missing:
        return task_page(request, user, task_id, error="检查要点未填完：" + "、".join(missing), status_code=409)
    try:
        checked = [check_attachment(name, data) for name, data in photos]
        inspected_on = date.fromisoformat(str(form.get("inspected_on", "")))
    except AttachmentError as exc:
        return task_page(request, user, task_id, error=str(exc), status_code=409)
    except ValueError:
        return task_page(request, user, task_id, error="请填写检查日期。", status_code=409)
    lines = [f"{label}：{ANSWERS[str(form[f'check_{key}'])]}" for key, label in CHECKLIST.items()]
    note = "\n".join(["检查要点：", *lines, "", str(form.get("note", "")).strip()])
    try:
        record_result(c.settings, task_id, outcome=str(form.get("outcome", "")), note=note,  # type: ignore[arg-type]
                      by=user.name, inspected_on=inspected_on)
    except RosterError as exc:
        return task_page(request, user, task_id, error=str(exc), status_code=409)
    now = datetime.now(UTC)
    with session_scope(c.sql_url) as s:
        for ch, (_name, data) in zip(checked, photos, strict=True):
            row = InspectionPhoto(task_id=task_id, at=now, actor=user.name, note="", filename=ch.filename,
                                  content_type=ch.content_type, size=ch.size, sha256=ch.sha256, stored_as="")
            s.add(row)
            s.flush()
            row.stored_as = f"inspection-{task_id}/{row.id}-{ch.sha256[:16]}{ch.ext}"
            write_private(c.settings.evidence_dir, row.stored_as, data)
    return RedirectResponse(f"/console/inspections/tasks/{task_id}", status_code=303)


@router.get("/tasks/{task_id}/photos/{photo_id}")
def task_photo(request: Request, user: Reader, task_id: str, photo_id: int):
    if _task_or_none(request, user, task_id) is None:
        return render(request, "error.html", {"title": "任务不存在或不是您的任务", "message": task_id}, status_code=404)
    c = console(request)
    with session_scope(c.sql_url) as s:
        row = s.get(InspectionPhoto, photo_id)
        if row is None or row.task_id != task_id:
            return render(request, "error.html", {"title": "照片不存在", "message": ""}, status_code=404)
        path, ctype, name = c.settings.evidence_dir / row.stored_as, row.content_type, row.filename
    return FileResponse(path, media_type=ctype, filename=name, content_disposition_type="attachment")


@router.post("/publish")
def publish(request: Request, user: Handler, period: Annotated[str, Form()]):
    try:
        pub = publish_period(console(request).settings, period, by=user.name)
    except (RosterError, PeriodError) as exc:
        return inspections(request, user, error=f"公开未完成：{exc}", status_code=409)
    return RedirectResponse(f"/console/inspections?published={pub.period}&n={len(pub.newly_published)}",
                            status_code=303)
