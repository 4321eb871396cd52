"""Gather one month's inputs of the reports from InfluxDB and the SQL store, once for every scope.

:func:`gather_month` reads, for the county (or one zone):

* the hourly aggregates of every value reading (:func:`monitoring.compliance.evaluate.period_aggregates`:
  counts, sums, extremes and per-flag counts per point × parameter × hour, computed by InfluxDB; noise
  read raw for the energy mean) and evaluates them (:func:`~monitoring.compliance.evaluate_aggregates`) —
  the same code the alerts use, so a report never judges differently from the alert that fired;
* the limits applied on the month's first day (:meth:`limits.catalogue.Catalogue.point_limits`);
* the hazardous-waste ledger (``hw_ledger``) and its checks as of the month's end;
* incidents overlapping the month, public complaints received in it, 双随机 results recorded in it;
* quarantined input of the month (``$ENVMON_DATA_DIR/quarantine/<zone>/*.jsonl``);
* issue #14's environment quality: daily AQI per ambient station, groundwater trend warnings, soil samples
  (:func:`environment_quality`).

:meth:`MonthData.select` narrows the result to one zone or one enterprise without reading again, so the
five cluster reports and the county report share one gathering.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.compliance.aggregate import best_period
from monitoring.compliance.evaluate import Evaluation, evaluate_aggregates, period_aggregates
from monitoring.compliance.frames import points_table
from monitoring.config import Settings
from monitoring.reports.period import ReportMonth

log = logging.getLogger(__name__)

#: Data-source availability: a section whose source is missing says "未接入" instead of failing.
SOURCES = ("readings", "ledger", "incidents", "complaints", "inspections", "quarantine")


@dataclass
class MonthData:
    """Everything a report of ``month`` shows, for ``zone`` (None: county) / ``enterprise``."""

    month: ReportMonth
    registry: Any
    catalogue: Any
    points: pd.DataFrame                       # compliance.frames.points_table
    hourly: pd.DataFrame                       # best-period hourly aggregates inside the month
    background: pd.DataFrame                   # aggregates of background-noise readings
    evaluation: Evaluation                     # assessments (every window) + capture (1h and 1d rows)
    limits: pd.DataFrame                       # point_limits applied
    ledger: pd.DataFrame                       # hazardous-waste ledger rows (up to the month's end)
    ledger_assessments: pd.DataFrame
    incidents: pd.DataFrame                    # IncidentView rows overlapping the month
    complaints: pd.DataFrame
    inspections: pd.DataFrame
    quarantine: pd.DataFrame                   # zone, stage, reason, count
    aqi_daily: pd.DataFrame = field(default_factory=pd.DataFrame)      # HJ 633 daily AQI per station
    gw_trend: pd.DataFrame = field(default_factory=pd.DataFrame)       # trend assessments at the month's end
    soil: pd.DataFrame = field(default_factory=pd.DataFrame)           # soil assessments, latest sample year
    zone: str | None = None
    enterprise: str | None = None
    missing: dict[str, str] = field(default_factory=dict)   # source → why it is not available

    def select(self, zone: str | None = None, enterprise: str | None = None) -> MonthData:
        """The same month narrowed to one zone and/or one enterprise (frames filtered, nothing re-read)."""

        def keep(frame: pd.DataFrame, by_point: bool = False) -> pd.DataFrame:
            if frame.empty:
                return frame
            mask = pd.Series(True, index=frame.index)
            if zone is not None and "zone" in frame:
                mask &= frame["zone"].astype("string").fillna("") == zone
            if enterprise is not None and "enterprise" in frame:
                mask &= frame["enterprise"].astype("string").fillna("") == enterprise
            if by_point:
                mask &= frame["point"].isin(points["point"])
            return frame[mask].reset_index(drop=True)

        points = keep(self.points)
        ev = Evaluation(keep(self.evaluation.assessments), keep(self.evaluation.capture))
        return replace(
            self, zone=zone if zone is not None else self.zone,
            enterprise=enterprise if enterprise is not None else self.enterprise,
            points=points, hourly=keep(self.hourly, by_point=True), background=keep(self.background, by_point=True),
            evaluation=ev, limits=keep(self.limits), ledger=keep(self.ledger),
            ledger_assessments=keep(self.ledger_assessments), incidents=keep(self.incidents),
            complaints=keep(self.complaints), inspections=keep(self.inspections),
            quarantine=keep(self.quarantine) if enterprise is None else self.quarantine.iloc[0:0],
            aqi_daily=keep(self.aqi_daily) if enterprise is None else self.aqi_daily.iloc[0:0],
            gw_trend=keep(self.gw_trend) if enterprise is None else self.gw_trend.iloc[0:0],
            soil=keep(self.soil))

    @property
    def enterprises(self) -> list[Any]:
        """Registry enterprises in scope, in registry order."""
        ents = self.registry.enterprises_of(self.zone)
        if self.enterprise is not None:
            ents = [e for e in ents if e.code == self.enterprise]
        return ents


# ---------------------------------------------------------------------------------------------------
# SQL store
# ---------------------------------------------------------------------------------------------------
INCIDENT_COLUMNS = ["id", "kind", "status", "severity", "point", "parameter", "check", "zone", "enterprise",
                    "standard", "clause", "started_at", "cleared_at", "created_at", "closed_at",
                    "acknowledged_by", "closed_by", "close_reason", "peak_value", "peak_ratio", "peak_at",
                    "limit", "unit", "limit_status", "updated_at"]


def incidents_of_month(sql_url: str, month: ReportMonth) -> pd.DataFrame:
    """Incidents whose data period or lifecycle touches the month."""
    from monitoring.incidents import IncidentManager

    views = IncidentManager(sql_url).list()
    rows = [{c: getattr(v, c) for c in INCIDENT_COLUMNS} for v in views]
    frame = pd.DataFrame(rows, columns=INCIDENT_COLUMNS)
    if frame.empty:
        return frame
    for c in ("started_at", "cleared_at", "created_at", "closed_at", "peak_at", "updated_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    begin = frame["started_at"].fillna(frame["created_at"])
    finish = frame["closed_at"].fillna(frame["cleared_at"])
    overlaps = (begin < month.end) & (finish.isna() | (finish >= month.start))
    return frame[overlaps].sort_values("id").reset_index(drop=True)


def complaints_of_month(sql_url: str, month: ReportMonth, registry: Any) -> pd.DataFrame:
    from monitoring.complaints import complaints_frame

    frame = complaints_frame(sql_url)
    if frame.empty:
        return frame.assign(zone=pd.Series(dtype="string"))
    days = pd.to_datetime(frame["received_on"]).dt.date
    frame = frame[(days >= month.first_day) & (days < month.next_first_day)].copy()
    zones = {e.code: e.zone for e in registry.enterprises_of()}
    frame["zone"] = frame["enterprise"].map(zones)
    return frame.reset_index(drop=True)


INSPECTION_COLUMNS = ["task_id", "period", "enterprise", "zone", "category", "mode", "inspected_on", "outcome",
                      "note", "publish_due", "published_at"]


def inspections_of_month(sql_url: str, month: ReportMonth) -> pd.DataFrame:
    """双随机 results recorded for inspections done in the month, with their publication."""
    from sqlalchemy import select

    from monitoring.db import session_scope
    from monitoring.roster.tables import PublicationRow, ResultRow, TaskRow

    with session_scope(sql_url) as s:
        q = (select(TaskRow, ResultRow, PublicationRow)
             .join(ResultRow, ResultRow.task_id == TaskRow.task_id)
             .outerjoin(PublicationRow, PublicationRow.task_id == TaskRow.task_id)
             .where(ResultRow.inspected_on >= month.first_day, ResultRow.inspected_on < month.next_first_day)
             .order_by(ResultRow.inspected_on, TaskRow.task_id))
        rows = [{"task_id": t.task_id, "period": t.period, "enterprise": t.enterprise, "zone": t.zone,
                 "category": t.category, "mode": t.mode, "inspected_on": r.inspected_on, "outcome": r.outcome,
                 "note": r.note, "publish_due": r.publish_due,
                 "published_at": pub.published_at if pub is not None else None}
                for t, r, pub in s.execute(q)]
    frame = pd.DataFrame(rows, columns=INSPECTION_COLUMNS)
    frame["published_at"] = pd.to_datetime(frame["published_at"], utc=True)
    return frame


# ---------------------------------------------------------------------------------------------------
# Quarantine files
# ---------------------------------------------------------------------------------------------------
def _item_time(item: dict[str, Any]) -> pd.Timestamp | None:
    """The data time of a rejected row, else when the item was quarantined."""
    row = item.get("row")
    for value in ((row or {}).get("time") if isinstance(row, dict) else None, item.get("time")):
        if value:
            try:
                t = pd.Timestamp(value)
                return t.tz_localize("UTC") if t.tzinfo is None else t
            except (ValueError, TypeError):
                continue
    return None


def quarantine_of_month(directory: Path, month: ReportMonth, zones: set[str] | None = None) -> pd.DataFrame:
    """Counts of quarantined items per zone, stage and reason whose time is in the month.

    Records are :mod:`sensors.quarantine`'s format. An item's time is its row's ``time`` (rejected
    readings), else its ``time`` (when it was quarantined), else the file's modification time. The zone is
    the first folder under the quarantine directory when it is a registry zone, else ``—`` (e.g. packets the
    receiver refused before any zone was known).
    """
    from sensors.quarantine import _reason_key

    counts: Counter[tuple[str, str, str]] = Counter()
    if directory.is_dir():
        for path in sorted(directory.rglob("*.jsonl")):
            first = path.relative_to(directory).parts[0]
            zone = first if zones is None or first in zones else "—"
            file_time = pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC")
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as e:   # unreadable file: say so in the report, do not fail it
                counts[(zone, "unreadable", f"{path.name}: {e.strerror}")] += 1
                continue
            for line in lines:
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue
                t = _item_time(item) or file_time
                if month.contains(t):
                    counts[(zone, str(item.get("stage", "?")), _reason_key(str(item.get("reason", "?"))))] += 1
    rows = [{"zone": z, "stage": s, "reason": r, "count": n} for (z, s, r), n in sorted(counts.items())]
    return pd.DataFrame(rows, columns=["zone", "stage", "reason", "count"]).astype({"count": "int64"})


# ---------------------------------------------------------------------------------------------------
def _zone_of_points(frame: pd.DataFrame, points: pd.DataFrame, column: str = "point") -> pd.DataFrame:
    if "zone" in frame:
        return frame
    info = points[["point", "zone", "enterprise"]].rename(columns={"point": column})
    if frame.empty:
        return frame.assign(zone=pd.Series(dtype="string"), enterprise=pd.Series(dtype="string"))
    return frame.merge(info, on=column, how="left")


#: Soil points are sampled yearly (HJ 1209-2021): the report shows the latest sample of this look-back.
SOIL_LOOKBACK = pd.Timedelta(days=400)
#: Groundwater history read for the trend (the last samples of each well).
GW_LOOKBACK = pd.Timedelta(days=800)


def environment_quality(registry: Any, catalogue: Any, points: pd.DataFrame, limits: pd.DataFrame,
                        hourly: pd.DataFrame, samples: tuple[pd.DataFrame, pd.DataFrame], month: ReportMonth
                        ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(daily AQI per ambient station, groundwater trend assessments as of the month's end, soil assessments
    of the last :data:`SOIL_LOOKBACK`) — issue #14's parts of the report. ``samples``: the stored groundwater
    and soil readings (:func:`environment_samples`).

    AQI: :func:`monitoring.compliance.ambient.ambient_aqi` over the month's hourly aggregates (HJ 633-2012).
    Trend: :func:`monitoring.compliance.groundwater.trend_warnings` over the wells' stored samples (rules
    ``gw_trend_samples``/``gw_trend_warn_share``). Soil: :func:`monitoring.compliance.soil.evaluate_soil`
    of the stored lab samples (GB 36600-2018 screening and control values).
    """
    from monitoring.compliance.aggregate import hourly_aggregates
    from monitoring.compliance.ambient import ambient_aqi
    from monitoring.compliance.groundwater import trend_warnings
    from monitoring.compliance.soil import evaluate_soil

    _, aqi_daily = ambient_aqi(hourly.drop(columns=["zone", "enterprise"], errors="ignore"), points,
                               month.start, month.end)
    rules = catalogue.rules
    n = int(rules["gw_trend_samples"].value) if "gw_trend_samples" in rules else 4
    share = float(rules["gw_trend_warn_share"].value) if "gw_trend_warn_share" in rules else 0.7
    gw_samples, soil_readings = samples
    trend = trend_warnings(gw_samples, limits, points, n=n, share=share)
    soil = evaluate_soil(hourly_aggregates(soil_readings), limits, points, month.end - SOIL_LOOKBACK, month.end)
    return aqi_daily, trend, soil


