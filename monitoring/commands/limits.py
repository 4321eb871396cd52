"""``envmon limits``: what limit values are loaded (with source and status), stack rate limits."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from limits.catalogue import load_catalogue
from limits.loader import LimitsError
from monitoring.config import load_settings

app = typer.Typer(help="Limit values of the standards and local overrides.", no_args_is_help=True)


def _catalogue():
    try:
        return load_catalogue(load_settings().limits_override)
    except LimitsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("show")
def show(standard: Annotated[str | None, typer.Option(help="standard id, e.g. 'GB 8978-1996'")] = None,
         parameter: Annotated[str | None, typer.Option(help="HJ 212 code or name, e.g. a21026 or SO2")] = None,
         as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False) -> None:
    """List loaded limits with their clause, value, unit, source and status (text/quoted/unconfirmed/
    provisional/override)."""
    cat = _catalogue()
    frame = cat.frame(standard=standard, parameter=parameter)
    if frame.empty:
        typer.echo("no limits match", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(frame.astype(str).replace({"None": None}).to_json(orient="records", force_ascii=False))
        return
    table = Table(show_lines=False)
    for col in ("standard", "clause", "parameter", "check", "averaging", "applies_to", "value", "unit", "status",
                "source"):
        table.add_column(col, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(str(getattr(row, c)) for c in ("standard", "clause", "parameter", "check", "averaging",
                                                         "applies_to", "value", "unit", "status", "source")))
    Console(width=200).print(table)


@app.command("rate")
def rate(pollutant: Annotated[str, typer.Option(help="HJ 212 code or name (SO2, a21026, 苯)")],
         height: Annotated[list[float], typer.Option(
             help="stack height above ground, m; repeat for near stacks of the same pollutant (equivalent "
                  "stack, GB 16297-1996 §7.2 附录A)")],
         distance: Annotated[list[float] | None, typer.Option(
             help="with several --height: distance m of each further stack to the (equivalent) stack before "
                  "it; combined only when less than the sum of heights")] = None,
         not_above_buildings: Annotated[bool, typer.Option(
             "--not-above-buildings", help="the stack is not ≥ 5 m above buildings within 200 m")] = False,
         standard: Annotated[str | None, typer.Option(help="default: DB 50/418-2016 其他区域")] = None) -> None:
    """Maximum emission rate (kg/h) for a stack, GB 16297-1996 §7 rules; for several heights the equivalent
    stack's (§7.2, 附录A: h = √((h1² + h2²)/2), Q = Q1 + Q2 judged against it); prints JSON."""
    cat = _catalogue()
    try:
        if len(height) > 1:
            out = cat.equivalent_stack(pollutant, height, distance or None, not not_above_buildings)
        else:
            out = cat.stack_rate(pollutant, height[0], above_buildings=not not_above_buildings,
                                 standard=standard).as_dict()
    except (KeyError, ValueError) as exc:
        typer.echo(f"error: {exc.args[0] if exc.args else exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
