"""Alembic environment: runs on the connection handed in by :func:`monitoring.migrations.upgrade`
(``config.attributes["connection"]``), or on ``sqlalchemy.url`` for the ``envmon db`` commands."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from monitoring.db import Base
from monitoring.migrations.metadata import register_tables

register_tables()
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
