"""The relational store for mutable records (incidents, rosters, inspection results, complaints).

SQLite file by default, PostgreSQL (or any SQLAlchemy URL) with ``ENVMON_DB_URL``. Every domain module
declares its tables on :class:`Base`; :func:`init_db` creates what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
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


def init_db(url: str) -> Engine:
    """Create every table declared on :class:`Base` that does not exist yet (imports the models)."""
    import monitoring.models  # noqa: F401  (registers all tables on Base)

    engine = get_engine(url)
    Base.metadata.create_all(engine)
    return engine


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
