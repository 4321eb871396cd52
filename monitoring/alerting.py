"""Evaluate → incidents → notifications: what the ``evaluate_and_alert`` DAGs run (issue #3 §5).

* :func:`evaluate_and_alert` — evaluate the completed windows a batch of new readings touched
  (:func:`evaluation_plan`: hour windows of the air points from the hour of the earliest new reading,
  day windows — daily water means, ambient 24-h/8-h, noise day/night — from its local midnight; nothing
  at all while the new readings only fall in the running hour), apply the assessments to the incidents
  (idempotent: a backfill updates incidents without re-sending what was sent), escalate unacknowledged
  ones, notify, and retry undelivered notifications. Safety readings are reconciled from the earliest
  new reading, not from midnight.
* :func:`check_data_capture` — the deadman (:mod:`monitoring.incidents.deadman`: threshold, start-up
  grace, cluster/county incidents, hysteresis on recovery).
* :func:`check_hazardous_waste` — the daily ledger checks (storage age, temporary-point stock,
  manifests, receiver licences) over the stored ``hw_ledger``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


def touched_kinds(extras: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Earliest new reading per zone and point kind over the asset events of one or more ingest runs
    (an event without ``kinds`` — older ingest — counts for none: :func:`touched_zones` covers it)."""
    first: dict[str, dict[str, pd.Timestamp]] = {}
    for extra in extras:
        for zone, news in (extra or {}).get("zones", {}).items():
            for kind, t in (news.get("kinds") or {}).items():
                t = pd.Timestamp(t)
                first.setdefault(zone, {})[kind] = min(first.get(zone, {}).get(kind, t), t)
    return {z: {k: t.isoformat() for k, t in kinds.items()} for z, kinds in first.items()}


def touched_windows(assessments: pd.DataFrame, touched: dict[str, str],
                    completed_after: datetime | None = None) -> pd.DataFrame:
    """The assessments of windows that new readings touched: per zone, windows ending after the zone's
    first new reading (a day or night window containing it included); and, for every zone, windows
    that completed since the last evaluation (ending after ``completed_after``: the hour that just
    closed is judged once it is whole). Other windows were judged before on the same data and are
    left alone."""
    if assessments.empty:
        return assessments
    since = pd.to_datetime(assessments["zone"].map({z: pd.Timestamp(t) for z, t in touched.items()}), utc=True)
    keep = since.notna() & (assessments["window_end"] > since)
    if completed_after is not None:
        keep = keep | (assessments["window_end"] > pd.Timestamp(completed_after))
    return assessments[keep.fillna(False).astype(bool)]


def local_midnight(t: pd.Timestamp) -> pd.Timestamp:
    """00:00 Asia/Shanghai of the local day containing ``t`` (UTC)."""
    return pd.Timestamp(t).tz_convert(LOCAL_TZ).normalize().tz_convert("UTC")


