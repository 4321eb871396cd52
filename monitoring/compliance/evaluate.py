"""Entry points: pure evaluation over DataFrames, and the store-backed period evaluation.

``evaluate_readings`` (readings → aggregates → assessments + capture) is pure: no server, testable with
frames. ``evaluate_period`` pulls the same hourly aggregates from InfluxDB with InfluxQL
(``GROUP BY time(1h), point, parameter, period``; noise and its background readings are read raw,
because InfluxQL cannot take the energy mean), evaluates, and writes assessments and capture.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from monitoring.compliance.aggregate import (
    ABOVE_RANGE_FLAG,
    AGG_COLUMNS,
    BACKGROUND_STATISTIC,
    GAP_FLAGS,
    VALUE_STATISTICS,
    best_period,
    combine_aggregates,
    empty_aggregates,
    hourly_aggregates,
)
from monitoring.compliance.air import evaluate_air
from monitoring.compliance.ambient import evaluate_ambient
from monitoring.compliance.capture import CAPTURE_FIELDS, CAPTURE_TAGS, capture
from monitoring.compliance.frames import points_table
from monitoring.compliance.groundwater import evaluate_groundwater
from monitoring.compliance.noise import evaluate_noise
from monitoring.compliance.soil import evaluate_soil
from monitoring.compliance.water import evaluate_water
from monitoring.config import LOCAL_TZ
from monitoring.influx import (
    ASSESSMENT_FIELDS,
    ASSESSMENT_TAGS,
    ASSESSMENTS_MEASUREMENT,
    CAPTURE_MEASUREMENT,
    READINGS_MEASUREMENT,
    quote_ident,
)
from sensors.schema import ASSESSMENT_COLUMNS, VALID_FLAGS, empty_assessments


@dataclass
class Evaluation:
    """Result of an evaluation: every evaluated window, and data capture."""

    assessments: pd.DataFrame
    capture: pd.DataFrame

    @property
    def exceedances(self) -> pd.DataFrame:
        return self.assessments[self.assessments["verdict"] == "exceeds"].reset_index(drop=True)


def _ts(value: Any) -> pd.Timestamp:
    t = pd.Timestamp(value)
    return (t.tz_localize(LOCAL_TZ) if t.tzinfo is None else t).tz_convert("UTC")


def evaluate_aggregates(agg: pd.DataFrame, registry: Any, catalogue: Any, *, start: Any, end: Any,
                        background: pd.DataFrame | None = None, min_capture: float = 0.75,
                        zone: str | None = None, kinds: Collection[str] | None = None) -> Evaluation:
    """Evaluate hourly aggregates (:data:`~monitoring.compliance.aggregate.AGG_COLUMNS`) over [start, end).

    ``background``: aggregates of ``bg`` noise readings. ``zone`` and ``kinds`` (point kinds) restrict
    the registry points judged.
    """
    start, end = _ts(start), _ts(end)
    if end <= start:
        raise ValueError(f"empty evaluation period: start {start} is not before end {end}")
    points = points_table(registry)
    if zone is not None:
        points = points[points["zone"] == zone]
    if kinds is not None:
        points = points[points["kind"].isin(list(kinds))]
    limits = catalogue.point_limits(registry, on=start.tz_convert(LOCAL_TZ).date())
    limits = limits[limits["point"].isin(points["point"])]
    hourly = best_period(agg)
    parts = [evaluate_air(hourly, limits, points, start, end, min_capture, catalogue),
             evaluate_noise(hourly, background if background is not None else empty_aggregates(), limits,
                            points, catalogue, start, end, min_capture),
             evaluate_water(hourly, limits, points, start, end, min_capture),
             # issue #14: GB 3095-2012 ambient air, GB/T 14848-2017 groundwater, GB 36600-2018 soil
             evaluate_ambient(hourly, limits, points, start, end, min_capture),
             evaluate_groundwater(hourly, limits, points, start, end),
             evaluate_soil(hourly, limits, points, start, end)]
    parts = [p for p in parts if not p.empty]
    assessments = pd.concat(parts, ignore_index=True) if parts else empty_assessments()
    assessments = assessments.sort_values(["window_start", "point", "parameter", "check"],
                                          kind="stable").reset_index(drop=True)
    return Evaluation(assessments.astype(ASSESSMENT_COLUMNS), capture(hourly, points, start, end))


def split_background(readings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(aggregates of value statistics, aggregates of background-noise readings)."""
    return (hourly_aggregates(readings),
            hourly_aggregates(readings, statistics=(BACKGROUND_STATISTIC,)))


