"""Shared fixtures. Each helper area adds its own fixtures in its sub-folder's conftest.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

import tests.airflow_env
from monitoring.config import Settings, load_settings
from monitoring.influx import InfluxStore
from monitoring.registry import Registry, load_registry


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with a private data dir and SQLite file; no InfluxDB URL (use the influx fixtures)."""
    monkeypatch.setenv("ENVMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ENVMON_DB_URL", raising=False)
    return load_settings().ensure_dirs()


# ---------------------------------------------------------------------------------------------------
# SQL store: every SQL-store test runs on SQLite and on PostgreSQL (``sql_url`` is parametrised).
# PostgreSQL is ``ENVMON_TEST_DB_URL`` (a server where the user may CREATE DATABASE) if set, else one
# throwaway cluster per test session (monitoring.postgres). Each test gets a fresh database.
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL server database from which test databases are created."""
    external = os.environ.get("ENVMON_TEST_DB_URL")
    if external:
        yield external
        return
    from monitoring.postgres import managed_postgres

    with managed_postgres() as url:
        yield url


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server at ``server_url``; dropped (connections and all) after."""
    from sqlalchemy import create_engine, make_url, text

    from monitoring.db import get_engine

    name = f"envmon_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        try:
            yield url
        finally:
            if get_engine.cache_info().currsize:
                get_engine.cache_clear()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The SQL store of one test: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'envmon-test.sqlite'}"
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_server")) as url:
        yield url


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The packaged county registry."""
    return load_registry(Path(__file__).resolve().parents[1] / "monitoring" / "data" / "registry.yaml")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB in a throwaway AIRFLOW_HOME; DAGS_FOLDER is the repo's dags/."""
    return tests.airflow_env.migrate_airflow_db()


# ---------------------------------------------------------------------------------------------------
# InfluxDB (monitoring.influx / monitoring.influx.server). Real server only: ENVMON_INFLUX_URL if set, else one
# throwaway influxd per test session. A missing influxd is an error, not a skip (CI installs it).
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def influx_url() -> Iterator[str]:
    """Base URL of the InfluxDB the tests use: ``ENVMON_INFLUX_URL`` or a managed influxd."""
    external = os.environ.get("ENVMON_INFLUX_URL")
    if external:
        yield external.rstrip("/")
        return
    from monitoring.influx.server import managed_influxd

    with managed_influxd() as url:
        yield url


@pytest.fixture
def influx_store(influx_url: str) -> Iterator[InfluxStore]:
    """An :class:`~monitoring.influx.InfluxStore` on a fresh, uniquely named database (dropped after)."""
    store = InfluxStore(influx_url, f"test_{uuid.uuid4().hex[:12]}",
                        token=os.environ.get("ENVMON_INFLUX_TOKEN") or None,
                        user=os.environ.get("ENVMON_INFLUX_USER") or None,
                        password=os.environ.get("ENVMON_INFLUX_PASSWORD") or None,
                        retries=2, backoff_factor=0.05)
    store.ensure_database()
    try:
        yield store
    finally:
        try:
            store.drop_database()
        finally:
            store.close()


@pytest.fixture
def readings_factory() -> Callable[..., pd.DataFrame]:
    """``make(n=…, start=…, freq=…, **columns)`` → a canonical readings batch (sensors.schema).

    Defaults: ``n`` hourly ``avg``/``1h`` particulate-matter (a34013, mg/m3) readings of stack
    ``JK-002-DA001`` of enterprise ``JK-002`` (江星木业, jiangkou), flag ``N``, source ``sim``, from
    2026-03-01 00:00 Asia/Shanghai, values 10.0, 10.5, … Any canonical column can be overridden with a
    scalar or a sequence of length ``n``.
    """
    from sensors import schema

    def make(n: int = 24, *, start: str = "2026-03-01T00:00:00+08:00", freq: str = "1h",
             **columns: object) -> pd.DataFrame:
        base: dict[str, object] = {
            "time": pd.date_range(pd.Timestamp(start), periods=n, freq=freq).tz_convert("UTC"),
            "zone": "jiangkou", "enterprise": "JK-002", "point": "JK-002-DA001", "kind": "stack",
            "parameter": "a34013", "statistic": "avg", "period": "1h",
            "value": [10.0 + 0.5 * i for i in range(n)], "unit": "mg/m3", "flag": "N",
            "qualifier": pd.NA, "source": "sim", "batch": "test-batch",
        }
        base.update(columns)
        return schema.conform(pd.DataFrame(base, index=range(n)))

    return make
