"""Data capture (数据有效率): the one definition, ``capture_pct = 100 · valid / expected``.

``valid`` counts flag-N values (HJ 212 数据标记 N; only those count towards compliance); ``expected`` is
what the point's reporting period or interval promises (1-minute data: 60 per hour; HJ 75-2017 asks for
≥ 45 valid minutes of an hour, i.e. 75 %). Silence, F/M/S/D/C/T/B and unknown flags are gaps, counted by
reason. Every consumer takes capture from here: :func:`capture` builds it per point, parameter and hour /
local day from the hourly aggregates (written to the InfluxDB measurement ``capture``); :func:`capture_by`
sums it over any grouping (an enterprise over a look-back window, for the 双随机 risk weights) — sums of
valid and expected, never a mean of percentages; :func:`read_capture` reads it back from InfluxDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from monitoring.compliance.aggregate import GAP_COLUMNS
from monitoring.compliance.frames import expected_per_hour, hours
from monitoring.config import LOCAL_TZ
from monitoring.influx import CAPTURE_MEASUREMENT, quote_ident

#: Data capture per point, parameter and window (``window`` = ``1h`` UTC hour or ``1d`` local day).
CAPTURE_COLUMNS: dict[str, str] = {
    "window": "string",
    "window_start": "datetime64[ns, UTC]",
    "window_end": "datetime64[ns, UTC]",
    "zone": "string",
    "enterprise": "string",
    "point": "string",
    "kind": "string",
    "parameter": "string",
    "expected": "float64",       # values expected from the period reported (1min: 60/h) or the interval
    "received": "int64",         # values received, any flag
    "valid": "int64",            # valid values: flag N, and flag T at its reported value
    "above_range": "int64",      # of the valid values, flag T (above the analyser's range, hj212.md)
    **{c: "int64" for c in GAP_COLUMNS},   # values received with flag F/M/S/D/C/B or another flag
    "silence": "float64",        # expected − received (values never sent), ≥ 0
    "capture_pct": "float64",    # 100 · valid / expected
}
CAPTURE_TAGS = ["window", "zone", "enterprise", "point", "kind", "parameter"]
CAPTURE_FIELDS = [c for c in CAPTURE_COLUMNS if c not in CAPTURE_TAGS and c != "window_start"]
#: Kinds with continuous (online) data whose capture is counted.
CAPTURE_KINDS = ("stack", "fugitive", "insite_vocs", "noise", "wastewater", "plant_effluent", "ambient_air",
                 "groundwater")


def capture_pct(valid: Any, expected: Any) -> np.ndarray:
    """``100 · valid / expected``, capped at 100 %; NaN where nothing was expected.

    Parameters
    ----------
    valid : array_like
        Flag-N values received.
    expected : array_like
        Values the reporting period or interval promises over the same window.

    Returns
    -------
    numpy.ndarray
        Percent.
    """
    v = np.asarray(valid, dtype="float64")
    e = np.asarray(expected, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(e > 0, np.minimum(100.0 * v / np.where(e > 0, e, 1.0), 100.0), np.nan)


def empty_capture() -> pd.DataFrame:
    """A zero-row capture frame with :data:`CAPTURE_COLUMNS`."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in CAPTURE_COLUMNS.items()})


def capture(hourly: pd.DataFrame, points: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Hourly and local-daily capture for every online point × registry parameter in [start, end)."""
    online = points[points["online"].astype(bool) & points["kind"].isin(CAPTURE_KINDS)]
    if online.empty:
        return empty_capture()
    pairs = online[["point", "zone", "enterprise", "kind", "interval_s", "parameters"]].explode("parameters")
    pairs = pairs.rename(columns={"parameters": "parameter"}).astype(
        {"point": "string", "parameter": "string", "zone": "string", "enterprise": "string", "kind": "string"})
    grid = pairs.merge(pd.DataFrame({"window_start": hours(start, end)}), how="cross")
    h = hourly[(hourly["window_start"] >= start) & (hourly["window_start"] < end)]
    g = grid.merge(h.drop(columns=["sum", "min", "max", "energy", "nd"]), on=["point", "parameter", "window_start"],
                   how="left")
    g["expected"] = expected_per_hour(g["period"], g["interval_s"])
    for c in ["received", "valid", "above_range", *GAP_COLUMNS]:
        g[c] = g[c].fillna(0).astype("int64")
    g["window"] = "1h"
    g["window_end"] = g["window_start"] + pd.Timedelta(hours=1)
    local = g["window_start"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()
    day = g.assign(local_date=local).groupby(
        ["point", "zone", "enterprise", "kind", "parameter", "local_date"], dropna=False, observed=True).agg(
        {"expected": "sum", "received": "sum", "valid": "sum", "above_range": "sum",
         **{c: "sum" for c in GAP_COLUMNS}}).reset_index()
    day["window"] = "1d"
    day["window_start"] = day["local_date"].dt.tz_localize(LOCAL_TZ).dt.tz_convert("UTC")
    day["window_end"] = (day["local_date"] + pd.Timedelta(days=1)).dt.tz_localize(LOCAL_TZ).dt.tz_convert("UTC")
    out = pd.concat([g, day], ignore_index=True)
    out["silence"] = (out["expected"] - out["received"]).clip(lower=0)
    out["capture_pct"] = capture_pct(out["valid"], out["expected"])
    return out[list(CAPTURE_COLUMNS)].astype(CAPTURE_COLUMNS).reset_index(drop=True)


def capture_by(frame: pd.DataFrame, keys: str | Sequence[str]) -> pd.DataFrame:
    """Capture per group: ``keys`` + ``valid`` + ``expected`` (sums) + ``capture_pct`` of the sums.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows with ``valid`` and ``expected`` (capture rows of one window size: hourly *or* daily).
    keys : str or sequence of str
        Grouping columns, e.g. ``"enterprise"``.
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    if frame.empty:
        return pd.DataFrame({**{k: pd.Series(dtype="string") for k in keys}, "valid": pd.Series(dtype="float64"),
                             "expected": pd.Series(dtype="float64"), "capture_pct": pd.Series(dtype="float64")})
    out = (frame.astype({"valid": "float64", "expected": "float64"})
           .groupby(keys, dropna=True, observed=True)[["valid", "expected"]].sum().reset_index())
    out["capture_pct"] = capture_pct(out["valid"], out["expected"])
    return out


def read_capture(store: Any, start: Any, end: Any, *, window: str = "1d") -> pd.DataFrame:
    """Stored capture (measurement ``capture``) of windows starting in [start, end), per enterprise.

    Returns one row per enterprise (cluster-level points have none) with the summed ``valid`` and
    ``expected`` and their :func:`capture_pct`. A store error is raised, not turned into "no data".
    """
    frame = store.query(
        f"SELECT sum(\"valid\") AS valid, sum(\"expected\") AS expected FROM {quote_ident(CAPTURE_MEASUREMENT)} "
        "WHERE \"window\" = $window AND time >= $start AND time < $end GROUP BY \"enterprise\"",
        params={"window": window, "start": pd.Timestamp(start).tz_convert("UTC").isoformat(),
                "end": pd.Timestamp(end).tz_convert("UTC").isoformat()})
    if frame.empty or "enterprise" not in frame:
        return capture_by(pd.DataFrame(), "enterprise")
    frame = frame[frame["enterprise"].fillna("") != ""]
    return capture_by(frame[["enterprise", "valid", "expected"]], "enterprise")
