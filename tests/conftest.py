"""Shared fixtures. Each helper area adds its own fixtures in its sub-folder's conftest.py."""

from __future__ import annotations

import tests.airflow_env  # noqa: F401,I001  (must run before anything imports airflow)

from pathlib import Path

import pytest

from monitoring.config import Settings, load_settings
from monitoring.registry import Registry, load_registry


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with a private data dir and SQLite file; no InfluxDB URL (use the influx fixtures)."""
    monkeypatch.setenv("ENVMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ENVMON_DB_URL", raising=False)
    return load_settings().ensure_dirs()


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The packaged county registry."""
    return load_registry(Path(__file__).resolve().parents[1] / "monitoring" / "data" / "registry.yaml")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB in a throwaway AIRFLOW_HOME; DAGS_FOLDER is the repo's dags/."""
    return tests.airflow_env.migrate_airflow_db()
