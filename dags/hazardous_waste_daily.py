"""Daily hazardous-waste checks at 07:00 local time: storage > 365 days, temporary point > 3 t,
manifests unconfirmed after 5 working days, receivers without licence (issue #3 §2).
Logic in :func:`monitoring.alerting.check_hazardous_waste`."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from monitoring import alerting


@dag(dag_id="hazardous_waste_daily", schedule="0 7 * * *",
     start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"), catchup=False, max_active_runs=1,
     default_args={"retries": 2, "retry_delay": timedelta(minutes=5)}, tags=["envmon", "compliance"],
     doc_md=__doc__)
def hazardous_waste_daily():
    @task
    def ledger_checks() -> dict:
        return alerting.check_hazardous_waste().as_dict()

    ledger_checks()


DAG = hazardous_waste_daily()
