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
    EXTREME_KINDS,
    EXTREME_PARAMETERS,
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
#: The period of lab results (read raw, :func:`_lab_aggregates`).
LAB_PERIOD = "sample"
#: Concurrent aggregate requests.
QUERY_WORKERS = 2
#: Noise is read this far past the end of a period, so that a night crossing the end closes.
NOISE_TAIL = pd.Timedelta(hours=12)
_GROUP = "GROUP BY time(1h), \"point\", \"parameter\", \"period\", \"kind\" fill(none)"
_KEYS = ["point", "parameter", "period", "kind", "time"]


def _or(column: str, values: Iterable[str]) -> str:
    return "(" + " OR ".join(f"{quote_ident(column)} = '{v}'" for v in values) + ")"


def _aggregate_statements(zone: str | None, kinds: Collection[str] | None = None) -> list[str]:
    """The InfluxQL statements of one slice (bounds ``$lo``/``$hi``, zone ``$zone``, registry ``kinds``) over the
    online lines (every period but ``sample``). One aggregate per statement: influxd 1.6 scans the field once per
    aggregate either way, and one statement with four aggregates took twice the CPU of four statements.

    1. ``received``: ``count(flag)`` per hour — tag conditions only;
    2. ``total``: ``sum(value)`` of every line per hour — no field condition: a condition on the string field
       ``flag`` makes influxd decode it for every line (``mean(value) WHERE flag = 'N'`` took 1.9–2.2 s of influxd
       CPU per 4 county days, ``sum(value)`` 1.0–1.5 s); the flag-N sum is ``total`` − the exceptions' values;
    3. the exceptions, raw: every line whose flag is not ``N`` (few: counted per flag in pandas — capture gaps,
       ``T`` valid above the range); flag-N count = received − exceptions;
    4. ``max`` and 5. ``min`` of flag-N values, for :data:`~.aggregate.EXTREME_KINDS` /
       :data:`~.aggregate.EXTREME_PARAMETERS` only (``T`` values joined in pandas);
    6. ``energy`` Σ10^(L/10) of valid levels (dB parameters) per hour: ``pow()`` (InfluxQL math functions,
       InfluxDB ≥ 1.6) in a subquery, summed by the outer query. The literals are floats on purpose: influxd
       1.6.7 types ``pow(10, …)`` in a subquery as an integer and the outer ``sum()`` truncates it.
    """
    m = quote_ident(READINGS_MEASUREMENT)
    online = [p for p in PERIOD_RANK if p != LAB_PERIOD]
    where = ["time >= $lo", "time < $hi", _or("statistic", VALUE_STATISTICS), _or("period", online)]
    if zone is not None:
        where.append("\"zone\" = $zone")
    if kinds is not None:
        where.append(_or("kind", sorted(kinds)))
    base = " AND ".join(where)
    n = f"\"flag\" = '{VALID_FLAGS[0]}'"
    extreme = "(" + _or("kind", EXTREME_KINDS) + " OR " + _or("parameter", EXTREME_PARAMETERS) + ")"
    tags = "GROUP BY \"point\", \"parameter\", \"period\", \"kind\""
    return [
        f"SELECT count(\"flag\") AS received FROM {m} WHERE {base} {_GROUP}",
        f"SELECT sum(\"value\") AS total FROM {m} WHERE {base} {_GROUP}",
        f"SELECT \"value\", \"flag\" FROM {m} WHERE {base} AND \"flag\" != '{VALID_FLAGS[0]}' {tags}",
        f"SELECT max(\"value\") AS max FROM {m} WHERE {base} AND {extreme} AND {n} {_GROUP}",
        f"SELECT min(\"value\") AS min FROM {m} WHERE {base} AND {extreme} AND {n} {_GROUP}",
        (f"SELECT sum(\"e\") AS energy FROM (SELECT pow(10.0, \"value\" / 10.0) AS e FROM {m} WHERE {base} "
         f"AND {_or('flag', VALID_FLAGS)} AND {_or('parameter', LEVEL_PARAMETERS)} {tags}) "
         f"WHERE time >= $lo AND time < $hi {_GROUP}"),
    ]


def _slice_aggregates(store: Any, lo: pd.Timestamp, hi: pd.Timestamp, zone: str | None,
                      kinds: Collection[str] | None = None) -> list[pd.DataFrame]:
    params: dict[str, object] = {"lo": lo.value, "hi": hi.value}
    if zone is not None:
        params["zone"] = zone
    return store.query_many(";\n".join(_aggregate_statements(zone, kinds)), params=params, epoch="s")


