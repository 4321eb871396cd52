"""The relational store for mutable records (incidents, rosters, inspection results, complaints).

SQLite file by default, PostgreSQL (or any SQLAlchemy URL) with ``ENVMON_DB_URL``. Every domain module
declares its tables on :class:`Base` and is listed in :mod:`monitoring.migrations.metadata`; the schema is
made and changed only by the Alembic revisions in :mod:`monitoring.migrations`, applied by :func:`init_db`
once per process and URL. This module imports no domain module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from threading import Lock

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    pass


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL. SQLite gets foreign keys on and a busy timeout (Airflow tasks share the file)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - driver hook
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


_migrated: set[str] = set()
_migrate_lock = Lock()


def init_db(url: str) -> Engine:
    """The engine for ``url``, its database upgraded to the newest Alembic revision (once per process).

    The revisions carry the schema, so no table module needs to be imported here (the tables are
    registered explicitly in :mod:`monitoring.migrations.metadata`, which only Alembic's environment, the
    ``envmon db`` commands and the drift test import: no cycle db → tables → db).
    """
    engine = get_engine(url)
    if url not in _migrated:
        with _migrate_lock:
            if url not in _migrated:
                # deferred: Alembic loads only when a process first opens the database (the DAG files
                # import modules that import this one)
                from monitoring.migrations import upgrade

                upgrade(engine)
                _migrated.add(url)
    return engine


def serialize_writers(session: Session, name: str) -> None:
    """Make the rest of ``session``'s transaction the only writer of kind ``name`` until it ends.

    PostgreSQL: a transaction-scoped advisory lock on ``hashtext(name)`` (other kinds go on). SQLite: the
    database write lock taken now (``BEGIN IMMEDIATE``), so what the transaction reads stays true until
    it commits. Call it before the first statement of the transaction. Waits, never fails on a busy
    database (within the SQLite busy timeout).
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
    elif conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A transaction: commit on success, roll back on error."""
    engine = init_db(url)
    session = sessionmaker(engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
