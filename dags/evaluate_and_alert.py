"""Compliance evaluation and incident alerts, scheduled on the zones' readings assets (issue #3 §5).

Evaluates the completed hours that the new readings touched, updates incidents, notifies. A manual run
may pass ``{"start": ISO, "end": ISO}`` as run conf to (re-)evaluate a period (backfill: incidents are
updated, notifications already sent are not sent again). Every decision lives in
:mod:`monitoring.alerting`.
"""

from __future__ import annotations

import functools
import operator
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from monitoring import alerting, ingest

READINGS = functools.reduce(operator.or_, [ingest.zone_asset(z) for z in ingest.zone_ids()])


@dag(
    dag_id="evaluate_and_alert",
    schedule=READINGS,                      # any zone's new readings
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["envmon", "compliance"],
    doc_md=__doc__,
)
def evaluate_and_alert():
    @task
    def evaluate(*, triggering_asset_events=None, dag_run=None) -> dict:
        conf = (dag_run.conf or {}) if dag_run is not None else {}
        if conf.get("start") and conf.get("end"):
            report = alerting.evaluate_and_alert(start=pendulum.parse(conf["start"]),
                                                 end=pendulum.parse(conf["end"]))
        else:
            first = [e.extra.get("first_time") for events in (triggering_asset_events or {}).values()
                     for e in events]
            report = alerting.evaluate_and_alert(first_times=first)
        return report.as_dict()

    evaluate()


DAG = evaluate_and_alert()
