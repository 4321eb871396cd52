"""Entry points: pure evaluation over DataFrames, and the store-backed period evaluation.

``evaluate_readings`` (readings → aggregates → assessments + capture) is pure: no server, testable with
frames. ``evaluate_period`` pulls the same hourly aggregates from InfluxDB with InfluxQL
(``GROUP BY time(1h), point, parameter, period``; the noise energy sum Σ10^(L/10) with ``pow()`` in a
subquery; only the few background-noise readings are read raw), evaluates, and writes assessments and capture.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from monitoring.compliance.aggregate import (
    ABOVE_RANGE_FLAG,
    AGG_COLUMNS,
    BACKGROUND_STATISTIC,
    GAP_FLAGS,
    LEVEL_PARAMETERS,
    PERIOD_RANK,
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
#: Days of readings per InfluxDB request: the period is cut into slices queried concurrently (influxd
#: works on a request with one core; two slices in flight use both cores of a small server).
QUERY_SLICE_DAYS = 4
#: Concurrent aggregate requests.
QUERY_WORKERS = 2
#: Noise is read this far past the end of a period, so that a night crossing the end closes.
NOISE_TAIL = pd.Timedelta(hours=12)
_GROUP = "GROUP BY time(1h), \"point\", \"parameter\", \"period\" fill(none)"
_KEYS = ["point", "parameter", "period", "time"]


def _or(column: str, values: Iterable[str]) -> str:
    return "(" + " OR ".join(f"{quote_ident(column)} = '{v}'" for v in values) + ")"


def _aggregate_statements(zone: str | None, kinds: Collection[str] | None = None) -> list[str]:
    """The four InfluxQL statements of one slice (bounds ``$lo``/``$hi``, zone ``$zone``, registry ``kinds``).

    1. ``received``: ``count(flag)`` per hour — tag conditions only, so influxd reads one field;
    2. ``valid``, ``sum``, ``min``, ``max`` of flag N/T values;
    3. the exceptions, raw: every reading whose flag is not ``N``, and lab results (period ``sample``, the only
       lines with non-detects) — few rows, counted per flag (capture gaps, ``T`` above range) and per
       non-detect in pandas;
    4. ``energy`` Σ10^(L/10) of valid levels (dB parameters) per hour: ``pow()`` (InfluxQL math functions,
       InfluxDB ≥ 1.6) in a subquery, summed by the outer query. The literals are floats on purpose: influxd
       1.6.7 types ``pow(10, …)`` in a subquery as an integer and the outer ``sum()`` truncates it.
    """
    m = quote_ident(READINGS_MEASUREMENT)
    where = ["time >= $lo", "time < $hi", _or("statistic", VALUE_STATISTICS), _or("period", PERIOD_RANK)]
    if zone is not None:
        where.append("\"zone\" = $zone")
    if kinds is not None:
        where.append(_or("kind", sorted(kinds)))
    base = " AND ".join(where)
    valid = _or("flag", VALID_FLAGS)
    levels = _or("parameter", LEVEL_PARAMETERS)
    tags = "GROUP BY \"point\", \"parameter\", \"period\""
    return [
        f"SELECT count(\"flag\") AS received FROM {m} WHERE {base} {_GROUP}",
        (f"SELECT count(\"value\") AS valid, sum(\"value\") AS sum, min(\"value\") AS min, max(\"value\") AS max "
         f"FROM {m} WHERE {base} AND {valid} {_GROUP}"),
        (f"SELECT \"value\", \"flag\", \"qualifier\" FROM {m} WHERE {base} "
         f"AND (\"flag\" != '{VALID_FLAGS[0]}' OR \"period\" = 'sample') {tags}"),
        (f"SELECT sum(\"e\") AS energy FROM (SELECT pow(10.0, \"value\" / 10.0) AS e FROM {m} WHERE {base} AND {valid} "
         f"AND {levels} {tags}) WHERE time >= $lo AND time < $hi {_GROUP}"),
    ]


def _slice_aggregates(store: Any, lo: pd.Timestamp, hi: pd.Timestamp, zone: str | None,
                      kinds: Collection[str] | None = None) -> list[pd.DataFrame]:
    params: dict[str, object] = {"lo": lo.value, "hi": hi.value}
    if zone is not None:
        params["zone"] = zone
    return store.query_many(";\n".join(_aggregate_statements(zone, kinds)), params=params, epoch="s")


def _exception_counts(raw: pd.DataFrame) -> pd.DataFrame:
    """Per hour key: gap counts per flag, ``above_range``, non-detects (count, Σ detection limits), and the
    valid rows seen here (``x_valid``) with their extremes counting non-detects at DL/2 (``x_min``/``x_max``)."""
    cols = [*_KEYS, "above_range", "nd", "nd_sum", "x_valid", "x_min", "x_max", *[f"gap_{f}" for f in GAP_FLAGS]]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    flag = raw["flag"].astype("string").fillna("")
    value = pd.to_numeric(raw["value"], errors="coerce")
    valid = flag.isin(VALID_FLAGS) & value.notna()
    qualifier = raw["qualifier"].astype("string") if "qualifier" in raw else pd.Series(pd.NA, index=raw.index)
    nd = valid & (qualifier == "<").fillna(False)
    counted = value.where(~nd, value / 2.0).where(valid)
    frame = pd.DataFrame({
        "point": raw["point"], "parameter": raw["parameter"], "period": raw["period"],
        "time": raw["time"].dt.floor("h"),
        "above_range": (valid & (flag == ABOVE_RANGE_FLAG)).astype("int64"),
        "nd": nd.astype("int64"), "nd_sum": value.where(nd, 0.0),
        "x_valid": valid.astype("int64"), "x_min": counted, "x_max": counted,
        **{f"gap_{f}": (flag == f).astype("int64") for f in GAP_FLAGS}})
    how = {c: "sum" for c in cols[len(_KEYS):]}
    how.update(x_min="min", x_max="max")
    return frame.groupby(_KEYS, observed=True, dropna=False).agg(how).reset_index()


def _influx_aggregates(store: Any, start: pd.Timestamp, end: pd.Timestamp, zone: str | None,
                       kinds: Collection[str] | None = None) -> pd.DataFrame:
    """Hourly aggregates (:data:`AGG_COLUMNS`) of every value reading in [start, end), and of noise readings
    in [end, end + :data:`NOISE_TAIL`) (of ``kinds``, when given), computed by InfluxDB.

    Four statements per slice of :data:`QUERY_SLICE_DAYS` days (:func:`_aggregate_statements`), the slices
    in :data:`QUERY_WORKERS` concurrent requests. Rules as :func:`~.aggregate.hourly_aggregates`: flag N/T
    valid, non-detects at half their detection limit (in sum, min and max), other flags counted as gaps.
    """
    edges = list(pd.date_range(start, end, freq=f"{QUERY_SLICE_DAYS}D"))
    if edges[-1] < end:
        edges.append(end)
    slices = [(lo, hi, kinds) for lo, hi in itertools.pairwise(edges)]
    if kinds is None or "noise" in kinds:
        slices.append((end, end + NOISE_TAIL, ["noise"]))
    with ThreadPoolExecutor(max_workers=min(QUERY_WORKERS, len(slices))) as pool:
        answers = list(pool.map(lambda s: _slice_aggregates(store, s[0], s[1], zone, s[2]), slices))
    parts = [pd.concat([a[i] for a in answers if not a[i].empty], ignore_index=True)
             if any(not a[i].empty for a in answers) else pd.DataFrame() for i in range(4)]
    received, values, raw, energy = parts
    if received.empty:
        return empty_aggregates()
    out = received[[*_KEYS, "received"]]
    for extra in (values, _exception_counts(raw), energy):
        if not extra.empty:
            out = out.merge(extra[[c for c in extra.columns if c != "measurement"]], on=_KEYS, how="left")
    for c in ["received", "valid", "above_range", "nd", *[f"gap_{x}" for x in GAP_FLAGS]]:
        out[c] = pd.to_numeric(out[c], errors="coerce").fillna(0).astype("int64") if c in out else 0
    for c in ["sum", "min", "max", "nd_sum", "x_valid", "x_min", "x_max", "energy"]:
        out[c] = pd.to_numeric(out[c], errors="coerce") if c in out else np.nan
    # non-detects count as half their detection limit: in the sum, and in the extremes (taken from the raw
    # rows, which hold every valid value of a lab hour)
    out["sum"] = out["sum"].fillna(0.0) - out["nd_sum"].fillna(0.0) / 2.0
    with_nd = (out["nd"] > 0) & (out["x_valid"] == out["valid"])
    out["min"] = out["min"].mask(with_nd, out["x_min"])
    out["max"] = out["max"].mask(with_nd, out["x_max"])
    out["energy"] = out["energy"].fillna(0.0)
    gap_known = out[[f"gap_{x}" for x in GAP_FLAGS]].sum(axis=1)
    out["gap_other"] = (out["received"] - out["valid"] - gap_known).clip(lower=0).astype("int64")
    out = out.rename(columns={"time": "window_start"})
    return out[list(AGG_COLUMNS)].astype(AGG_COLUMNS)


def _background_aggregates(store: Any, start: pd.Timestamp, end: pd.Timestamp, zone: str | None) -> pd.DataFrame:
    """Aggregates of background-noise measurements (statistic ``bg``: a few manual readings, read raw)."""
    bg = store.read_readings(start, end, kind="noise", zone=zone, statistic=BACKGROUND_STATISTIC)
    return hourly_aggregates(bg, statistics=(BACKGROUND_STATISTIC,))


def period_aggregates(store: Any, start: Any, end: Any, zone: str | None = None,
                      kinds: Collection[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(hourly aggregates of every value reading, aggregates of background-noise readings) over [start, end)
    from InfluxDB — the input of :func:`evaluate_aggregates`, also used by the monthly reports.

    Everything is aggregated by InfluxDB (noise energy via ``pow()``); noise gets :data:`NOISE_TAIL` more so
    that a night crossing ``end`` closes. ``kinds``: only points of these kinds (registry ``kind``; all when
    None).
    """
    start, end = _ts(start), _ts(end)
    if kinds is not None and not kinds:
        return empty_aggregates(), empty_aggregates()
    agg = _influx_aggregates(store, start, end, zone, kinds)
    if kinds is not None and "noise" not in kinds:
        return agg, empty_aggregates()
    return agg, _background_aggregates(store, start, end + NOISE_TAIL, zone)


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
