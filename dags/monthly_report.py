"""Monthly compliance reports: daily at 02:00 local; on the 1st the previous month's preliminary reports, on
the data-review deadline day (``ENVMON_REPORT_REVIEW_DAY``) the final ones, published and sent.
Every decision lives in :func:`monitoring.reports.delivery.scheduled_run`. A manual run may pass
``{"month": "YYYY-MM"}`` as run conf to (re)issue one month now."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="monthly_report", schedule="0 2 * * *",
     start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"), catchup=False, max_active_runs=1,
     default_args={"retries": 2, "retry_delay": timedelta(minutes=10)}, tags=["envmon", "reports"],
     doc_md=__doc__)
def monthly_report():
    @task
    def issue_and_send(*, logical_date=None, dag_run=None) -> dict:
        from monitoring.reports.delivery import scheduled_run

        conf = (dag_run.conf or {}) if dag_run is not None else {}
        now = logical_date or pendulum.now("UTC")
        return scheduled_run(now, month=conf.get("month")).as_dict()

    issue_and_send()


DAG = monthly_report()