def _exception_counts(raw: pd.DataFrame) -> pd.DataFrame:
    """Per hour key, from the raw non-N lines: ``exceptions`` (lines), ``exception_sum`` (Σ of their values, taken
    off the hour's ``sum(value)`` to leave the flag-N sum), gap counts per flag, and the flag-T lines (valid above
    the range): ``above_range``, ``t_sum``, ``t_min``, ``t_max``."""
    cols = [*_KEYS, "exceptions", "exception_sum", "above_range", "t_sum", "t_min", "t_max",
            *[f"gap_{f}" for f in GAP_FLAGS]]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    flag = raw["flag"].astype("string").fillna("")
    value = pd.to_numeric(raw["value"], errors="coerce")
    t = (flag == ABOVE_RANGE_FLAG) & value.notna()
    tv = value.where(t)
    frame = pd.DataFrame({
        "point": raw["point"], "parameter": raw["parameter"], "period": raw["period"], "kind": raw["kind"],
        "time": raw["time"].dt.floor("h"), "exceptions": 1, "exception_sum": value.fillna(0.0),
        "above_range": t.astype("int64"),
        "t_sum": tv.fillna(0.0), "t_min": tv, "t_max": tv,
        **{f"gap_{f}": (flag == f).astype("int64") for f in GAP_FLAGS}})
    how = {c: "sum" for c in cols[len(_KEYS):]}
    how.update(t_min="min", t_max="max")
    return frame.groupby(_KEYS, observed=True, dropna=False).agg(how).reset_index()


def _influx_aggregates(store: Any, start: pd.Timestamp, end: pd.Timestamp, zone: str | None,
                       kinds: Collection[str] | None = None) -> pd.DataFrame:
    """Hourly aggregates (:data:`AGG_COLUMNS`) of every online value reading in [start, end), and of noise
    readings in [end, end + :data:`NOISE_TAIL`) (of ``kinds``, when given), computed by InfluxDB.

    The statements of :func:`_aggregate_statements` per slice of :data:`QUERY_SLICE_DAYS` days, the slices in
    :data:`QUERY_WORKERS` concurrent requests. Rules as :func:`~.aggregate.hourly_aggregates`: flags N and T
    valid, other flags counted as gaps; ``min``/``max`` only where a check uses them. A flag-N line without a
    value counts as valid here (the ingest path never writes one). Lab lines: :func:`_lab_aggregates`.
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
             if any(not a[i].empty for a in answers) else pd.DataFrame() for i in range(6)]
    received, totals, raw, maxima, minima, energy = parts
    if received.empty:
        return empty_aggregates()
    out = received[[*_KEYS, "received"]]
    for extra in (totals, _exception_counts(raw), maxima, minima, energy):
        if not extra.empty:
            out = out.merge(extra[[c for c in extra.columns if c != "measurement"]], on=_KEYS, how="left")
    for c in ["received", "exceptions", "above_range", *[f"gap_{x}" for x in GAP_FLAGS]]:
        out[c] = pd.to_numeric(out[c], errors="coerce").fillna(0).astype("int64") if c in out else 0
    for c in ["total", "exception_sum", "t_sum", "t_min", "t_max", "min", "max", "energy"]:
        out[c] = pd.to_numeric(out[c], errors="coerce") if c in out else np.nan
    n_valid = out["received"] - out["exceptions"]
    out["valid"] = n_valid + out["above_range"]
    n_sum = (out["total"].fillna(0.0) - out["exception_sum"].fillna(0.0)).where(n_valid > 0, 0.0)
    out["sum"] = n_sum + out["t_sum"].fillna(0.0)
    extreme = out["kind"].isin(EXTREME_KINDS) | out["parameter"].isin(EXTREME_PARAMETERS)
    out["max"] = out[["max", "t_max"]].max(axis=1).where(extreme)
    out["min"] = out[["min", "t_min"]].min(axis=1).where(extreme)
    out["nd"] = 0
    out["energy"] = out["energy"].fillna(0.0)
    gap_known = out[[f"gap_{x}" for x in GAP_FLAGS]].sum(axis=1)
    out["gap_other"] = (out["exceptions"] - out["above_range"] - gap_known).clip(lower=0).astype("int64")
    out = out.rename(columns={"time": "window_start"})
    return out[list(AGG_COLUMNS)].astype(AGG_COLUMNS)


def _lab_aggregates(store: Any, start: pd.Timestamp, end: pd.Timestamp, zone: str | None,
                    kinds: Collection[str] | None) -> pd.DataFrame:
    """Aggregates of lab results (period ``sample``: few lines, the only ones with non-detects), read raw and
    reduced by :func:`~.aggregate.hourly_aggregates` (non-detects at half the detection limit)."""
    lab = store.read_readings(start, end, zone=zone, period=LAB_PERIOD, kind=None if kinds is None else list(kinds))
    return hourly_aggregates(lab)


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
    agg = combine_aggregates([_influx_aggregates(store, start, end, zone, kinds),
                              _lab_aggregates(store, start, end, zone, kinds)])
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
