"""双随机、一公开: the quarterly draw of the inspection roster and the daily publication-deadline check.

Wiring only: every decision (period, idempotence, rules, deadlines) lives in
:mod:`monitoring.roster.schedule`. The draw's cron comes from the rules file (``schedule``; quarterly,
08:00 on the first day of each quarter, Asia/Shanghai, by default). A scheduled run draws only on its
date — unpausing the DAG or starting the scheduler later never draws; a late draw is a manual trigger
with run conf ``{"period": "2026-Q4", "reason": "…"}``, the reason recorded in the draw record.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from monitoring.roster import schedule as roster

START = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")


def _run_time() -> str:
    """The instant this run is for: its logical date, else (manual runs) when it was allowed to run."""
    ctx = get_current_context()
    when = ctx.get("logical_date") or ctx["dag_run"].run_after
    return when.isoformat()


@dag(dag_id="inspection_roster_draw", schedule=roster.draw_schedule(), start_date=START, catchup=False,
     max_active_runs=1, default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
     tags=["envmon", "roster"], doc_md=__doc__)
def inspection_roster_draw():
    @task
    def draw_quarter() -> dict:
        ctx = get_current_context()
        run = ctx["dag_run"]
        conf = run.conf or {}
        manual = str(run.run_type).lower().endswith("manual")
        started = run.start_date or run.run_after
        try:
            return roster.scheduled_draw(_run_time(), run_at_iso=started.isoformat(), manual=manual,
                                         period=conf.get("period"), reason=conf.get("reason"))
        except roster.LateDrawRefused as refused:     # a retry cannot add the missing reason
            raise AirflowFailException(str(refused)) from refused

    draw_quarter()


@dag(dag_id="inspection_publication_deadlines", schedule="0 9 * * *", start_date=START, catchup=False,
     max_active_runs=1, tags=["envmon", "roster"], doc_md=__doc__)
def inspection_publication_deadlines():
    @task
    def check_deadlines() -> dict:
        return roster.daily_deadline_check(_run_time())

    check_deadlines()


draw_dag = inspection_roster_draw()
deadlines_dag = inspection_publication_deadlines()
