"""``envmon roster``: draw, verify, show, result, publish, deadlines (双随机、一公开)."""

from __future__ import annotations

import json
from datetime import UTC, date
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from monitoring.calendar import HolidayFileError
from monitoring.config import LOCAL_TZ, load_settings
from monitoring.registry import RegistryError
from monitoring.roster.directories import DirectoryError
from monitoring.roster.draw import InfeasibleDraw
from monitoring.roster.period import Period, PeriodError
from monitoring.roster.records import RosterError, default_user, local_time, record_path
from monitoring.roster.rules import CATEGORY_ZH, RulesError

app = typer.Typer(help="“双随机、一公开”抽查名单 (random inspection rosters).", no_args_is_help=True)

_ERRORS = (RosterError, RulesError, DirectoryError, RegistryError, PeriodError, InfeasibleDraw, HolidayFileError,
           KeyError)
MODE_ZH = {"onsite": "现场", "offsite": "非现场"}


def _fail(message: object) -> None:
    typer.echo(f"error: {str(message).strip(chr(39))}", err=True)
    raise typer.Exit(code=2)


def _console() -> Console:
    return Console(width=200)


def _summary(rec: dict) -> dict:
    """The ``--json`` answer: the roster plus what makes it verifiable."""
    tasks = [{"task": rec["task_ids"][t["enterprise"]], "enterprise": t["enterprise"], "name": t["name"],
              "zone": t["zone"], "category": t["category"], "mode": t["mode"], "inspectors": t["inspectors"],
              "weight": t["weight"], "special_reasons": t["special_reasons"], "mode_reason": t["mode_reason"],
              "notes": t["notes"]} for t in rec["result"]["tasks"]]
    return {"record": rec["record_id"], "period": rec["period"], "scope": rec["scope"], "seed": rec["seed"],
            "algorithm": rec["algorithm"], "drawn_at": rec["drawn_at"], "drawn_by": rec["drawn_by"],
            "hashes": rec["hashes"], "record_sha256": rec["record_sha256"], "quotas": rec["result"]["quotas"],
            "warnings": rec["result"]["warnings"], "exclusions": rec["result"]["exclusions"], "tasks": tasks}


def _print_record(rec: dict, path: str | None = None) -> None:
    con = _console()
    inspectors = {i["id"]: i["name"] for i in rec["inputs"]["inspector_directory"]["inspectors"]}
    con.print(f"[bold]双随机抽查名单 {rec['period']}（{rec['scope']}）[/bold]  内部资料，检查实施前保密")
    con.print(f"record {rec['record_id']}  seed {rec['seed']}  drawn {local_time(rec['drawn_at'])} "
              f"by {rec['drawn_by']}")
    con.print(f"algorithm {rec['algorithm']}")
    con.print(f"risk weight {rec['risk_weight_formula']}")
    for k, h in rec["hashes"].items():
        con.print(f"  sha256 {k:<20} {h}")
    con.print(f"  sha256 {'record':<20} {rec['record_sha256']}")
    if path:
        con.print(f"record file {path}")
    q = Table(title="抽查比例 quotas")
    for c in ("类别", "规则", "企业数", "可抽", "本年已抽", "应抽", "抽中"):
        q.add_column(c)
    for cat, d in rec["result"]["quotas"].items():
        q.add_row(CATEGORY_ZH.get(cat, cat), d["floor"], str(d["enterprises"]), str(d["eligible"]),
                  str(d["done_earlier_this_year"]), str(d["required"]), str(d["drawn"]))
    con.print(q)
    t = Table(title=f"检查任务 tasks ({len(rec['result']['tasks'])})")
    for c in ("任务", "企业", "名称", "集聚区", "类别", "方式", "权重", "执法人员", "说明"):
        t.add_column(c)
    for task in rec["result"]["tasks"]:
        why = "; ".join(x for x in (task["special_reasons"], task["mode_reason"], *task["notes"]) if x)
        t.add_row(rec["task_ids"][task["enterprise"]], task["enterprise"], task["name"], task["zone"],
                  CATEGORY_ZH.get(task["category"], task["category"]), MODE_ZH[task["mode"]], f"{task['weight']:g}",
                  ", ".join(f"{i} {inspectors.get(i, '')}" for i in task["inspectors"]), why)
    con.print(t)
    ex = rec["result"]["exclusions"]
    if ex:
        e = Table(title=f"排除 exclusions ({len(ex)})")
        for c in ("类型", "对象", "企业", "原因"):
            e.add_column(c)
        for x in ex:
            e.add_row("企业" if x["kind"] == "enterprise" else "执法人员", x["who"], x["enterprise"] or "", x["reason"])
        con.print(e)
    for w in rec["result"]["warnings"]:
        con.print(f"[yellow]warning:[/yellow] {w}")


