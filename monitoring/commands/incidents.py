"""``envmon incidents``: list, show, acknowledge and close incidents (times in Asia/Shanghai)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from monitoring.config import load_settings
from monitoring.incidents import IncidentError, IncidentManager, IncidentView, fmt_local
from sensors.parameters import parameter_name_zh

app = typer.Typer(help="超标与数据缺失事件 (incidents): list, show, ack, close.", no_args_is_help=True)


def _manager() -> IncidentManager:
    return IncidentManager(load_settings().sql_url)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _as_json(inc: IncidentView) -> dict:
    d = inc.as_dict()
    for name in ("started_at", "confirmed_at", "last_exceed_at", "cleared_at", "created_at", "acknowledged_at",
                 "closed_at", "escalated_at"):
        d[f"{name}_local"] = fmt_local(getattr(inc, name)) if getattr(inc, name) else None
    return d


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


@app.command("list")
def list_incidents(
    open_only: Annotated[bool, typer.Option("--open", help="only incidents not closed yet")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """List incidents, newest first (security events of the receiver are imported first)."""
    m = _manager()
    from monitoring.config import load_settings
    from monitoring.security import import_security_events
    import_security_events(m.db_url, load_settings().data_dir)
    incidents = m.list(open_only=open_only)
    if as_json:
        typer.echo(json.dumps([_as_json(i) for i in incidents], ensure_ascii=False, indent=2))
        return
    table = Table(title="事件 incidents（北京时间 UTC+08:00）")
    for col in ("ID", "状态", "严重程度", "集聚区", "监测点", "因子", "检查/条款", "峰值/限值", "开始", "恢复", "升级"):
        table.add_column(col)
    for i in incidents:
        state = i.status_zh + ("" if i.active or i.status == "closed" else "·已恢复")
        param = "数据缺失" if i.kind == "data_missing" else f"{parameter_name_zh(i.parameter)} {i.parameter}"
        peak = "" if i.kind == "data_missing" else f"{_num(i.peak_value)}/{_num(i.limit)} {i.unit or ''}"
        table.add_row(str(i.id), state, i.severity_zh, i.zone or "", i.point, param,
                      f"{i.check} {i.standard} {i.clause}".strip(), peak, fmt_local(i.started_at),
                      fmt_local(i.cleared_at) if i.cleared_at else "", str(i.escalation_level or ""))
    Console(width=200).print(table)


@app.command("show")
def show(
    incident_id: Annotated[int, typer.Argument(help="incident ID")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One incident with its audit trail."""
    m = _manager()
    try:
        inc, trail = m.get(incident_id), m.history(incident_id)
    except IncidentError as exc:
        _fail(str(exc))
        return
    if as_json:
        d = _as_json(inc)
        d["history"] = [{"at": e.at.isoformat(), "at_local": fmt_local(e.at), "actor": e.actor, "action": e.action,
                             "note": e.note, "detail": e.detail} for e in trail]
        typer.echo(json.dumps(d, ensure_ascii=False, indent=2))
        return
    console = Console(width=200)
    console.print(f"#{inc.id} {inc.kind} {inc.point} {inc.parameter} {inc.standard} {inc.clause} — "
                  f"{inc.status_zh} {inc.severity_zh} {'进行中' if inc.active else '已恢复/结束'}")
    table = Table(title="审计记录 audit trail")
    for col in ("时间", "操作人", "操作", "说明"):
        table.add_column(col)
    for e in trail:
        table.add_row(fmt_local(e.at, seconds=True), e.actor, e.action, e.note or "")
    console.print(table)


@app.command("ack")
def ack(
    incident_id: Annotated[int, typer.Argument(help="incident ID")],
    by: Annotated[str, typer.Option("--by", help="who acknowledges")],
    note: Annotated[str | None, typer.Option("--note", help="what was done")] = None,
) -> None:
    """Acknowledge an open incident (stops escalation)."""
    try:
        inc = _manager().acknowledge(incident_id, by=by, note=note)
    except IncidentError as exc:
        _fail(str(exc))
        return
    typer.echo(f"incident #{inc.id} acknowledged by {inc.acknowledged_by} at {fmt_local(inc.acknowledged_at)}")


@app.command("close")
def close(
    incident_id: Annotated[int, typer.Argument(help="incident ID")],
    by: Annotated[str, typer.Option("--by", help="who closes")],
    reason: Annotated[str, typer.Option("--reason", help="why it is closed")],
) -> None:
    """Close an incident with a reason."""
    try:
        inc = _manager().close(incident_id, by=by, reason=reason)
    except IncidentError as exc:
        _fail(str(exc))
        return
    typer.echo(f"incident #{inc.id} closed by {inc.closed_by} at {fmt_local(inc.closed_at)}: {inc.close_reason}")