def environment_samples(store: Any, month: ReportMonth, zone: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored groundwater samples of :data:`GW_LOOKBACK` and soil samples of :data:`SOIL_LOOKBACK` up to the
    month's end (read raw: a few lab lines)."""
    from monitoring.compliance.groundwater import GROUNDWATER_KIND
    from monitoring.compliance.soil import SOIL_KIND

    return (store.read_readings(month.end - GW_LOOKBACK, month.end, kind=GROUNDWATER_KIND, zone=zone),
            store.read_readings(month.end - SOIL_LOOKBACK, month.end, kind=SOIL_KIND, zone=zone))


@dataclass
class _Records:
    """What :func:`gather_month` reads beside the hourly aggregates (SQL store, ledger, quarantine files, lab
    samples) — read in a thread while InfluxDB computes the aggregates."""

    ledger: pd.DataFrame
    ledger_assessments: pd.DataFrame
    incidents: pd.DataFrame
    complaints: pd.DataFrame
    inspections: pd.DataFrame
    quarantine: pd.DataFrame
    samples: tuple[pd.DataFrame, pd.DataFrame]
    missing: dict[str, str]


def _records(settings: Settings, month: ReportMonth, store: Any, registry: Any, catalogue: Any,
             zone: str | None) -> _Records:
    from monitoring.alerting import stored_ledger
    from monitoring.compliance.hazardous_waste import evaluate_ledger

    missing: dict[str, str] = {}
    start, end = month.start, month.end
    ledger = stored_ledger(store, start - pd.Timedelta(days=800), end)
    if zone is not None and not ledger.empty:
        ledger = ledger[ledger["zone"] == zone].reset_index(drop=True)
    ledger_assessments = evaluate_ledger(ledger, registry, catalogue, as_of=end, since=start)
    if ledger.empty:
        missing["ledger"] = "本月无危险废物台账数据"

    def sql(name: str, fn: Any, *args: Any) -> pd.DataFrame:
        try:
            return fn(*args)
        except Exception as e:   # noqa: BLE001 — one unavailable table must not sink the whole report
            log.warning("report: %s unavailable: %s", name, e)
            missing[name] = f"未接入 ({type(e).__name__})"
            return pd.DataFrame()

    incidents = sql("incidents", incidents_of_month, settings.sql_url, month)
    complaints = sql("complaints", complaints_of_month, settings.sql_url, month, registry)
    inspections = sql("inspections", inspections_of_month, settings.sql_url, month)
    quarantine = quarantine_of_month(settings.quarantine_dir, month, set(registry.zones))
    if zone is not None:
        incidents = incidents[incidents["zone"] == zone] if not incidents.empty else incidents
        quarantine = quarantine[quarantine["zone"] == zone].reset_index(drop=True)
    return _Records(ledger, ledger_assessments, incidents, complaints, inspections, quarantine,
                    environment_samples(store, month, zone), missing)


def gather_month(settings: Settings, month: ReportMonth, *, store: Any, registry: Any, catalogue: Any,
                 zone: str | None = None) -> MonthData:
    """Read and evaluate ``month`` for ``zone`` (None: the whole county). See the module docstring.

    The records beside the readings (:class:`_Records`) are read in a thread while InfluxDB computes the hourly
    aggregates: influxd keeps ~1.5 of the 2 cores busy during its queries, and the SQL, ledger and sample reads
    are mostly Python CPU that fits beside them (the bench's gather fell by the ~2 s they took)."""
    from concurrent.futures import ThreadPoolExecutor

    start, end = month.start, month.end
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-records") as pool:
        side = pool.submit(_records, settings, month, store, registry, catalogue, zone)
        agg, bg = period_aggregates(store, start, end, zone)
        records = side.result()
    missing = dict(records.missing)
    evaluation = evaluate_aggregates(agg, registry, catalogue, start=start, end=end, background=bg, zone=zone)
    points = points_table(registry)
    if zone is not None:
        points = points[points["zone"] == zone].reset_index(drop=True)
    hourly = best_period(agg)
    hourly = hourly[(hourly["window_start"] >= start) & (hourly["window_start"] < end)]
    hourly = _zone_of_points(hourly.reset_index(drop=True), points)
    hourly = hourly[hourly["zone"].notna()].reset_index(drop=True)
    bg = _zone_of_points(bg, points)
    limits = catalogue.point_limits(registry, on=month.first_day)
    limits = limits[limits["point"].isin(points["point"])].reset_index(drop=True)
    if hourly.empty:
        missing["readings"] = "本月 InfluxDB 中无监测数据"
    aqi_daily, gw_trend, soil = environment_quality(registry, catalogue, points, limits, hourly, records.samples,
                                                    month)
    return MonthData(month=month, registry=registry, catalogue=catalogue, points=points, hourly=hourly,
                     background=bg, evaluation=evaluation, limits=limits, ledger=records.ledger,
                     ledger_assessments=records.ledger_assessments, incidents=records.incidents,
                     complaints=records.complaints, inspections=records.inspections,
                     quarantine=records.quarantine, aqi_daily=aqi_daily, gw_trend=gw_trend, soil=soil, zone=zone,
                     missing=missing)
