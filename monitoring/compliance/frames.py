"""Helpers shared by the checks: the registry as a frame, window grids and the assessments frame."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from monitoring.compliance.aggregate import GAP_COLUMNS, GAP_FLAGS
from sensors.schema import ASSESSMENT_COLUMNS, empty_assessments

#: Expected values per hour by the period that formed the hourly value (rtd: from the point's interval).
PER_HOUR = {"1h": 1.0}


def expected_per_hour(period: pd.Series, interval_s: pd.Series) -> pd.Series:
    """Values expected per hour: 1 for hourly data (CN 2061); otherwise one per reporting interval.

    HJ 212 "minute data" (CN 2051) is sent every ``interval_s`` seconds (1, 5 or 10 minutes are common),
    each value averaging that interval, so an hour holds ``3600 / interval_s`` of them — not always 60.
    Real-time data (``rtd``) and points that sent nothing at all are expected at the same rate.
    """
    per_interval = 3600.0 / interval_s.astype("float64")
    return period.map(PER_HOUR).astype("float64").fillna(per_interval)


def points_table(registry: Any) -> pd.DataFrame:
    """One row per registry point with the attributes compliance needs (kind-specific ones may be NaN)."""
    rows = []
    for p in registry:
        d = {"point": p.id, "zone": p.zone, "enterprise": p.enterprise, "kind": p.kind, "online": p.online,
             "interval_s": float(p.interval_s), "parameters": tuple(p.parameters)}
        for attr in ("height_m", "above_buildings", "position_m", "zone_class", "day_start", "night_start", "noise_type",
                     "indoor", "standard", "grade", "capacity_t", "temporary"):
            d[attr] = getattr(p, attr, None)
        rows.append(d)
    return pd.DataFrame(rows)


def measured(limits: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """Keep limit rows whose parameter the point measures (registry ``parameters``)."""
    if limits.empty:
        return limits
    pairs = points[["point", "parameters"]].explode("parameters").rename(columns={"parameters": "parameter"})
    pairs = pairs.dropna().astype({"point": "string", "parameter": "string"}).drop_duplicates()
    return limits.merge(pairs, on=["point", "parameter"], how="inner")


def hours(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """UTC hour starts in [start, end)."""
    return pd.date_range(start.ceil("h"), end, freq="h", inclusive="left", tz="UTC")


def gap_text(frame: pd.DataFrame) -> pd.Series:
    """'M 12, C 3, silent 5' from gap_* columns and ``silence`` (vectorised)."""
    labels = [*GAP_FLAGS, "other"]
    cols = [(c, label) for c, label in zip(GAP_COLUMNS + ["silence"], labels + ["silent"]) if c in frame]
    out = pd.Series("", index=frame.index, dtype="string")
    if not cols:
        return out
    counts = {c: frame[c].fillna(0).astype("int64").to_numpy() for c, _ in cols}
    # text only for the windows with a gap (most have none): a month of the county's hours is ~415k rows
    any_gap = np.logical_or.reduce([n > 0 for n in counts.values()])
    if not any_gap.any():
        return out
    parts = [pd.Series(np.where(counts[c][any_gap] > 0,
                                label + " " + counts[c][any_gap].astype(str).astype(object), ""))
             for c, label in cols]
    out[any_gap] = _join_fast(parts).to_numpy()
    return out


def _join_fast(parts: list[pd.Series]) -> pd.Series:
    out = parts[0].astype(object)
    for p in parts[1:]:
        p = p.astype(object)
        sep = np.where((out != "") & (p != ""), ", ", "")
        out = out + sep + p
    return out


def to_assessments(frame: pd.DataFrame) -> pd.DataFrame:
    """Select and cast :data:`ASSESSMENT_COLUMNS` from ``frame``; missing columns become NA."""
    if frame.empty:
        return empty_assessments()
    out = pd.DataFrame(index=frame.index)
    for col, dtype in ASSESSMENT_COLUMNS.items():
        out[col] = frame[col] if col in frame else pd.Series(pd.NA, index=frame.index, dtype="object")
    out = out.reset_index(drop=True)
    for col, dtype in ASSESSMENT_COLUMNS.items():
        if dtype.startswith("datetime"):
            out[col] = pd.to_datetime(out[col], utc=True).astype(dtype)
        elif dtype == "float64":
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
        elif dtype == "Int64":
            out[col] = pd.to_numeric(out[col], errors="coerce").round().astype("Int64")
        else:
            out[col] = out[col].astype(dtype)
    return out


def verdicts(value: pd.Series, limit: pd.Series, no_data: pd.Series, invalid: pd.Series) -> np.ndarray:
    """no_data > invalid > exceeds (value strictly above the limit) > compliant."""
    exceeds = (value > limit).fillna(False).to_numpy(dtype=bool)
    return np.select([no_data.to_numpy(dtype=bool), invalid.to_numpy(dtype=bool), exceeds],
                     ["no_data", "invalid", "exceeds"], "compliant")


def provisional_notes(assessments: pd.DataFrame) -> list[tuple[str, str]]:
    """(standard, reason) of every provisional limit applied in ``assessments`` (``limit_status``
    ``provisional``; the reason follows "provisional:" in ``limit_source``), once each — the footnote a
    report, the console or the CLI prints beside verdicts judged against a value not yet confirmed
    (DB 50/418-2016 表1, see limits/README.md "Inheritance")."""
    if assessments.empty or "limit_status" not in assessments:
        return []
    prov = assessments[assessments["limit_status"] == "provisional"]
    if prov.empty:
        return []
    reason = prov["limit_source"].fillna("").astype(str).str.partition("provisional:")[2].str.strip()
    pairs = pd.DataFrame({"standard": prov["standard"].astype(str), "reason": reason}).drop_duplicates()
    return list(pairs.itertuples(index=False, name=None))
