"""Run envmon's DAGs in-process with ``dag.test()`` (the demo and the tests), in a private Airflow home.

Airflow reads its configuration when first imported, so :func:`prepare_airflow_home` must run before
anything imports ``airflow``; the monitoring and sensors packages never import it at module level.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"


def prepare_airflow_home(home: Path) -> Path:
    """Point Airflow at ``home`` (SQLite metadata DB, the project's dags/ folder) and migrate its DB."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    })
    if "airflow.configuration" in sys.modules:
        raise RuntimeError("prepare_airflow_home() must run before airflow is imported")
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, check=False, env=os.environ.copy())
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stderr[-2000:]}")
    return home


def run_dag_test(module: str, *, run_conf: dict | None = None):
    """Import ``dags.<module>`` and run its DAG once with ``dag.test()``; return the finished DagRun."""
    # Airflow's in-process API client imports starlette's TestClient, which warns about httpx; the
    # warning is about Airflow's dependencies, not envmon, and would print in the middle of the demo.
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    mod = importlib.import_module(f"dags.{module}")
    dag = mod.DAG
    return dag.test(run_conf=run_conf) if run_conf else dag.test()
