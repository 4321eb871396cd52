"""``envmon safety``: safety sensor thresholds (with provenance), alarms, acknowledgement, reconciliation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Safety alarms: thresholds, alarms, acknowledgement (issue #14).", no_args_is_help=True)


def _context():
    from limits.catalogue import load_catalogue
    from monitoring.config import load_settings
    from monitoring.registry import load_registry

    settings = load_settings()
    return settings, load_registry(settings.registry_path), load_catalogue()


@app.command("thresholds")
def thresholds(point: Annotated[str | None, typer.Option(help="only this sensor point")] = None,
               as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """First-/second-level thresholds of every safety sensor, with standard, clause, status and source."""
    from monitoring.safety.thresholds import Thresholds

    settings, registry, catalogue = _context()
    t = Thresholds.load(registry, catalogue, settings.safety_plans_path).table
    if point:
        t = t[t["point"] == point]
    if as_json:
        typer.echo(t.astype(object).where(t.notna(), None).to_json(orient="records", force_ascii=False))
        return
    table = Table()
    for col in ("point", "sensor", "parameter", "level", "setting", "unit", "standard / clause", "status"):
        table.add_column(col)
    for r in t.itertuples():
        setting = f"{r.low:g}–{r.value:g} (outside)" if r.low == r.low else f"≥ {r.value:g}"
        table.add_row(r.point, r.sensor, r.parameter, str(r.level), setting, r.unit, f"{r.standard} {r.clause}",
                      r.status)
    Console(width=200).print(table)


@app.command("alarms")
def alarms(active: Annotated[bool, typer.Option("--active", help="only alarms not cleared")] = False,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Safety alarms, newest first (times Asia/Shanghai)."""
    from monitoring.safety.alarms import fmt_local
    from monitoring.safety.batch import book_from_settings

    settings, registry, catalogue = _context()
    book = book_from_settings(registry, settings, catalogue)
    rows = book.alarms(active_only=active)
    if as_json:
        typer.echo(json.dumps([{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in a.__dict__.items()}
                               for a in rows], ensure_ascii=False))
        return
    table = Table()
    for col in ("#", "point", "parameter", "level", "since", "peak", "setting (status)", "cleared", "by", "ack"):
        table.add_column(col)
    for a in rows:
        setting = f"{a.threshold_low:g}–{a.threshold:g}" if a.threshold_low is not None else f"{a.threshold:g}"
        table.add_row(str(a.id), a.point, a.parameter, a.level_zh, fmt_local(a.started_at),
                      f"{a.peak_value:.4g} {a.unit}", f"{setting} ({a.threshold_status})",
                      fmt_local(a.cleared_at) if a.cleared_at else "active", a.detected_by, a.acknowledged_by or "")
    Console(width=200).print(table)


@app.command("ack")
def ack(alarm_id: int, by: Annotated[str, typer.Option("--by", help="who acknowledges")]) -> None:
    """Acknowledge an alarm (stops the first-level escalation timer)."""
    from monitoring.safety.batch import book_from_settings

    settings, registry, catalogue = _context()
    try:
        a = book_from_settings(registry, settings, catalogue).acknowledge(alarm_id, by, datetime.now(UTC))
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"alarm #{a.id} acknowledged by {a.acknowledged_by}")
