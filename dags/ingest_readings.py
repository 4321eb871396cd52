"""Ingest readings every 30 s: one mapped task per cluster (zone), then one asset event for the run.

spool + landing files → decode → normalise → validate → write to InfluxDB → mark consumed.
Every decision lives in :mod:`monitoring.ingest`; this file only wires it into Airflow. ``summarise``
emits ONE event on ``envmon://readings`` per run that stored anything, its extra naming what each zone
got (``zones: {zone: {first_time, last_time, readings}}``), so ``evaluate_and_alert`` runs once per
ingest run with all zones' news together.

Cadence: every 30 s (the receiver rotates its spool segments every 5 s). This, not an AssetWatcher
on the spool, is how alerts stay within the latency goal: with live devices a ready segment exists at
every moment, so a watcher would fire continuously anyway (with ``max_active_runs=1`` it would amount
to ``@continuous``: an ingest run back to back, ~1.5× the CPU of this cadence on a 2-core server), and
a fixed cadence bounds the scheduler's and the database's load. ``max_active_runs=1``: a slow run
delays the next instead of racing it.

Where an alert's time goes (``bench/bench_live.py``, 9014 of the packet completing an exceeding hour →
webhook, 8 samples, load ~11 on 2 cores): waiting for the next ingest run p50 14 s / p95 29 s (the
cadence), the ingest run 16 / 17 s (five zone tasks and ``summarise``), the evaluation run's queue 4 /
6 s, the evaluation 8 / 9 s (was 10 / 19 s while every run re-evaluated from local midnight); total
p50 40 s, p95 58 s (goal p95 ≤ 90 s). The ~1-hour live run (``make test-live``, 12 samples, load 5–7):
wait 16 / 31 s, ingest 6 / 12 s, queue 1 / 2 s, evaluation 4 / 6 s; total p50 28 s, p95 42 s.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAlias, dag, task

from monitoring import ingest

READINGS_ALIAS = AssetAlias(ingest.READINGS_ALIAS)


@dag(
    dag_id="ingest_readings",
    schedule=timedelta(seconds=30),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,               # a late scheduler never replays a backlog of runs: the spool holds the data
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": True},
    tags=["envmon", "ingest"],
    doc_md=__doc__,
)
def ingest_readings():
    @task(map_index_template="{{ task.op_kwargs['zone'] }}")
    def ingest_zone(zone: str) -> dict:
        return ingest.ingest_zone(zone).as_dict()

    # all_done: one failed zone never hides (or keeps from evaluation) what the others stored
    @task(outlets=[READINGS_ALIAS], trigger_rule="all_done")
    def summarise(reports: list[dict], *, outlet_events=None) -> dict:
        # One slice request for all mapped results: iterating the lazy sequence reads until the
        # api-server answers 404, which the task log shows as an "XCom not found" error line.
        reports = [r for r in reports[:] if r]      # a failed zone returned nothing
        extra = ingest.run_asset_extra(reports)
        if extra["zones"]:   # nothing new → no event (through the alias), so no evaluation for nothing
            outlet_events[READINGS_ALIAS].add(ingest.readings_asset(), extra=extra)
        return ingest.summarise(reports)

    summarise(ingest_zone.expand(zone=ingest.zone_ids()))


DAG = ingest_readings()
