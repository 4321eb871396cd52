"""Inspection results and their publication (一公开).

* The roster is internal (内部，检查前保密) until each inspection takes place: the public view holds only
  tasks with a recorded result, and only the fields in :data:`PUBLIC_COLUMNS` — enterprise, zone, mode,
  date, result. Never inspectors' personal data, never the internal note.
* A result must be public within ``publication.working_days`` (rules file; 20) working days of the
  inspection, counted by :func:`monitoring.calendar.add_working_days` (chinese_calendar, then
  the local holiday file, then weekends only — the fallback is said in the output).
* :func:`publish_period` writes ``$ENVMON_DATA_DIR/public/roster-<period>.csv`` (UTF-8 with BOM, for
  Excel) and ``roster-<period>.html`` (static Chinese page, Jinja2 with autoescape) and records which
  results were published when; :func:`deadlines` flags overdue ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from monitoring.calendar import add_working_days, working_days_between
from monitoring.config import LOCAL_TZ, Settings
from monitoring.db import session_scope
from monitoring.registry import load_registry
from monitoring.roster import tables
from monitoring.roster.period import Period
from monitoring.roster.records import RosterError
from monitoring.roster.rules import load_rules
from monitoring.spreadsheet import write_csv

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
OUTCOMES = {"compliant": "未发现环境违法问题", "violation": "发现环境违法问题，依法处理"}
MODES = {"onsite": "现场检查", "offsite": "非现场检查"}
PUBLIC_COLUMNS = ["抽查周期", "任务编号", "企业名称", "企业编码", "所在集聚区", "检查方式", "检查日期", "检查结果"]
Outcome = Literal["compliant", "violation"]


@dataclass(frozen=True)
class ResultReceipt:
    task_id: str
    enterprise: str
    inspected_on: date
    outcome: str
    publish_due: date
    calendar_notes: tuple[str, ...]


def record_result(settings: Settings, task_id: str, *, outcome: Outcome, note: str, by: str,
                  inspected_on: date | None = None, now: datetime | None = None) -> ResultReceipt:
    """Record the result of an inspection (once) and its publication deadline."""
    if outcome not in OUTCOMES:
        raise RosterError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if not by.strip():
        raise RosterError("--by must name who records the result")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    today = now.astimezone(LOCAL_TZ).date()
    inspected_on = inspected_on or today
    if inspected_on > today:
        raise RosterError(f"inspection date {inspected_on} is in the future (today is {today})")
    rules = load_rules(settings.roster_rules_path).rules
    with session_scope(settings.sql_url) as s:
        task = s.get(tables.TaskRow, task_id)
        if task is None:
            raise RosterError(f"no inspection task {task_id!r} (see `envmon roster show PERIOD`)")
        if task.record_id in tables.superseded_ids(s):
            raise RosterError(f"task {task_id} belongs to superseded record {task.record_id}")
        if s.get(tables.ResultRow, task_id) is not None:
            raise RosterError(f"task {task_id} already has a result (results are written once)")
        drawn = tables.utc(s.get(tables.DrawRow, task.record_id).drawn_at).astimezone(LOCAL_TZ).date()
        if inspected_on < drawn:
            raise RosterError(f"inspection date {inspected_on} is before the draw ({drawn})")
        deadline = add_working_days(inspected_on, rules.publication.working_days, settings.holidays_path)
        s.add(tables.ResultRow(task_id=task_id, inspected_on=inspected_on, outcome=outcome, note=note,
                              recorded_by=by, recorded_at=now, publish_due=deadline.due,
                              calendar_note="\n".join(deadline.notes) or None))
        enterprise = task.enterprise
    return ResultReceipt(task_id, enterprise, inspected_on, outcome, deadline.due, deadline.notes)


def results_frame(settings: Settings, period: Period | None = None) -> pd.DataFrame:
    """Results of non-superseded tasks with their task, deadline and publication (internal view)."""
    with session_scope(settings.sql_url) as s:
        gone = tables.superseded_ids(s)
        q = (select(tables.TaskRow, tables.ResultRow, tables.PublicationRow)
             .join(tables.ResultRow, tables.ResultRow.task_id == tables.TaskRow.task_id)
             .outerjoin(tables.PublicationRow, tables.PublicationRow.task_id == tables.TaskRow.task_id))
        if period is not None:
            q = q.where(tables.TaskRow.period == str(period))
        rows = [{"task_id": t.task_id, "period": t.period, "enterprise": t.enterprise, "zone": t.zone,
                 "mode": t.mode, "inspected_on": r.inspected_on, "outcome": r.outcome,
                 "publish_due": r.publish_due, "calendar_note": r.calendar_note or "",
                 "published_at": tables.utc(p.published_at) if p else None}
                for t, r, p in s.execute(q) if t.record_id not in gone]
    cols = ["task_id", "period", "enterprise", "zone", "mode", "inspected_on", "outcome", "publish_due",
            "calendar_note", "published_at"]
    return pd.DataFrame(rows, columns=cols).sort_values(["period", "task_id"]).reset_index(drop=True)


def deadlines(settings: Settings, today: date | None = None) -> pd.DataFrame:
    """Every unpublished result with its due date and status: ``overdue`` (due date passed),
    ``due`` (still within the limit); plus ``working_days_left`` (negative when overdue)."""
    today = today or datetime.now(UTC).astimezone(LOCAL_TZ).date()
    df = results_frame(settings)
    df = df[df["published_at"].isna()].copy()
    if df.empty:
        return df.assign(status=pd.Series(dtype=str), working_days_left=pd.Series(dtype=int))
    left, notes = [], []
    for due in df["publish_due"]:
        if due >= today:
            n, nt = working_days_between(today, due, settings.holidays_path)
        else:
            n, nt = working_days_between(due, today, settings.holidays_path)
            n = -n
        left.append(n)
        notes.append("\n".join(nt))
    df["working_days_left"] = left
    df["status"] = ["overdue" if d < today else "due" for d in df["publish_due"]]
    df["calendar_note"] = [a or b for a, b in zip(df["calendar_note"], notes)]
    return df.reset_index(drop=True)


def public_rows(settings: Settings, period: Period) -> pd.DataFrame:
    """What may be published for ``period``: tasks that took place, public fields only."""
    reg = load_registry(settings.registry_path)
    df = results_frame(settings, period)
    names = {c: e.name for c, e in reg.enterprises.items()}
    zones = {z.id: z.name_zh for z in reg.zones.values()}
    out = pd.DataFrame({
        "抽查周期": df["period"], "任务编号": df["task_id"], "企业名称": df["enterprise"].map(names),
        "企业编码": df["enterprise"], "所在集聚区": df["zone"].map(zones), "检查方式": df["mode"].map(MODES),
        "检查日期": df["inspected_on"].map(lambda d: d.isoformat()), "检查结果": df["outcome"].map(OUTCOMES),
    }, columns=PUBLIC_COLUMNS)
    return out.sort_values(["检查日期", "任务编号"]).reset_index(drop=True)


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                       keep_trailing_newline=True)


@dataclass(frozen=True)
class Publication:
    period: str
    csv: Path
    html: Path
    rows: int
    newly_published: list[str]


def publish_period(settings: Settings, period: str | Period, *, by: str, now: datetime | None = None) -> Publication:
    """Write the public CSV and HTML of ``period`` and record newly published results."""
    period = period if isinstance(period, Period) else Period.parse(period)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    settings.ensure_dirs()
    rows = public_rows(settings, period)
    csv_path = settings.public_dir / f"roster-{period}.csv"
    html_path = settings.public_dir / f"roster-{period}.html"
    write_csv(rows, csv_path, encoding="utf-8-sig")      # formula prefixes neutralised (issue 9 item 13)
    html = _env().get_template("roster_public.html.j2").render(
        period=str(period), columns=PUBLIC_COLUMNS, rows=rows.to_dict(orient="records"),
        generated=now.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"))
    html_path.write_text(html, encoding="utf-8")
    new: list[str] = []
    with session_scope(settings.sql_url) as s:
        for tid in rows["任务编号"]:
            if s.get(tables.PublicationRow, tid) is None:
                s.add(tables.PublicationRow(task_id=tid, published_at=now, published_by=by, path=str(html_path)))
                new.append(tid)
    return Publication(str(period), csv_path, html_path, len(rows), new)
