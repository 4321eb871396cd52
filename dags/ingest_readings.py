"""Ingest readings every 5 minutes: one mapped task per cluster (zone).

spool + landing files → decode → normalise → validate → write to InfluxDB → mark consumed.
Every decision lives in :mod:`monitoring.ingest`; this file only wires it into Airflow. Each zone's task
emits an asset event on ``envmon://readings/<zone>`` (through the ``envmon-readings`` alias) that the
evaluation DAG is scheduled on.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAlias, dag, task

from monitoring import ingest

READINGS_ALIAS = AssetAlias(ingest.READINGS_ALIAS)


@dag(
    dag_id="ingest_readings",
    schedule=timedelta(minutes=5),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,               # a late scheduler never replays a backlog of runs: the spool holds the data
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": True},
    tags=["envmon", "ingest"],
    doc_md=__doc__,
)
def ingest_readings():
    @task
    def zones() -> list[str]:
        return ingest.zone_ids()

    @task(outlets=[READINGS_ALIAS], map_index_template="{{ task.op_kwargs['zone'] }}")
    def ingest_zone(zone: str, *, outlet_events=None) -> dict:
        report = ingest.ingest_zone(zone)
        if report.readings_stored:
            outlet_events[READINGS_ALIAS].add(ingest.zone_asset(zone), extra=report.asset_extra())
        return report.as_dict()

    @task
    def summarise(reports: list[dict]) -> dict:
        # One slice request for all mapped results: iterating the lazy sequence reads until the
        # api-server answers 404, which the task log shows as an "XCom not found" error line.
        return ingest.summarise(list(reports[:]))

    summarise(ingest_zone.expand(zone=zones()))


DAG = ingest_readings()
