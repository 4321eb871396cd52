"""Evaluate → incidents → notifications: what the ``evaluate_and_alert`` DAGs run (issue #3 §5).

* :func:`evaluate_and_alert` — evaluate the completed hours a batch of new readings touched (from the
  start of the local day of the earliest new reading, so daily water means and noise day/night periods
  are recomputed whole), apply the assessments to the incidents (idempotent: a backfill updates
  incidents without re-sending what was sent), escalate unacknowledged ones, notify, and retry
  undelivered notifications.
* :func:`check_data_capture` — the deadman (:mod:`monitoring.incidents.deadman`: threshold, start-up
  grace, cluster/county incidents, hysteresis on recovery).
* :func:`check_hazardous_waste` — the daily ledger checks (storage age, temporary-point stock,
  manifests, receiver licences) over the stored ``hw_ledger``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from monitoring.config import LOCAL_TZ, Settings, load_settings
from monitoring.registry import Registry, load_registry

#: The evaluation never reaches further back than this, whatever the asset events say.
MAX_LOOKBACK = timedelta(days=35)
#: How far back the deadman looks for a point's last valid reading.
DEADMAN_LOOKBACK = timedelta(days=40)


@dataclass
class AlertReport:
    start: str
    end: str
    windows: int = 0
    exceedances: int = 0
    opened: int = 0
    updated: int = 0
    cleared: int = 0
    escalated: int = 0
    sent: int = 0
    failed: int = 0
    security: int = 0          # security incidents opened (receiver PW lockouts)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def completed_hour(now: datetime) -> pd.Timestamp:
    """The end of the last completed clock hour (UTC)."""
    return pd.Timestamp(now).tz_convert("UTC").floor("h")


def touched_zones(extras: list[dict[str, Any]]) -> dict[str, str]:
    """Earliest new reading per zone over the asset events of one or more ingest runs
    (:func:`monitoring.ingest.run_asset_extra`)."""
    first: dict[str, pd.Timestamp] = {}
    for extra in extras:
        for zone, news in (extra or {}).get("zones", {}).items():
            if news.get("first_time"):
                t = pd.Timestamp(news["first_time"])
                first[zone] = min(first.get(zone, t), t)
    return {z: t.isoformat() for z, t in first.items()}


def touched_windows(assessments: pd.DataFrame, touched: dict[str, str]) -> pd.DataFrame:
    """The assessments of windows that new readings touched: per zone, windows ending after the zone's
    first new reading (a day or night window containing it included). Other windows were judged
    before on the same data and are left alone."""
    if assessments.empty or not touched:
        return assessments.iloc[0:0] if not touched else assessments
    since = assessments["zone"].map({z: pd.Timestamp(t) for z, t in touched.items()})
    keep = since.notna() & (assessments["window_end"] > since)
    return assessments[keep.fillna(False).astype(bool)]


def evaluation_window(first_times: list[str | None], now: datetime,
                      default: timedelta = timedelta(hours=3)) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end): from local midnight of the earliest new reading to the last completed hour."""
    end = completed_hour(now)
    known = [pd.Timestamp(t) for t in first_times if t]
    earliest = min(known) if known else end - default
    start = earliest.tz_convert(LOCAL_TZ).normalize().tz_convert("UTC")
    return max(start, end - MAX_LOOKBACK), end


def _context(settings: Settings | None, registry: Registry | None):
    # deferred: this module is imported when Airflow parses the DAG files
    from limits.catalogue import load_catalogue
    from monitoring.ingest import store_from_settings

    settings = settings or load_settings()
    registry = registry or load_registry(settings.registry_path)
    return settings, registry, load_catalogue(settings.limits_override), store_from_settings(settings)


def _apply(manager, changes, settings: Settings, registry: Registry, report: AlertReport, now: datetime) -> None:
    """Escalate what is overdue, notify ``changes`` and the escalations, retry undelivered messages."""
    # deferred: this module is imported when Airflow parses the DAG files
    from monitoring.notifications import Notifier
    from monitoring.security import import_security_events

    # PW lockouts of the receiver become incidents of kind "security" (seen in the incident list and
    # console; messages for them are not sent yet: the notification templates know two kinds)
    report.security = len(import_security_events(settings.sql_url, settings.data_dir, now=now).opened)
    escalations = manager.escalate_due(now)
    notifier = Notifier(db_url=settings.sql_url)
    for change_set in (changes, escalations):
        sent = notifier.notify(change_set, registry, now=now)
        report.sent += sent.sent
        report.failed += sent.failed
    retried = notifier.retry_pending(now=now)
    report.sent += retried.sent
    report.opened += len(changes.opened)
    report.updated += len(changes.updated)
    report.cleared += len(changes.cleared)
    report.escalated += len(escalations.escalated)


