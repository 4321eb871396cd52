"""``envmon report monthly --month YYYY-MM [--zone Z] [--enterprise CODE] [--out DIR]``.

Writes, per cluster (all five by default) and for the county, ``DIR/<YYYY-MM>/<scope>/`` report.html,
report.pdf, points.csv, emissions.csv, exceedances.csv, summary.json (see :mod:`monitoring.reports`) and
prints the paths. A month without data gives reports that say so (exit 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Compliance reports (月报).", no_args_is_help=True)


@app.command("monthly")
def monthly(
    month: Annotated[str, typer.Option(help="local calendar month, YYYY-MM")],
    zone: Annotated[str | None, typer.Option(help="one cluster (id, Chinese name or pinyin); default: all "
                                                  "five and the county")] = None,
    enterprise: Annotated[str | None, typer.Option(help="one enterprise's report alone (registry code)")] = None,
    out: Annotated[Path | None, typer.Option(help="output directory (default $ENVMON_DATA_DIR/reports)")] = None,
    publish: Annotated[bool, typer.Option(help="also write the public version (no personal data) to "
                                               "$ENVMON_DATA_DIR/public/reports")] = False,
    timings: Annotated[bool, typer.Option(help="print where the time went")] = False,
    workers: Annotated[int, typer.Option(min=1, max=8, help="forked processes rendering scopes in parallel")] = 2,
) -> None:
    """Monthly compliance reports (HTML, PDF, CSV, JSON) from InfluxDB and the SQL store."""
    from limits.loader import LimitsError
    from monitoring.config import load_settings
    from monitoring.influx import InfluxError
    from monitoring.registry import RegistryError
    from monitoring.reports import build_monthly

    settings = load_settings()
    try:
        result = build_monthly(settings, month, zone=zone, enterprise=enterprise, out=out, publish=publish,
                               workers=workers)
    except (ValueError, KeyError, RegistryError, LimitsError, InfluxError, RuntimeError) as exc:
        typer.echo(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", err=True)
        raise typer.Exit(2) from None
    for r in result.results:
        what = (f"issued v{r.version} ({r.status}, {r.changes} changes)" if r.action == "issued"
                else f"unchanged v{r.version} ({r.status})")
        typer.echo(f"{r.scope.key}: {what}")
        for f in r.files:
            typer.echo(f"  {f}")
    if timings:
        for k, v in result.timings.items():
            typer.echo(f"{k:<40} {v:8.2f} s")
