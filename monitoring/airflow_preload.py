"""Warm task processes for the real scheduler: import the heavy libraries once, in the scheduler.

Airflow 3's LocalExecutor forks its workers from the scheduler, and each task process is forked from a
worker. ``envmon up`` writes an ``airflow_local_settings.py`` (Airflow imports it at start-up in every
process) that calls :func:`preload`; in the scheduler it imports pandas, Great Expectations and the
ingest/compliance modules, so a task starts with them in memory instead of paying ~10 s of imports on a
busy 2-core server (measured: ``import great_expectations`` 10.9 s, pandas 1.4 s). Measured under the
real scheduler on the shared 2-core machine (load 11–15): the roster task 13.6 s → 2.5 s, the deadman
task 4.9 → 4.3 s, an ingest run (5 zone tasks) 41 s → 23 s. It is what keeps the alert latency near its
goal (``bench/bench_live.py``). Other Airflow processes (api-server, dag-processor, triggerer, CLI) skip
it; the scheduler's own start-up takes that much longer.
"""

from __future__ import annotations

import importlib
import sys

#: Modules a task of the envmon DAGs imports.
PRELOAD = ("pandas", "numpy", "great_expectations", "monitoring.ingest", "monitoring.quality",
           "monitoring.alerting", "monitoring.compliance.evaluate", "monitoring.incidents",
           "monitoring.notifications", "monitoring.influx")

LOCAL_SETTINGS = '''\
# Written by `envmon up` (monitoring.airflow_preload); regenerated at every start.
from monitoring.airflow_preload import preload as _envmon_preload

_envmon_preload()
__all__: list[str] = []
'''


def preload(argv: list[str] | None = None) -> list[str]:
    """Import :data:`PRELOAD` when this process is ``airflow scheduler``; returns what was imported."""
    args = sys.argv if argv is None else argv
    if len(args) < 2 or args[1] != "scheduler":
        return []
    done = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
            done.append(name)
        except Exception:  # noqa: BLE001,S112 - a warm-up must never stop the scheduler; the task says why
            continue
    if "monitoring.ingest" in done:
        try:  # GE's context and suite (~3 s of CPU per process otherwise) and the modules ingest defers
            importlib.import_module("monitoring.ingest").warm_up()
            done.append("great_expectations context")
        except Exception:  # noqa: BLE001,S110 - as above: the task builds it itself then
            pass
    return done
