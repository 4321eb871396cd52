"""The ``envmon`` command line. Each sub-command group lives in :mod:`monitoring.commands`."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="envmon",
    help="Environmental monitoring for the SME clusters of Yunyang County (云阳县中小企业集聚区).",
    no_args_is_help=True,
    add_completion=False,
)

#: (command name, module under monitoring.commands). A module exposes ``app`` (a group) or ``command``.
COMMANDS: list[tuple[str, str]] = [
    ("registry", "registry"),
    ("hj212", "hj212"),
    ("receiver", "receiver"),
    ("import", "imports"),
    ("simulate", "simulate"),
    ("ingest", "ingest"),
    ("influx", "influx"),
    ("limits", "limits"),
    ("noise", "noise"),
    ("evaluate", "evaluate"),
    ("incidents", "incidents"),
    ("safety", "safety"),
    ("roster", "roster"),
    ("complaints", "complaints"),
    ("db", "db"),
    ("report", "report"),
    ("demo", "demo"),
    ("up", "up"),
    ("serve", "serve"),
    ("users", "users"),
]

for _name, _module in COMMANDS:
    _mod = importlib.import_module(f"monitoring.commands.{_module}")
    if hasattr(_mod, "app"):
        app.add_typer(_mod.app, name=_name)
    else:
        app.command(_name)(_mod.command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
