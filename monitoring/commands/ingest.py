"""``envmon ingest [--zone Z]``: run the ingest pipeline once without Airflow (what the DAG runs)."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def command(
    zone: Annotated[list[str] | None, typer.Option(help="zone id, 江口 or pinyin; repeat; default all")] = None,
) -> None:
    """Spool and landing files → decode → units → quality → InfluxDB, once per zone; prints the reports."""
    from monitoring.config import load_settings
    from monitoring.ingest import ingest_zone
    from monitoring.registry import load_registry

    settings = load_settings()
    registry = load_registry(settings.registry_path)
    try:
        zones = [registry.find_zone(z).id for z in zone] if zone else list(registry.zones)
    except KeyError as exc:
        typer.echo(str(exc.args[0]), err=True)
        raise typer.Exit(2) from None
    try:
        for z in zones:
            typer.echo(json.dumps(ingest_zone(z, settings=settings, registry=registry).as_dict(), ensure_ascii=False))
    except RuntimeError as exc:                     # e.g. no InfluxDB configured
        typer.echo(f"ingest: {exc}", err=True)
        raise typer.Exit(2) from None