def evaluate_readings(readings: pd.DataFrame, registry: Any, catalogue: Any, *, start: Any, end: Any,
                      min_capture: float = 0.75, zone: str | None = None) -> Evaluation:
    """Pure evaluation of canonical readings over [start, end): assessments (every window) and capture.

    Start/end naive values are local time (Asia/Shanghai); aware ones are converted to UTC.
    """
    agg, bg = split_background(readings)
    return evaluate_aggregates(agg, registry, catalogue, start=start, end=end, background=bg,
                               min_capture=min_capture, zone=zone)


def evaluate_chunks(chunks: Iterable[pd.DataFrame], registry: Any, catalogue: Any, *, start: Any, end: Any,
                    min_capture: float = 0.75, zone: str | None = None) -> Evaluation:
    """Like :func:`evaluate_readings` over an iterable of readings chunks (per day, per zone): each chunk is
    reduced to hourly aggregates as it comes, so only one chunk of raw readings is in memory."""
    aggs, bgs = [], []
    for chunk in chunks:
        a, b = split_background(chunk)
        aggs.append(a)
        bgs.append(b)
    return evaluate_aggregates(combine_aggregates(aggs), registry, catalogue, start=start, end=end,
                               background=combine_aggregates(bgs), min_capture=min_capture, zone=zone)


# ---------------------------------------------------------------------------------------------------
# Store-backed
# ---------------------------------------------------------------------------------------------------
def _influx_aggregates(store: Any, start: pd.Timestamp, end: pd.Timestamp, zone: str | None,
                       kinds: Collection[str] | None = None) -> pd.DataFrame:
    """Hourly aggregates of every non-noise reading (of ``kinds``, when given) computed by InfluxDB (one
    query per flag class)."""
    params: dict[str, object] = {"lo": start.value, "hi": end.value}
    where = ["time >= $lo", "time < $hi", "\"kind\" != 'noise'"]
    stats = " OR ".join(f"\"statistic\" = '{s}'" for s in VALUE_STATISTICS)
    periods = " OR ".join(f"\"period\" = '{p}'" for p in ("1min", "rtd", "1h", "sample"))
    where += [f"({stats})", f"({periods})"]
    if zone is not None:
        params["zone"] = zone
        where.append("\"zone\" = $zone")
    if kinds is not None:
        where.append("(" + " OR ".join(f"\"kind\" = '{k}'" for k in sorted(kinds)) + ")")
    base = " AND ".join(where)
    m = quote_ident(READINGS_MEASUREMENT)
    group = "GROUP BY time(1h), \"point\", \"parameter\", \"period\" fill(none)"
    valid = "(" + " OR ".join(f"\"flag\" = '{f}'" for f in VALID_FLAGS) + ")"
    statements = [
        f"SELECT count(\"flag\") AS received FROM {m} WHERE {base} {group}",
        (f"SELECT count(\"value\") AS valid, sum(\"value\") AS sum, min(\"value\") AS min, "
         f"max(\"value\") AS max FROM {m} WHERE {base} AND {valid} {group}"),
        (f"SELECT count(\"value\") AS nd, sum(\"value\") AS nd_sum FROM {m} WHERE {base} "
         f"AND {valid} AND \"qualifier\" = '<' {group}"),
        f"SELECT count(\"value\") AS above_range FROM {m} WHERE {base} AND \"flag\" = '{ABOVE_RANGE_FLAG}' {group}",
        *[f"SELECT count(\"flag\") AS gap_{f} FROM {m} WHERE {base} AND \"flag\" = '{f}' {group}"
          for f in GAP_FLAGS],
    ]
    frames = store.query_many(";\n".join(statements), params=params, epoch="s")
    keys = ["point", "parameter", "period", "time"]
    out = None
    for f in frames:
        if f.empty:
            continue
        f = f[[c for c in f.columns if c != "measurement"]]
        out = f if out is None else out.merge(f, on=keys, how="outer")
    if out is None:
        return empty_aggregates()
    for c in ["received", "valid", "above_range", "nd", *[f"gap_{x}" for x in GAP_FLAGS]]:
        out[c] = pd.to_numeric(out.get(c, 0), errors="coerce").fillna(0).astype("int64") if c in out else 0
    for c in ["sum", "min", "max", "nd_sum"]:
        out[c] = pd.to_numeric(out[c], errors="coerce") if c in out else np.nan
    # non-detects count as half their detection limit
    out["sum"] = out["sum"].fillna(0.0) - out["nd_sum"].fillna(0.0) / 2.0
    gap_known = out[[f"gap_{x}" for x in GAP_FLAGS]].sum(axis=1)
    out["gap_other"] = (out["received"] - out["valid"] - gap_known).clip(lower=0).astype("int64")
    out["energy"] = 0.0
    out = out.rename(columns={"time": "window_start"})
    return out[list(AGG_COLUMNS)].astype(AGG_COLUMNS)