def evaluation_window(first_times: list[str | None], now: datetime,
                      default: timedelta = timedelta(hours=3)) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end): from local midnight of the earliest new reading to the last completed hour."""
    end = completed_hour(now)
    known = [pd.Timestamp(t) for t in first_times if t]
    earliest = min(known) if known else end - default
    return max(local_midnight(earliest), end - MAX_LOOKBACK), end


#: Point kinds whose windows are clock hours (GB 16297 hourly means of stacks, fugitive and in-site VOCs
#: points): evaluated from the hour of the earliest new reading. Every other kind has day windows
#: (daily water means and pH range, ambient 24-h and O₃ 8-h, noise Ld/Ln beside each hour, samples).
HOUR_WINDOW_KINDS = ("stack", "fugitive", "insite_vocs")
#: Point kinds without compliance windows: safety sensors are judged packet by packet
#: (:mod:`monitoring.safety`; their batch path is reconciled from the earliest new reading).
NO_WINDOW_KINDS = ("safety",)


@dataclass(frozen=True)
class EvaluationPlan:
    """What one evaluation after an ingest run covers (:func:`evaluation_plan`)."""

    hour_start: pd.Timestamp        #: start of the hour windows evaluated (air points)
    day_start: pd.Timestamp         #: start of the day windows evaluated (every other kind)
    end: pd.Timestamp               #: the last completed hour: no window ends after it
    zone: str | None                #: one zone, or None for all
    completed_after: pd.Timestamp | None   #: windows ending after this completed since the last evaluation


def evaluation_plan(touched: dict[str, str], now: datetime, evaluated_until: datetime | None = None,
                    kinds: dict[str, dict[str, str]] | None = None) -> EvaluationPlan | None:
    """The windows an ingest run's new readings touched, as periods to evaluate, or None: nothing to do.

    A window is judged once it is complete (it ends at or before the last completed hour ``end``). The
    new readings touch, per zone, the windows containing them; ``evaluated_until`` (the ``end`` of the
    previous evaluation) adds the windows that completed since, for every zone — the hour that closed
    while its readings were already stored. Hour windows (:data:`HOUR_WINDOW_KINDS`) are evaluated from
    the hour of the earliest of the two, day windows from its local midnight (a day window is judged
    whole). ``kinds`` ({zone: {kind: first new reading}}, :func:`touched_kinds`) tells the two apart: a
    late hour of one stack then evaluates the air points from that hour and no day window at all;
    without it every new reading counts for both. New readings in the running hour only, with no hour
    completed since the last evaluation: None (their windows are judged when the hour completes)."""
    end = completed_hour(now)
    hour_news: list[pd.Timestamp] = []
    day_news: list[pd.Timestamp] = []
    for zone, t in touched.items():
        by_kind = (kinds or {}).get(zone)
        if not by_kind:
            if t:
                hour_news.append(pd.Timestamp(t))
                day_news.append(pd.Timestamp(t))
            continue
        for kind, kt in by_kind.items():
            if kind in NO_WINDOW_KINDS:
                continue
            (hour_news if kind in HOUR_WINDOW_KINDS else day_news).append(pd.Timestamp(kt))
    if not hour_news and not day_news:
        return None
    done = pd.Timestamp(evaluated_until).tz_convert("UTC") if evaluated_until is not None else None

    def since(news: list[pd.Timestamp]) -> pd.Timestamp:
        if done is None:                  # first evaluation here: the whole local day, as a backfill would
            return local_midnight(min(news or hour_news or day_news))
        return min([*news, done]).tz_convert("UTC")

    floor = end - MAX_LOOKBACK
    hour_start = max(since(hour_news).floor("h"), floor)
    day_start = max(local_midnight(since(day_news)), floor)
    if hour_start >= end and since(day_news) >= end:
        return None
    completed = done if done is not None and done < end else None
    zone = next(iter(touched)) if len(touched) == 1 and completed is None else None
    return EvaluationPlan(hour_start=min(hour_start, end), day_start=day_start if since(day_news) < end else end,
                          end=end, zone=zone, completed_after=completed)


def _watermark(settings: Settings) -> Path:
    return settings.records_dir / "evaluated-until"


def evaluated_until(settings: Settings) -> datetime | None:
    """The end of the last evaluation after an ingest run (``records/evaluated-until``), or None."""
    try:
        return pd.Timestamp(_watermark(settings).read_text(encoding="utf-8").strip()).to_pydatetime()
    except (OSError, ValueError):
        return None


def mark_evaluated(settings: Settings, end: datetime) -> None:
    """Record ``end`` as evaluated (never moves back: a late run of an older hour leaves it)."""
    before = evaluated_until(settings)
    if before is not None and pd.Timestamp(before) >= pd.Timestamp(end):
        return
    path = _watermark(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(pd.Timestamp(end).tz_convert("UTC").isoformat(), encoding="utf-8")
    tmp.replace(path)


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

    # PW lockouts of the receiver become incidents of kind "security", one per lockout episode; their
    # "open" is sent like any other, further lockouts of the episode go into its digest
    security = import_security_events(settings.sql_url, settings.data_dir, now=now)
    report.security = len(security.opened)
    escalations = manager.escalate_due(now)
    notifier = Notifier(db_url=settings.sql_url)
    for change_set in (changes, security, escalations):
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
                       kinds: dict[str, dict[str, str]] | None = None,
                       start: datetime | None = None, end: datetime | None = None, zone: str | None = None,
                       now: datetime | None = None, notify: bool = True,
                       settings: Settings | None = None, registry: Registry | None = None) -> AlertReport:
    """Evaluate and update incidents, then notify (unless ``notify`` is false).

    ``touched``: {zone: first new reading} of one ingest run (:func:`touched_zones`): only the windows
    those readings touched and the windows completed since the last evaluation
    (:func:`evaluation_plan`; ``kinds``: {zone: {kind: first new reading}}, :func:`touched_kinds`) are
    evaluated and go to the incidents; safety readings are reconciled from
    the earliest new reading. ``start``/``end``: a given period (backfill: every window of it,
    nothing already sent is sent again). ``first_times``: the older per-event form (all zones, from
    local midnight)."""
    # deferred: this module is imported when Airflow parses the DAG files
    from monitoring.compliance.evaluate import evaluate_period
    from monitoring.incidents import IncidentManager

    now = now or datetime.now(UTC)
    settings, registry, catalogue, store = _context(settings, registry)
    plan: EvaluationPlan | None = None
    safety_since: datetime | None = start
    if touched is not None:
        known = [pd.Timestamp(t) for t in touched.values() if t]
        if kinds:        # per-kind news: the safety readings' own earliest, none without safety news
            known = [pd.Timestamp(k["safety"]) for k in kinds.values() if k.get("safety")]
        safety_since = min(known).to_pydatetime() if known else None
        plan = evaluation_plan(touched, now, evaluated_until(settings), kinds)
        if plan is not None:
            start, end, zone = plan.day_start, plan.end, plan.zone
    elif start is None or end is None:
        start, end = evaluation_window(first_times or [], now)
    report = AlertReport(start=pd.Timestamp(start).isoformat() if start is not None else "",
                         end=pd.Timestamp(end).isoformat() if end is not None else "")
    if touched is not None and not touched:
        return report
    if touched is not None and plan is None:
        # only readings of the running hour: no window of theirs is complete; safety alarms still go
        report.start = report.end = completed_hour(now).isoformat()
        report.details["evaluated"] = "nothing complete"
        _reconcile_safety(report, store, registry, settings, catalogue, safety_since, now,
                          next(iter(touched)) if len(touched) == 1 else None, notify)
        return report
    if plan is not None:
        day_kinds = sorted({p.kind for p in registry} - set(HOUR_WINDOW_KINDS) - set(NO_WINDOW_KINDS))
        parts = [evaluate_period(store, registry, catalogue, s, plan.end, zone=plan.zone, write=True,
                                 kinds=k).assessments
                 for s, k in ((plan.hour_start, HOUR_WINDOW_KINDS), (plan.day_start, day_kinds)) if s < plan.end]
        assessments = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
        assessments = touched_windows(assessments, touched or {}, plan.completed_after)
        report.start = plan.hour_start.isoformat()
        report.details["day_windows_from"] = plan.day_start.isoformat()
    else:
        assessments = evaluate_period(store, registry, catalogue, start, end, zone=zone, write=True).assessments
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
    _reconcile_safety(report, store, registry, settings, catalogue, safety_since, now, zone, notify)
    if plan is not None:
        mark_evaluated(settings, plan.end)
    return report


def _reconcile_safety(report: AlertReport, store, registry: Registry, settings: Settings, catalogue,
                      since: datetime | None, now: datetime, zone: str | None, notify: bool) -> None:
    """Safety alarms: the batch path (issue #14) over the stored safety readings since ``since``."""
    from monitoring.safety.batch import reconcile_stored

    if since is None:
        return
    report.details["safety"] = reconcile_stored(store, registry, settings, since, now, catalogue=catalogue,
                                                zone=zone, now=now, deliver=notify)


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
