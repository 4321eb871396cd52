"""Likely sources of an ambient exceedance: the cluster's stacks and fugitive points that rose in the same hours.

When a station exceeds GB 3095-2012 in some hours, every stack and fugitive (boundary) point of the
same cluster that measures a **related** pollutant is compared with itself: its mean over the
exceedance hours against its own baseline (the ``baseline_hours`` before the first exceedance hour, the
exceedance hours excluded). Points whose mean rose by at least ``min_z`` (2) standard deviations of
their baseline hourly means are ranked by that rise (``z``), then by the ratio. The result is **evidence, not a verdict**: a ranked list with the
numbers that make each point suspect (wind direction is not used; the registry has no positions yet).

Related pollutants (source code → ambient code): particulate a34013 → PM10/PM2.5; SO₂ a21026 → SO₂;
NOx a21002 / NO₂ a21004 → NO₂; O₃ ← its precursors NOx a21002 and NMHC a24088; CO a21005 → CO.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

RELATED: dict[str, tuple[str, ...]] = {
    "a34002": ("a34013",), "a34004": ("a34013",), "a21026": ("a21026",), "a21004": ("a21002", "a21004"),
    "a05024": ("a21002", "a24088"), "a21005": ("a21005",),
}
SOURCE_KINDS = ("stack", "fugitive")
SOURCE_COLUMNS = ["rank", "point", "enterprise", "kind", "parameter", "during", "baseline", "ratio", "z",
                  "hours", "evidence"]


def likely_sources(hourly: pd.DataFrame, points: pd.DataFrame, *, station: str, pollutant: str,
                   exceed_hours: Iterable[pd.Timestamp], baseline_hours: int = 72, top: int = 10,
                   min_z: float = 2.0) -> pd.DataFrame:
    """Ranked suspects for ``station``'s exceedance of ``pollutant`` in ``exceed_hours`` (UTC hour starts).

    ``hourly``: best-period hourly aggregates (``sum``, ``valid`` per point, parameter, hour) covering the
    baseline and the exceedance hours; ``points``: :func:`~monitoring.compliance.frames.points_table`.
    """
    hours = pd.DatetimeIndex(sorted({pd.Timestamp(h) for h in exceed_hours}))
    if hours.empty:
        return pd.DataFrame(columns=SOURCE_COLUMNS)
    zone = points.loc[points["point"] == station, "zone"]
    if zone.empty:
        raise KeyError(f"unknown station {station!r}")
    related = RELATED.get(pollutant, ())
    cand = points[(points["zone"] == zone.iloc[0]) & points["kind"].isin(SOURCE_KINDS)]
    h = hourly[hourly["point"].isin(cand["point"]) & hourly["parameter"].isin(related) & (hourly["valid"] > 0)]
    if h.empty:
        return pd.DataFrame(columns=SOURCE_COLUMNS)
    h = h.assign(mean=h["sum"] / h["valid"])
    first = hours.min()
    base_lo = first - pd.Timedelta(hours=baseline_hours)
    in_exc = h["window_start"].isin(hours)
    in_base = (h["window_start"] >= base_lo) & (h["window_start"] < first) & ~in_exc
    rows: list[dict[str, Any]] = []
    for (point, parameter), g in h.groupby(["point", "parameter"], sort=False):
        during = g.loc[in_exc.loc[g.index], "mean"]
        base = g.loc[in_base.loc[g.index], "mean"]
        if during.empty or len(base) < 3:
            continue
        b, s, d = float(base.mean()), float(base.std(ddof=1)), float(during.mean())
        z = (d - b) / s if s > 0 else (np.inf if d > b else 0.0)
        ratio = d / b if b > 0 else np.inf
        info = cand[cand["point"] == point].iloc[0]
        rows.append({"point": point, "enterprise": info["enterprise"], "kind": info["kind"], "parameter": parameter,
                     "during": d, "baseline": b, "ratio": ratio, "z": z, "hours": len(during),
                     "evidence": (f"{parameter} hourly mean {d:.4g} in the {len(during)} exceedance hour(s) vs "
                                  f"{b:.4g} over the {len(base)} hours before (×{ratio:.2f}, {z:+.1f} σ)")})
    out = pd.DataFrame(rows, columns=[c for c in SOURCE_COLUMNS if c != "rank"])
    if out.empty:
        return pd.DataFrame(columns=SOURCE_COLUMNS)
    out = out[(out["during"] > out["baseline"]) & (out["z"] >= min_z)].sort_values(["z", "ratio"], ascending=False).head(top)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)


def station_hours(hourly_station: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, threshold: float
                  ) -> pd.DatetimeIndex:
    """The hours of [start, end) whose station hourly mean (``sum``/``valid``) is above ``threshold`` (the
    window's limit, in the readings' unit): what pushed a 24-h or 8-h mean over its limit. A day's mean
    judged over all 24 hours dilutes a morning episode in the sources' comparison; these hours do not."""
    h = hourly_station[(hourly_station["window_start"] >= start) & (hourly_station["window_start"] < end)
                       & (hourly_station["valid"] > 0)]
    high = h[h["sum"] / h["valid"] > threshold]
    return pd.DatetimeIndex(sorted(high["window_start"].unique()))


def sources_for_incident(store: Any, registry: Any, incident: Any, *, baseline_hours: int = 72) -> pd.DataFrame:
    """The ranked suspects of an ``ambient`` incident (its exceeding windows) from the stored readings.
    For a 24-h or 8-h window the exceedance hours are the station's hours above the window's limit
    (:func:`station_hours`), when there are any; else every hour of the window."""
    from monitoring.compliance.aggregate import best_period, hourly_aggregates
    from monitoring.compliance.frames import points_table
    from monitoring.units import conversion

    start = pd.Timestamp(incident.started_at).floor("h")
    end = pd.Timestamp(incident.last_exceed_at).ceil("h")
    averaging = getattr(incident, "averaging", None)
    if averaging in ("1d", "8h"):
        end = max(end, start + pd.Timedelta(hours=24 if averaging == "1d" else 8))
    hours = pd.date_range(start, end, freq="h", inclusive="left")
    points = points_table(registry)
    zone = registry.point(incident.point).zone
    if averaging in ("1d", "8h") and incident.limit is not None:
        conv = conversion(incident.parameter, incident.unit)
        if conv.reason is None:
            own = store.read_readings(start, end, point=incident.point, parameter=[incident.parameter])
            high = station_hours(best_period(hourly_aggregates(own)), start, end,
                                 float(incident.limit) * conv.scale + conv.offset)
            hours = high if len(high) else hours
    readings = store.read_readings(hours.min() - pd.Timedelta(hours=baseline_hours), end, zone=zone,
                                   kind=list(SOURCE_KINDS), parameter=list(RELATED.get(incident.parameter, ())))
    hourly = best_period(hourly_aggregates(readings))
    return likely_sources(hourly, points, station=incident.point, pollutant=incident.parameter,
                          exceed_hours=hours, baseline_hours=baseline_hours)
