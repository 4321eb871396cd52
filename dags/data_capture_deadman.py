"""Deadman for data capture: every 5 minutes, a point without valid data for longer than its expected
interval × N opens a "data missing" incident, which clears when data returns (issue #3 §3).
Logic in :func:`monitoring.alerting.check_data_capture`."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from monitoring import alerting


@dag(dag_id="data_capture_deadman", schedule=timedelta(minutes=5),
     start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"), catchup=False, max_active_runs=1,
     default_args={"retries": 2, "retry_delay": timedelta(minutes=1)}, tags=["envmon", "compliance"],
     doc_md=__doc__)
def data_capture_deadman():
    @task
    def deadman() -> dict:
        return alerting.check_data_capture().as_dict()

    deadman()


DAG = data_capture_deadman()
