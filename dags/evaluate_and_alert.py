"""Compliance evaluation and incident alerts, once per ingest run (scheduled on ``envmon://readings``).

The ingest run's asset event names, per zone and point kind, the first new reading; the evaluation
covers only the completed windows those readings touched and the hour that completed since the last
evaluation (:func:`monitoring.alerting.evaluation_plan`: hour windows from their hour, day windows
from local midnight; nothing while the news is all in the running hour), updates incidents and
notifies. Several events queued while a run was busy are taken together.

A manual run may pass ``{"start": ISO, "end": ISO}`` as run conf to (re-)evaluate a period (backfill:
incidents are updated in place, a notification already sent is never sent again; ``"notify": false``
sends nothing at all, e.g. for a historical import). Every decision lives in :mod:`monitoring.alerting`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from monitoring import alerting, ingest


@dag(
    dag_id="evaluate_and_alert",
    schedule=[ingest.readings_asset()],        # one event per ingest run that stored something
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
                                                 end=pendulum.parse(conf["end"]),
                                                 notify=bool(conf.get("notify", True)))
        else:
            extras = [e.extra for events in (triggering_asset_events or {}).values() for e in events]
            report = alerting.evaluate_and_alert(touched=alerting.touched_zones(extras),
                                                 kinds=alerting.touched_kinds(extras))
        return report.as_dict()

    evaluate()


DAG = evaluate_and_alert()
