"""The calls the Airflow DAGs ``inspection_roster_draw`` and ``inspection_publication_deadlines`` make; every decision lives here, not in the DAG."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from monitoring.config import LOCAL_TZ, load_settings
from monitoring.db import session_scope
from monitoring.roster import tables
from monitoring.roster.period import Period
from monitoring.roster.rules import load_rules

log = logging.getLogger(__name__)
DEFAULT_SCHEDULE = "0 8 1 1,4,7,10 *"


def draw_schedule() -> str:
    """The cron expression of the scheduled draw from the rules file (quarterly by default)."""
    try:
        return load_rules(load_settings().roster_rules_path).rules.schedule
    except Exception as exc:  # noqa: BLE001 - a broken rules file must not break DAG parsing
        log.warning("roster rules unreadable (%s); using the default schedule %s", exc, DEFAULT_SCHEDULE)
        return DEFAULT_SCHEDULE


class LateDrawRefused(RuntimeError):
    """A manual draw without a reason."""


def scheduled_draw(when_iso: str, by: str = "airflow", *, run_at_iso: str | None = None,
                   manual: bool = False, period: str | None = None, reason: str | None = None) -> dict:
    """Draw the county roster for the quarter containing ``when_iso`` unless one already exists
    (idempotent: a re-run returns the existing record). Returns a small summary (no inspector data).

    A scheduled run draws only on its scheduled (local) date: ``run_at_iso`` (when the run actually
    started) on another date — a DAG unpaused or a scheduler started after the date — draws nothing and
    says so (``skipped``). A draw for a passed date needs a manual trigger (``manual``) with a
    ``reason``, which goes into the draw record (``late_draw_reason``); ``period`` may name the quarter.
    """
    # deferred: this module is imported when Airflow parses the DAG files
    from monitoring.roster.records import run_draw
    settings = load_settings()
    when = datetime.fromisoformat(when_iso)
    target = Period.parse(period) if period else Period.containing(when)
    if manual and not (reason or "").strip():
        raise LateDrawRefused(f"a manual draw of {target} needs a reason (run conf {{\"reason\": \"…\"}}); "
                              "it is recorded in the draw record")
    with session_scope(settings.sql_url) as s:
        existing = [r for r in tables.active_draws(s, target) if r.scope == "county"]
        if existing:
            r = existing[-1]
            return {"period": str(target), "record_id": r.record_id, "new": False}
    if not manual:
        run_at = datetime.fromisoformat(run_at_iso) if run_at_iso else datetime.now(UTC)
        due, ran = when.astimezone(LOCAL_TZ).date(), run_at.astimezone(LOCAL_TZ).date()
        if ran != due:
            msg = (f"the scheduled draw of {target} was due on {due.isoformat()} and this run started on "
                   f"{ran.isoformat()}: not drawn. Trigger inspection_roster_draw manually with run conf "
                   f'{{"period": "{target}", "reason": "…"}} to draw late; the reason is recorded.')
            log.warning(msg)
            return {"period": str(target), "new": False, "skipped": msg}
    rec = run_draw(settings, target, by=by, late_reason=reason.strip() if manual and reason else None)
    return {"period": str(target), "record_id": rec["record_id"], "new": True, "tasks": len(rec["result"]["tasks"]),
            "record_sha256": rec["record_sha256"], "warnings": rec["result"]["warnings"],
            **({"late_draw_reason": reason.strip()} if manual and reason else {})}


def daily_deadline_check(today_iso: str | None = None) -> dict:
    """Flag results whose publication deadline has passed (logged as warnings and returned)."""
    # deferred: this module is imported when Airflow parses the DAG files
    from monitoring.roster.publication import deadlines
    settings = load_settings()
    today = (datetime.fromisoformat(today_iso).astimezone(LOCAL_TZ).date() if today_iso
             else datetime.now(UTC).astimezone(LOCAL_TZ).date())
    df = deadlines(settings, today)
    overdue = df[df["status"] == "overdue"] if not df.empty else df
    for r in overdue.itertuples():
        log.warning("publication overdue: task %s (%s) inspected %s, due %s", r.task_id, r.enterprise,
                    r.inspected_on, r.publish_due)
    return {"today": today.isoformat(), "unpublished": len(df), "overdue": sorted(overdue["task_id"].tolist())
            if not df.empty else []}