def evaluate_and_alert(*, first_times: list[str | None] | None = None, touched: dict[str, str] | None = None,
                       start: datetime | None = None, end: datetime | None = None, zone: str | None = None,
                       now: datetime | None = None, notify: bool = True,
                       settings: Settings | None = None, registry: Registry | None = None) -> AlertReport:
    """Evaluate and update incidents, then notify (unless ``notify`` is false).

    ``touched``: {zone: first new reading} of one ingest run (:func:`touched_zones`): one evaluation
    from the local midnight of the earliest (so that daily water means and noise day/night periods are
    whole) to the last completed hour, restricted to those zones, and only the windows the new
    readings touched go to the incidents. ``start``/``end``: a given period (backfill). ``first_times``:
    the older per-event form (all zones)."""
    # deferred: this module is imported when Airflow parses the DAG files
    from monitoring.compliance.evaluate import evaluate_period
    from monitoring.incidents import IncidentManager

    now = now or datetime.now(UTC)
    settings, registry, catalogue, store = _context(settings, registry)
    if start is None or end is None:
        times = list(touched.values()) if touched is not None else (first_times or [])
        start, end = evaluation_window(times, now)
        if touched is not None and len(touched) == 1:
            zone = next(iter(touched))
    report = AlertReport(start=pd.Timestamp(start).isoformat(), end=pd.Timestamp(end).isoformat())
    if touched is not None and not touched:
        return report
    evaluation = evaluate_period(store, registry, catalogue, start, end, zone=zone, write=True)
    assessments = evaluation.assessments
    if touched is not None:
        assessments = touched_windows(assessments, touched)
    report.windows = len(assessments)
    report.exceedances = int((assessments["verdict"] == "exceeds").sum()) if len(assessments) else 0
    # issue #14: soil above the screening value → a follow-up task, not an incident; groundwater trends
    from monitoring.compliance.groundwater import trend_from_store
    from monitoring.followup import open_tasks, split_followups

    for_incidents, followups = split_followups(assessments)
    trends = trend_from_store(store, registry, catalogue, now)
    report.details["followup_tasks"] = len(open_tasks(settings.sql_url, followups, now=now))
    report.details["trend_warnings"] = int((trends["verdict"] == "exceeds").sum()) if len(trends) else 0
    if len(trends):
        for_incidents = pd.concat([for_incidents, trends], ignore_index=True)
    manager = IncidentManager(settings.sql_url)
    changes = manager.apply_assessments(for_incidents, now=now)
    if notify:
        _apply(manager, changes, settings, registry, report, now)
    else:
        report.opened, report.updated, report.cleared = (len(changes.opened), len(changes.updated),
                                                         len(changes.cleared))
    from monitoring.safety.batch import reconcile_stored  # safety alarms: the batch path (issue #14)

    report.details["safety"] = reconcile_stored(store, registry, settings, start, now, catalogue=catalogue,
                                                zone=zone, now=now, deliver=notify)
    return report


def last_valid_times(store, now: datetime, lookback: timedelta = DEADMAN_LOOKBACK) -> pd.DataFrame:
    """Each point's last flag-N reading time in the look-back window (InfluxQL ``last()``)."""
    since = (pd.Timestamp(now) - lookback).tz_convert("UTC").isoformat()
    frame = store.query("SELECT last(value) AS v FROM readings WHERE flag = 'N' AND time >= $since GROUP BY point",
                        params={"since": since})
    if frame.empty:
        return pd.DataFrame({"point": pd.Series(dtype="string"),
                             "last_valid_time": pd.Series(dtype="datetime64[ns, UTC]")})
    return frame.rename(columns={"time": "last_valid_time"})[["point", "last_valid_time"]]


def deadman_watch_since(settings: Settings, now: datetime) -> datetime:
    """Start of the deadman's watch (start-up grace): when ``envmon up`` started the stack (its
    ``run/stack.json``), else when the deadman first ran on this data directory (``records/deadman-since``)."""
    import json

    stack = settings.data_dir / "run" / "stack.json"
    try:
        started = json.loads(stack.read_text(encoding="utf-8")).get("started_at")
    except (OSError, ValueError):
        started = None
    if started:
        return pd.Timestamp(started).to_pydatetime()
    marker = settings.records_dir / "deadman-since"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(pd.Timestamp(now).tz_convert("UTC").isoformat(), encoding="utf-8")
    return pd.Timestamp(marker.read_text(encoding="utf-8").strip()).to_pydatetime()


