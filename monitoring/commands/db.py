"""``envmon db``: the SQL store's schema (Alembic revisions in :mod:`monitoring.migrations`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from monitoring.config import load_settings

app = typer.Typer(help="SQL store schema: upgrade, current, revision (Alembic).", no_args_is_help=True)


def _safe(url: str) -> str:
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from sqlalchemy import make_url
    return make_url(url).render_as_string(hide_password=True)


@app.command()
def upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Upgrade the configured SQL store (ENVMON_DB_URL) to REVISION (every envmon command does this)."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.db import get_engine
    from monitoring.migrations import current_revision
    from monitoring.migrations import upgrade as do_upgrade
    url = load_settings().ensure_dirs().sql_url
    engine = get_engine(url)
    do_upgrade(engine, revision)
    typer.echo(f"{_safe(url)}: at revision {current_revision(engine)}")


@app.command()
def current() -> None:
    """The revision of the configured SQL store and the newest revision in the code."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.db import get_engine
    from monitoring.migrations import current_revision, head_revision
    url = load_settings().sql_url
    typer.echo(f"{_safe(url)}: {current_revision(get_engine(url)) or 'empty (no revision)'}; "
               f"code head {head_revision()}")


@app.command()
def revision(message: Annotated[str, typer.Option("-m", "--message", help="what the revision changes")]) -> None:
    """Write a new revision file by comparing the tables on Base with a scratch SQLite at head.

    Read and correct the generated file (data migrations, server defaults) before you commit it.
    """
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from alembic import command

    from monitoring.db import get_engine
    from monitoring.migrations import alembic_config, head_revision
    from monitoring.migrations import upgrade as do_upgrade
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scratch.sqlite'}"
        do_upgrade(get_engine(url), "head")
        cfg = alembic_config()
        cfg.set_main_option("sqlalchemy.url", url)
        rev_id = f"{int(head_revision()) + 1:04d}"
        script = command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
    typer.echo(f"wrote {getattr(script, 'path', script)}")
