"""Hourly aggregates: the additive summary every compliance check is computed from.

Readings (the canonical frame) are reduced once, vectorised, to one row per
``(point, parameter, period, hour)`` with sums, counts, extremes and per-flag gap counts. Every check
(hourly mean, daily mean, day/night Leq, single-reading maximum, pH extremes) is derivable from these
sums, so a month can be aggregated chunk by chunk (per day, per zone) and the chunks concatenated with
:func:`combine_aggregates`; the store path builds the same frame with InfluxQL.

Rules fixed here (documented in the package docstring):

* only flag ``N`` values count (``VALID_FLAG``); every other flag is a capture gap counted by reason;
* statistics used: ``avg`` (minute/hour data), ``rtd``, ``data`` (noise) and ``sample`` (lab); ``zs*``
  (converted to reference O₂) and ``min``/``max``/``cou`` are not compared with GB 16297 limits, which
  have no O₂ reference; ``daydata``/``nightdata`` are recomputed from the minute values; ``1d`` values
  are not used (days are recomputed from finer data);
* statistic ``bg`` carries a manual background-noise measurement (GB 12348) and is aggregated apart;
* a lab non-detect (qualifier ``<``, value = detection limit) counts as **half its detection limit** in
  means (``nd`` counts them so that an all-non-detect window can be told apart).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring.schema import DATA_FLAGS, VALID_FLAG

#: Statistics that carry the measured value compared with limits.
VALUE_STATISTICS = ("avg", "rtd", "data", "sample")
#: Statistic of a background-noise measurement (GB 12348-2008 背景噪声), aggregated separately.
BACKGROUND_STATISTIC = "bg"
#: Periods that may form an hourly value, best first: minute data beats real-time, real-time beats hourly.
PERIOD_RANK = {"1min": 0, "rtd": 1, "1h": 2, "sample": 3}
#: Parameters whose values are levels in dB: their energy sum Σ10^(L/10) is kept for energy means.
LEVEL_PARAMETERS = ("Leq", "LA", "L5", "L10", "L50", "L90", "L95", "Ld", "Ln", "Ldn")
#: Non-N flags counted as capture-gap reasons; anything else lands in ``gap_other``.
GAP_FLAGS = tuple(f for f in DATA_FLAGS if f != VALID_FLAG)
GAP_COLUMNS = [f"gap_{f}" for f in GAP_FLAGS] + ["gap_other"]

AGG_COLUMNS: dict[str, str] = {
    "point": "string",
    "parameter": "string",
    "period": "string",
    "window_start": "datetime64[ns, UTC]",   # the UTC hour
    "received": "int64",                     # readings of any flag
    "valid": "int64",                        # flag-N readings
    "sum": "float64",                        # Σ valid values (non-detects as DL/2)
    "min": "float64",
    "max": "float64",
    "energy": "float64",                     # Σ 10^(L/10) of valid levels (dB parameters), else 0
    "nd": "int64",                           # valid non-detects
    **{c: "int64" for c in GAP_COLUMNS},
}


def empty_aggregates() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in AGG_COLUMNS.items()})


def hourly_aggregates(readings: pd.DataFrame, statistics: tuple[str, ...] = VALUE_STATISTICS) -> pd.DataFrame:
    """Reduce canonical readings to :data:`AGG_COLUMNS` (one row per point, parameter, period, UTC hour).

    Vectorised: one boolean mask per flag and a single ``groupby`` over integer codes.
    """
    if readings.empty:
        return empty_aggregates()
    stat = readings["statistic"].astype("string")
    period = readings["period"].astype("string")
    keep = (stat.isin(statistics) & period.isin(list(PERIOD_RANK))).to_numpy(dtype=bool, na_value=False)
    if not keep.any():
        return empty_aggregates()
    r = readings.loc[keep]
    flag = r["flag"].to_numpy(dtype=object, na_value="")
    valid = flag == VALID_FLAG
    value = r["value"].to_numpy(dtype="float64")
    valid &= np.isfinite(value)
    nd = (r["qualifier"].to_numpy(dtype=object, na_value="") == "<") & valid
    counted = np.where(nd, value / 2.0, value)
    counted = np.where(valid, counted, np.nan)
    param_codes, param_uniques = pd.factorize(r["parameter"].to_numpy(dtype=object, na_value=""))
    level = np.isin(np.asarray(param_uniques, dtype=object), LEVEL_PARAMETERS)[param_codes]
    energy = np.where(level & valid, np.power(10.0, counted / 10.0), 0.0)
    hour = r["time"].dt.floor("h")
    frame = pd.DataFrame({
        "point": r["point"].to_numpy(dtype=object, na_value=""),
        "parameter": param_codes,
        "period": r["period"].to_numpy(dtype=object, na_value=""),
        "window_start": hour.to_numpy(),
        "received": 1,
        "valid": valid.astype("int64"),
        "sum": np.where(valid, counted, 0.0),
        "min": counted,
        "max": counted,
        "energy": energy,
        "nd": nd.astype("int64"),
    })
    known = np.zeros(len(flag), dtype=bool)
    for f in GAP_FLAGS:
        m = flag == f
        known |= m
        frame[f"gap_{f}"] = m.astype("int64")
    frame["gap_other"] = (~known & (flag != VALID_FLAG)).astype("int64")
    sums = {c: "sum" for c in ["received", "valid", "sum", "energy", "nd", *GAP_COLUMNS]}
    out = frame.groupby(["point", "parameter", "period", "window_start"], sort=False, observed=True).agg(
        {**sums, "min": "min", "max": "max"}).reset_index()
    out["parameter"] = np.asarray(param_uniques, dtype=object)[out["parameter"].to_numpy()]
    out["window_start"] = pd.to_datetime(out["window_start"], utc=True)
    return out[list(AGG_COLUMNS)].astype(AGG_COLUMNS)


def combine_aggregates(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate aggregates of chunks; rows of the same key (a chunk edge inside an hour) are merged."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return empty_aggregates()
    both = pd.concat(frames, ignore_index=True)
    keys = ["point", "parameter", "period", "window_start"]
    if not both.duplicated(keys).any():
        return both
    sums = {c: "sum" for c in ["received", "valid", "sum", "energy", "nd", *GAP_COLUMNS]}
    out = both.groupby(keys, sort=False, observed=True).agg({**sums, "min": "min", "max": "max"}).reset_index()
    return out[list(AGG_COLUMNS)].astype(AGG_COLUMNS)


def best_period(agg: pd.DataFrame) -> pd.DataFrame:
    """One row per (point, parameter, hour): the finest period present (1min > rtd > 1h > sample)."""
    if agg.empty:
        return agg
    rank = agg["period"].map(PERIOD_RANK).astype("int64")
    order = np.lexsort((rank.to_numpy(),))
    ranked = agg.iloc[order]
    return ranked.drop_duplicates(["point", "parameter", "window_start"], keep="first").reset_index(drop=True)