def first_valid_after(store, open_incidents: list[tuple[str, str | None, datetime | None]]) -> dict[str, datetime]:
    """For each open data-missing incident (series point, zone, started): the first valid reading after
    its start — of the point, of any point of the zone (``zone:<id>``) or of the county (``county``)."""
    from monitoring.incidents.deadman import COUNTY_KEY

    keys, statements = [], []
    for key, zone, started in open_incidents:
        if started is None:
            continue
        cond = ["flag = 'N'", f"time > {pd.Timestamp(started).value}"]
        if key.startswith("zone:"):
            cond.append(f"zone = '{_literal(key[5:])}'")
        elif key != COUNTY_KEY:
            cond.append(f"point = '{_literal(key)}'")
        keys.append(key)
        statements.append(f"SELECT first(value) AS v FROM readings WHERE {' AND '.join(cond)}")
    out: dict[str, datetime] = {}
    for start in range(0, len(statements), 50):            # a few requests, not one per incident
        frames = store.query_many(";\n".join(statements[start:start + 50]), epoch="ns")
        for key, frame in zip(keys[start:start + 50], frames, strict=True):
            if not frame.empty:
                out[key] = frame["time"].iloc[0].to_pydatetime()
    return out


def _literal(text: str) -> str:
    """An InfluxQL string literal's content (registry ids; quotes and backslashes escaped)."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def check_data_capture(*, now: datetime | None = None, settings: Settings | None = None,
                       registry: Registry | None = None, online_only: bool = True,
                       watch_since: datetime | None | str = "auto") -> AlertReport:
    """Deadman (:mod:`monitoring.incidents.deadman`): open data-missing incidents for silent points — one
    per cluster or county when many fall silent together — and clear them once data has been back long
    enough. ``watch_since``: start of the watch (start-up grace); "auto" = :func:`deadman_watch_since`."""
    # deferred: this module is imported when Airflow parses the DAG files
    from monitoring.incidents import IncidentManager

    now = now or datetime.now(UTC)
    settings, registry, _, store = _context(settings, registry)
    if watch_since == "auto":
        watch_since = deadman_watch_since(settings, now)
    points = [p.id for p in registry.points_of(online=True)] if online_only else None
    manager = IncidentManager(settings.sql_url)
    first_back = first_valid_after(store, manager.open_deadman())
    changes = manager.check_deadman(last_valid_times(store, now), registry, now=now, points=points,
                                    watch_since=watch_since, first_back=first_back)
    report = AlertReport(start=(pd.Timestamp(now) - DEADMAN_LOOKBACK).isoformat(), end=pd.Timestamp(now).isoformat())
    _apply(manager, changes, settings, registry, report, now)
    return report


def stored_ledger(store, since: datetime, until: datetime) -> pd.DataFrame:
    """The ``hw_ledger`` measurement as a ledger frame (``sensors.schema.LEDGER_COLUMNS``)."""
    # deferred: this module is imported when Airflow parses the DAG files
    from sensors.schema import LEDGER_COLUMNS, empty_ledger

    frame = store.query("SELECT * FROM hw_ledger WHERE time >= $since AND time < $until",
                        params={"since": pd.Timestamp(since).tz_convert("UTC").isoformat(),
                                "until": pd.Timestamp(until).tz_convert("UTC").isoformat()})
    if frame.empty:
        return empty_ledger()
    frame = frame.rename(columns={"time": "date"})
    for col in LEDGER_COLUMNS:
        if col not in frame:
            frame[col] = pd.NA
    for col in ("confirmed", "received"):
        frame[col] = pd.to_datetime(frame[col].replace("", pd.NA), utc=True)
    return frame[list(LEDGER_COLUMNS)].astype({c: t for c, t in LEDGER_COLUMNS.items()
                                              if c not in ("date", "confirmed", "received")})


def check_hazardous_waste(*, as_of: datetime | None = None, settings: Settings | None = None,
                          registry: Registry | None = None, history: timedelta = timedelta(days=800)
                          ) -> AlertReport:
    """Daily hazardous-waste checks on the stored ledger; findings become incidents like exceedances."""
    # deferred: this module is imported when Airflow parses the DAG files
    from monitoring.compliance.hazardous_waste import evaluate_ledger
    from monitoring.incidents import IncidentManager

    as_of = as_of or datetime.now(UTC)
    settings, registry, catalogue, store = _context(settings, registry)
    ledger = stored_ledger(store, as_of - history, as_of + timedelta(days=1))
    assessments = evaluate_ledger(ledger, registry, catalogue, as_of=as_of,
                                  holidays_path=settings.holidays_path)
    report = AlertReport(start=(pd.Timestamp(as_of) - history).isoformat(), end=pd.Timestamp(as_of).isoformat())
    report.windows = len(assessments)
    report.exceedances = int((assessments["verdict"] == "exceeds").sum()) if len(assessments) else 0
    manager = IncidentManager(settings.sql_url)
    _apply(manager, manager.apply_assessments(assessments, now=as_of), settings, registry, report, as_of)
    return report
