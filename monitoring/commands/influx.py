"""``envmon influx``: check the InfluxDB server, run an InfluxQL query, replay the write spool.

The server is ``ENVMON_INFLUX_URL`` (database ``ENVMON_INFLUX_DB``, credentials from
``ENVMON_INFLUX_TOKEN`` or ``ENVMON_INFLUX_USER``/``ENVMON_INFLUX_PASSWORD``). When it is unset these
commands say so and exit with status 2: the managed throwaway influxd only lives during the demo and
the tests.
"""

from __future__ import annotations

import json
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from monitoring.config import LOCAL_TZ, load_settings
from monitoring.influx import InfluxError, InfluxNotConfigured, InfluxStore, SpoolingWriter

app = typer.Typer(help="InfluxDB (v1 HTTP API): ping, query, replay the write spool.",
                  no_args_is_help=True)


def _store() -> InfluxStore:
    try:
        return InfluxStore.from_settings(load_settings(), retries=2, backoff_factor=0.2)
    except InfluxNotConfigured as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _parse_params(items: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"--param {item!r}: expected name=value")
        try:
            params[name] = json.loads(raw)  # numbers and quoted strings as JSON
        except ValueError:
            params[name] = raw  # anything else is a string
    return params


@app.command()
def ping() -> None:
    """Check that the configured server answers ``/ping``."""
    store = _store()
    if not store.ping():
        typer.echo(f"InfluxDB at {store.url} does not answer /ping", err=True)
        raise typer.Exit(1)
    version = store.server_version() or "unknown version"
    typer.echo(f"InfluxDB at {store.url} is up ({version}); database {store.database}")


@app.command()
def query(
    influxql: Annotated[str, typer.Argument(
        help='One InfluxQL statement, e.g. "SELECT * FROM readings LIMIT 5"')],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records (times ISO 8601 UTC).")]
    = False,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="Bind parameter name=value, used as $name in the query.")] = None,
    limit_rows: Annotated[int, typer.Option("--max-rows", help="Rows shown in the table (not --json).")]
    = 200,
) -> None:
    """Run one InfluxQL statement on the configured database; print a table (times Asia/Shanghai)."""
    store = _store()
    try:
        frame = store.query(influxql, params=_parse_params(param or []) or None, epoch="ns")
    except InfluxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        out = frame.copy()
        if "time" in out:
            out["time"] = out["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        typer.echo(out.to_json(orient="records", force_ascii=False))
        return
    if frame.empty:
        typer.echo("(no rows)")
        return
    shown = frame.head(limit_rows).copy()
    if "time" in shown:
        shown["time"] = shown["time"].dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d %H:%M:%S%z")
    table = Table(*[str(c) for c in shown.columns])
    for row in shown.itertuples(index=False):
        table.add_row(*["" if pd.isna(v) else str(v) for v in row])
    console = Console()
    console.print(table)
    if len(frame) > limit_rows:
        console.print(f"… {len(frame) - limit_rows} more row(s); use --json for all")


@app.command()
def replay() -> None:
    """Write the spooled lines (``$ENVMON_DATA_DIR/write-spool``) to the server, oldest first."""
    settings = load_settings()
    store = _store()
    writer = SpoolingWriter(store, settings.write_spool_dir)
    files_ok, lines_ok, files_left = writer.replay()
    rejected = sorted(writer.rejected_dir.glob("*.reason.txt")) if writer.rejected_dir.is_dir() else []
    typer.echo(f"replayed {files_ok} file(s), {lines_ok} line(s); {files_left} file(s) still spooled"
               + (f"; {len(rejected)} rejected file(s) in {writer.rejected_dir}" if rejected else ""))
    if files_left:
        raise typer.Exit(1)
