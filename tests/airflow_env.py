"""Point Airflow at a throwaway home before anything imports it (Airflow reads its config on import).

Imported first thing by ``tests/conftest.py``. The metadata DB is migrated lazily by the ``airflow_db``
fixture, so test runs that never touch Airflow don't pay for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="envmon-airflow-"))
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}")

_migrated = False


def migrate_airflow_db() -> Path:
    """Create the Airflow metadata DB once per test session (≈10 s)."""
    global _migrated
    if not _migrated:
        airflow = Path(sys.executable).with_name("airflow")
        subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
        _migrated = True
    return AIRFLOW_HOME
