"""``envmon ingest [--zone Z] [--workers N]``: run the ingest pipeline once without Airflow (what the DAG runs)."""

from __future__ import annotations

import json
import signal
import sys
from typing import Annotated

import typer


def command(
    zone: Annotated[list[str] | None, typer.Option(help="zone id, 江口 or pinyin; repeat; default all")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="zones ingested in parallel (processes); "
                                                           "default one per CPU core, plus one")] = None,
) -> None:
    """Spool and landing files → decode → units → quality → InfluxDB, once per zone; prints the reports.

    Zones run in parallel processes (``--workers``). Exit 0 when every zone ran, 1 when some zone failed (the others are stored), 2 for a configuration
    error (registry, unknown zone, no InfluxDB)."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.config import load_settings
    from monitoring.ingest import ingest_zones, store_from_settings
    from monitoring.registry import RegistryError, load_registry
    from sensors.quarantine import redact

    # SIGTERM (systemd, a supervisor, a person) ends the run like Ctrl-C: the zone being ingested gives
    # its claimed input back before exiting. A SIGKILL cannot be caught: the next run reclaims it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    settings = load_settings()
    try:
        registry = load_registry(settings.registry_path)
    except RegistryError as exc:                    # one line naming file, entry and field
        typer.echo(f"ingest: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        zones = [registry.find_zone(z).id for z in zone] if zone else list(registry.zones)
    except KeyError as exc:
        typer.echo(str(exc.args[0]), err=True)
        raise typer.Exit(2) from None
    try:
        store = store_from_settings(settings)
    except RuntimeError as exc:                     # e.g. no InfluxDB configured
        typer.echo(f"ingest: {redact(str(exc))}", err=True)
        raise typer.Exit(2) from None
    reports, failures = ingest_zones(zones, settings=settings, registry=registry, store=store,
                                     workers=workers)
    for report in reports:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    for failure in failures:
        typer.echo(f"ingest: zone {failure.zone} failed (its input is kept for the next run): {failure.error}",
                   err=True)
    if failures:
        raise typer.Exit(1)