def period_aggregates(store: Any, start: Any, end: Any, zone: str | None = None,
                      kinds: Collection[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(hourly aggregates of every value reading, aggregates of background-noise readings) over [start, end)
    from InfluxDB — the input of :func:`evaluate_aggregates`, also used by the monthly reports.

    Non-noise aggregates are computed by InfluxDB; noise is read raw (the energy mean needs the levels), with
    12 h more so that a night crossing ``end`` closes. ``kinds``: only points of these kinds (registry
    ``kind``; all when None).
    """
    start, end = _ts(start), _ts(end)
    air_kinds = None if kinds is None else [k for k in kinds if k != "noise"]
    agg = _influx_aggregates(store, start, end, zone, air_kinds) if air_kinds != [] else empty_aggregates()
    if kinds is not None and "noise" not in kinds:
        return agg, empty_aggregates()
    noise = store.read_readings(start, end + pd.Timedelta(hours=12), kind="noise", zone=zone)
    noise_agg, bg = split_background(noise)
    return combine_aggregates([agg, noise_agg]), bg


def evaluate_period(store: Any, registry: Any, catalogue: Any, start: Any, end: Any, zone: str | None = None,
                    write: bool = True, min_capture: float = 0.75,
                    kinds: Collection[str] | None = None) -> Evaluation:
    """Evaluate [start, end) from InfluxDB; with ``write`` store assessments (measurement ``assessments``,
    every window: incidents clear on compliant windows) and capture (measurement ``capture``).
    ``kinds``: only the points of these registry kinds (all when None)."""
    start, end = _ts(start), _ts(end)
    agg, bg = period_aggregates(store, start, end, zone, kinds)
    result = evaluate_aggregates(agg, registry, catalogue, start=start, end=end, background=bg,
                                 min_capture=min_capture, zone=zone, kinds=kinds)
    if write:
        a = result.assessments
        if not a.empty:
            store.write_frame(a, ASSESSMENTS_MEASUREMENT, ASSESSMENT_TAGS, ASSESSMENT_FIELDS, "window_start")
        c = result.capture
        if not c.empty:
            store.write_frame(c, CAPTURE_MEASUREMENT, CAPTURE_TAGS, CAPTURE_FIELDS, "window_start")
    return result
