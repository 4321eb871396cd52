"""Schema migrations of the SQL store (Alembic).

The schema of every table on :class:`monitoring.db.Base` is created and changed **only** by the revisions
in ``versions/``; :func:`monitoring.db.init_db` upgrades a database to the head revision once per process.
``tests/monitoring/test_migrations.py`` fails when the metadata and the migrations disagree, so a new or
changed table needs a new revision::

    PYTHONPATH=$PWD envmon db revision -m "console users"     # autogenerate against a scratch database
    # read the generated file in monitoring/migrations/versions/, fix what autogenerate cannot know

Upgrades are serialised between processes: an advisory lock on PostgreSQL, an exclusive file lock next to
the database file on SQLite (Airflow tasks share the file).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

MIGRATIONS_DIR = Path(__file__).resolve().parent

#: the first revision: the schema as it was when tables were still made by ``create_all``
BASELINE = "0001"

#: any key of PostgreSQL's advisory lock space; the same number in every envmon process
_PG_LOCK_KEY = 0x656E766D6F6E  # "envmon"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic :class:`Config` for our script directory (no ``alembic.ini`` needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision in ``versions/``."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _upgrade_lock(engine: Engine) -> Iterator[None]:
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        lock_path = Path(url.database).with_name(Path(url.database).name + ".migrate-lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    elif url.get_backend_name() == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
    else:
        yield


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database at ``engine`` to ``revision``.

    A database made by the old ``create_all`` (our tables present, no ``alembic_version``) is stamped at
    :data:`BASELINE` first, then upgraded like any other.
    """
    with _upgrade_lock(engine), _migration_connection(engine) as conn:
        cfg = alembic_config(conn)
        tables = set(inspect(conn).get_table_names())
        if "alembic_version" not in tables and "incident" in tables:
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    with _upgrade_lock(engine), _migration_connection(engine) as conn:
        command.downgrade(alembic_config(conn), revision)


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction. On SQLite, foreign keys are off while the revisions run (batch
    mode copies and drops referenced tables; the PRAGMA only works outside a transaction) and checked
    before the commit."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if bad:
                        raise RuntimeError(f"migration left rows with broken foreign keys: {bad[:5]}")
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