@app.command()
def draw(
    period: Annotated[str, typer.Option("--period", help="quarter to draw, e.g. 2026-Q4")],
    zone: Annotated[str | None, typer.Option("--zone", help="one cluster (id, 中文名 or pinyin); default: county")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="non-negative integer; default: a fresh random seed")] = None,
    by: Annotated[str | None, typer.Option("--by", help="who runs the draw (recorded)")] = None,
    replace: Annotated[str | None, typer.Option("--replace", help="supersede an existing draw of the period; the reason")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the roster as JSON")] = False,
) -> None:
    """Draw the enterprises and inspector teams for a period; store and print the record."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.roster.records import run_draw
    settings = load_settings()
    try:
        rec = run_draw(settings, period, zone=zone, seed=seed, by=by or default_user(), replace_reason=replace)
    except _ERRORS as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(_summary(rec), ensure_ascii=False, indent=2))
    else:
        _print_record(rec, str(record_path(settings, rec["record_id"])))


@app.command()
def verify(record: Annotated[str, typer.Argument(help="record id (e.g. 2026-Q4-county-1) or path to its JSON file")]) -> None:
    """Replay a draw: print MATCH, or exactly what differs (exit status 1)."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.roster.verify import verify_record
    try:
        v = verify_record(load_settings(), record)
    except _ERRORS as exc:
        _fail(exc)
    if v.ok:
        typer.echo("MATCH")
        typer.echo(f"{v.record_id}: {', '.join(v.checked)} — all consistent", err=True)
        return
    typer.echo(f"MISMATCH {v.record_id}")
    for line in v.differences:
        typer.echo(line)
    raise typer.Exit(code=1)


@app.command()
def show(
    record: Annotated[str, typer.Argument(help="record id, JSON path, or a period (its current draws)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a stored draw record (internal view)."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.db import session_scope
    from monitoring.roster import tables
    from monitoring.roster.records import load_record
    settings = load_settings()
    try:
        try:
            p = Period.parse(record)
        except PeriodError:
            refs = [record]
        else:
            with session_scope(settings.sql_url) as s:
                refs = [r.record_id for r in tables.active_draws(s, p)]
            if not refs:
                _fail(f"no draw for {p}")
        for ref in refs:
            file_rec, sql_rec, _ = load_record(settings, ref)
            rec = file_rec or sql_rec
            if as_json:
                typer.echo(json.dumps(_summary(rec), ensure_ascii=False, indent=2))
            else:
                _print_record(rec)
    except _ERRORS as exc:
        _fail(exc)


@app.command()
def result(
    task: Annotated[str, typer.Argument(help="task id, e.g. 2026-Q4-JK-005")],
    outcome: Annotated[str, typer.Option("--outcome", help="compliant | violation")],
    note: Annotated[str, typer.Option("--note", help="what was found (internal)")],
    by: Annotated[str, typer.Option("--by", help="who records the result")],
    on: Annotated[str | None, typer.Option("--date", help="inspection date YYYY-MM-DD (local); default today")] = None,
) -> None:
    """Record an inspection result; print its publication deadline."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.roster.publication import record_result
    try:
        day = date.fromisoformat(on) if on else None
    except ValueError:
        _fail(f"--date {on!r}: expected YYYY-MM-DD")
    try:
        r = record_result(load_settings(), task, outcome=outcome, note=note, by=by, inspected_on=day)  # type: ignore[arg-type]
    except _ERRORS as exc:
        _fail(exc)
    typer.echo(f"{r.task_id} {r.enterprise}: {r.outcome}, inspected {r.inspected_on}; "
               f"publish by {r.publish_due} (20 working days)")
    for n in r.calendar_notes:
        typer.echo(f"note: {n}")


@app.command()
def publish(
    period: Annotated[str, typer.Option("--period")],
    by: Annotated[str, typer.Option("--by")] = "",
) -> None:
    """Write the public CSV and HTML page of a period (results of inspections that took place)."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.roster.publication import publish_period
    try:
        pub = publish_period(load_settings(), period, by=by or default_user())
    except _ERRORS as exc:
        _fail(exc)
    typer.echo(f"{pub.period}: {pub.rows} result(s) public, {len(pub.newly_published)} newly published")
    typer.echo(f"  {pub.csv}\n  {pub.html}")


@app.command()
def deadlines(
    today: Annotated[str | None, typer.Option("--today", help="YYYY-MM-DD (default: today, Asia/Shanghai)")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="exit 1 when any publication is overdue")] = False,
) -> None:
    """Unpublished results with their deadline; overdue ones are flagged."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from datetime import datetime

    from monitoring.roster.publication import deadlines as compute
    try:
        day = date.fromisoformat(today) if today else datetime.now(UTC).astimezone(LOCAL_TZ).date()
    except ValueError:
        _fail(f"--today {today!r}: expected YYYY-MM-DD")
    try:
        df = compute(load_settings(), day)
    except _ERRORS as exc:
        _fail(exc)
    if df.empty:
        typer.echo(f"{day}: no unpublished results")
        return
    t = Table(title=f"公示期限 publication deadlines ({day})")
    for c in ("状态", "任务", "企业", "检查日期", "公示截止", "剩余工作日"):
        t.add_column(c)
    for r in df.itertuples():
        flag = "[red]OVERDUE 逾期[/red]" if r.status == "overdue" else "due"
        t.add_row(flag, r.task_id, r.enterprise, str(r.inspected_on), str(r.publish_due), str(r.working_days_left))
    _console().print(t)
    for n in sorted({x for note in df["calendar_note"] for x in note.splitlines() if x}):
        typer.echo(f"note: {n}")
    if strict and (df["status"] == "overdue").any():
        raise typer.Exit(code=1)
