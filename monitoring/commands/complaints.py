"""``envmon complaints``: record and list public/media complaints (公众和媒体反映)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from monitoring.complaints import CHANNELS, ComplaintError, add_complaint, complaints_frame
from monitoring.config import load_settings
from monitoring.registry import RegistryError, load_registry

app = typer.Typer(help="公众与媒体投诉 (complaints): add, list.", no_args_is_help=True)


def _fail(message: object) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@app.command()
def add(
    enterprise: Annotated[str, typer.Argument(help="enterprise code, e.g. JK-005")],
    on: Annotated[str, typer.Option("--date", help="date received, YYYY-MM-DD (local)")],
    channel: Annotated[str, typer.Option("--channel", help=" | ".join(f"{k} ({v})" for k, v in CHANNELS.items()))],
    substantiated: Annotated[bool, typer.Option("--substantiated/--not-substantiated",
                                                help="查实 or not")] = False,
    summary: Annotated[str, typer.Option("--summary", help="what was reported")] = "",
    by: Annotated[str, typer.Option("--by", help="who records it")] = "",
) -> None:
    """Record one complaint."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.roster.records import default_user
    settings = load_settings()
    try:
        day = date.fromisoformat(on)
    except ValueError:
        _fail(f"--date {on!r}: expected YYYY-MM-DD")
    try:
        codes = set(load_registry(settings.registry_path).enterprises)
        cid = add_complaint(settings.sql_url, enterprise=enterprise, received_on=day, channel=channel,
                            substantiated=substantiated, summary=summary, recorded_by=by or default_user(),
                            known_enterprises=codes)
    except (ComplaintError, RegistryError) as exc:
        _fail(exc)
    typer.echo(f"complaint {cid}: {enterprise} {day} {CHANNELS[channel]} "
               f"{'查实' if substantiated else '未查实'}")


@app.command("list")
def list_complaints(
    enterprise: Annotated[str | None, typer.Option("--enterprise")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List complaints, oldest first."""
    df = complaints_frame(load_settings().sql_url, enterprise=enterprise)
    if as_json:
        rows = [{**r, "received_on": str(r["received_on"]), "recorded_at": str(r["recorded_at"])}
                for r in df.to_dict(orient="records")]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    t = Table(title=f"投诉 complaints ({len(df)})")
    for c in ("ID", "企业", "受理日期", "渠道", "查实", "摘要", "登记人"):
        t.add_column(c)
    for r in df.itertuples():
        t.add_row(str(r.id), r.enterprise, str(r.received_on), CHANNELS.get(r.channel, r.channel),
                  "是" if r.substantiated else "否", r.summary, r.recorded_by)
    Console(width=160).print(t)
