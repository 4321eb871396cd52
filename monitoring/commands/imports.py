"""``envmon import lab|ledger FILE…``: parse lab results / hazardous-waste ledgers and show what would be stored.

Nothing is written to InfluxDB here (the ingest pipeline does that). Rejections go to stderr as
``file:line: reason``; the exit code is 2 when anything was rejected, 0 otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console

from monitoring.config import LOCAL_TZ, load_settings
from monitoring.registry import Registry, load_registry

app = typer.Typer(help="Parse lab results and hazardous-waste ledgers (dry run: print, do not store).",
                  no_args_is_help=True)
_out = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True, highlight=False)


def _registry(path: Path | None) -> Registry:
    return load_registry(path or load_settings().registry_path)


def _show(frame: pd.DataFrame, time_cols: list[str], limit: int) -> None:
    shown = frame.drop(columns=["batch", "source"]).head(limit).copy()
    for c in time_cols:
        shown[c] = shown[c].dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d %H:%M").fillna("")
    _out.print(shown.to_string(index=False), markup=False)


def _run(files: list[Path], reader: Callable[..., Iterable[tuple[pd.DataFrame, list]]], what: str, time_cols: list[str],
         registry_path: Path | None, limit: int) -> None:
    registry = _registry(registry_path)
    batch = f"import-{uuid.uuid4().hex[:8]}"
    any_rejected = False
    for f in files:
        count = n_rejected = 0
        shown: list[pd.DataFrame] = []
        for frame, rejected in reader(f, registry, batch):     # chunk by chunk: only `limit` rows are kept
            count += len(frame)
            n_rejected += len(rejected)
            if sum(len(s) for s in shown) < limit and len(frame):
                shown.append(frame.head(limit))
            for r in rejected:
                _err.print(str(r), markup=False)
        _out.print(f"{f}: {count} {what}, {n_rejected} rejected", markup=False)
        if shown:
            _show(pd.concat(shown, ignore_index=True), time_cols, limit)
            if count > limit:
                _out.print(f"… {count - limit} more", markup=False)
        any_rejected |= bool(n_rejected)
    if any_rejected:
        raise typer.Exit(2)


@app.command("lab")
def lab(files: list[Path] = typer.Argument(..., help="lab result files (CSV UTF-8/GB18030, XLSX)"),
        registry: Path | None = typer.Option(None, help="registry YAML (default: $ENVMON_REGISTRY)"),
        limit: int = typer.Option(50, help="rows shown per file")) -> None:
    """Parse lab result files into canonical readings (source=lab)."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from sensors.lab import iter_lab_file
    _run(files, iter_lab_file, "readings", ["time"], registry, limit)


@app.command("ledger")
def ledger(files: list[Path] = typer.Argument(..., help="ledger files (CSV UTF-8/GB18030, XLSX)"),
           registry: Path | None = typer.Option(None, help="registry YAML (default: $ENVMON_REGISTRY)"),
           limit: int = typer.Option(50, help="rows shown per file")) -> None:
    """Parse hazardous-waste ledger files (危险废物管理台账)."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from sensors.ledger import read_ledger_csv
    _run(files, lambda *a: [read_ledger_csv(*a)], "ledger entries", ["date", "confirmed", "received"], registry, limit)
