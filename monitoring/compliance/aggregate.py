"""Hourly aggregates: the additive summary every compliance check is computed from.

Readings (the canonical frame) are reduced once, vectorised, to one row per
``(point, parameter, period, hour)`` with sums, counts, extremes and per-flag gap counts. Every check
(hourly mean, daily mean, day/night Leq, single-reading maximum, pH extremes) is derivable from these
sums, so a month can be aggregated chunk by chunk (per day, per zone) and the chunks concatenated with
:func:`combine_aggregates`; the store path builds the same frame with InfluxQL.

Rules fixed here (documented in the package docstring):

* flag ``N`` values count, and flag ``T`` values (above the analyser's range) count **at their reported
  value** (``VALID_FLAGS``): the true value is at least that, so the highest readings are judged, never
  dropped as gaps; ``above_range`` counts them. Every other flag (F/M/S/D/C/B, unknown) is a capture gap
  counted by reason;
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

from sensors.acoustics import level_to_energy
from sensors.parameters import load_parameter_table
from sensors.schema import DATA_FLAGS, VALID_FLAGS

#: Statistics that carry the measured value compared with limits.
VALUE_STATISTICS = ("avg", "rtd", "data", "sample")
#: Statistic of a background-noise measurement (GB 12348-2008 背景噪声), aggregated separately.
BACKGROUND_STATISTIC = "bg"
#: Periods that may form an hourly value, best first: minute data beats real-time, real-time beats hourly.
PERIOD_RANK = {"1min": 0, "rtd": 1, "1h": 2, "sample": 3}
#: Parameters whose values are levels in dB: their energy sum Σ10^(L/10) is kept for energy means
#: (``aggregation: energy`` in the parameter table, :mod:`sensors.parameters`).
LEVEL_PARAMETERS = load_parameter_table().with_aggregation("energy")
#: Where a check reads an hour's extremes rather than its mean: single readings (GB 37822-2019 附录A 任意一次
#: 浓度值, kind ``insite_vocs``), levels aggregated by max/min (Lmax, Lmin) and ranges (pH, O₂ — limits with a
#: lower bound). The store path (:func:`monitoring.compliance.evaluate.period_aggregates`) has InfluxDB compute
#: ``min``/``max`` for these series only (each extra aggregate is another scan of the month); elsewhere they
#: are NaN there.
EXTREME_KINDS = ("insite_vocs",)
EXTREME_PARAMETERS = ("w01001", "a19001", *load_parameter_table().with_aggregation("max"),
                      *load_parameter_table().with_aggregation("min"))
#: Flags counted as capture-gap reasons (not valid evidence); anything else lands in ``gap_other``.
GAP_FLAGS = tuple(f for f in DATA_FLAGS if f not in VALID_FLAGS)
#: The flag of a value above the analyser's measuring range: valid, counted in ``above_range``.
ABOVE_RANGE_FLAG = "T"
GAP_COLUMNS = [f"gap_{f}" for f in GAP_FLAGS] + ["gap_other"]

AGG_COLUMNS: dict[str, str] = {
    "point": "string",
    "parameter": "string",
    "period": "string",
    "window_start": "datetime64[ns, UTC]",   # the UTC hour
    "received": "int64",                     # readings of any flag
    "valid": "int64",                        # flag-N and flag-T readings (valid evidence)
    "above_range": "int64",                  # of those, flag T (above the analyser's range)
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
    # factorize the string columns once: every later step works on integer codes (fast, no objects)
    stat_codes, stat_uniq = pd.factorize(readings["statistic"], use_na_sentinel=True)
    per_codes, per_uniq = pd.factorize(readings["period"], use_na_sentinel=True)
    keep_stat = np.isin(np.asarray(stat_uniq, dtype=object), statistics)
    keep_per = np.isin(np.asarray(per_uniq, dtype=object), list(PERIOD_RANK))
    keep = (stat_codes >= 0) & (per_codes >= 0)
    keep &= keep_stat[np.where(stat_codes >= 0, stat_codes, 0)] & keep_per[np.where(per_codes >= 0, per_codes, 0)]
    if not keep.any():
        return empty_aggregates()
    r = readings.loc[keep] if not keep.all() else readings
    per_codes = per_codes[keep]
    flag_codes, flag_uniq = pd.factorize(r["flag"], use_na_sentinel=True)
    flag_uniq = np.asarray(flag_uniq, dtype=object)
    value = r["value"].to_numpy(dtype="float64")
    valid_u = np.append(np.isin(flag_uniq, VALID_FLAGS), False)  # last slot: NA flag
    above_u = np.append(flag_uniq == ABOVE_RANGE_FLAG, False)
    fl = np.where(flag_codes >= 0, flag_codes, len(flag_uniq))
    valid = valid_u[fl] & np.isfinite(value)
    q_codes, q_uniq = pd.factorize(r["qualifier"], use_na_sentinel=True)
    nd_u = np.append(np.asarray(q_uniq, dtype=object) == "<", False)
    nd = nd_u[np.where(q_codes >= 0, q_codes, len(q_uniq))] & valid
    counted = np.where(nd, value / 2.0, value)
    counted = np.where(valid, counted, np.nan)
    param_codes, param_uniques = pd.factorize(r["parameter"], use_na_sentinel=False)
    param_uniques = np.asarray(param_uniques, dtype=object)
    level = np.isin(param_uniques, LEVEL_PARAMETERS)[param_codes]
    energy = np.where(level & valid, level_to_energy(np.where(level & valid, counted, 0.0)), 0.0)
    point_codes, point_uniques = pd.factorize(r["point"], use_na_sentinel=False)
    ns = r["time"].array.asi8
    hour = ns - ns % 3_600_000_000_000
    frame = pd.DataFrame({
        "point": point_codes,
        "parameter": param_codes,
        "period": per_codes,
        "window_start": hour,
        "received": np.ones(len(r), dtype="int64"),
        "valid": valid.astype("int64"),
        "sum": np.where(valid, counted, 0.0),
        "min": counted,
        "max": counted,
        "energy": energy,
        "nd": nd.astype("int64"),
        "above_range": (above_u[fl] & valid).astype("int64"),
    })
    known = np.zeros(len(flag_uniq) + 1, dtype=bool)
    for f in GAP_FLAGS:
        is_f = np.append(flag_uniq == f, False)
        known |= is_f
        frame[f"gap_{f}"] = is_f[fl].astype("int64")
    other = ~known & ~valid_u
    other[-1] = True                                              # a missing flag is a gap of its own
    frame["gap_other"] = (other[fl] & ~valid_u[fl]).astype("int64")
    sums = {c: "sum" for c in ["received", "valid", "above_range", "sum", "energy", "nd", *GAP_COLUMNS]}
    out = frame.groupby(["point", "parameter", "period", "window_start"], sort=False).agg(
        {**sums, "min": "min", "max": "max"}).reset_index()
    out["point"] = np.asarray(point_uniques, dtype=object)[out["point"].to_numpy()]
    out["parameter"] = param_uniques[out["parameter"].to_numpy()]
    out["period"] = np.asarray(per_uniq, dtype=object)[out["period"].to_numpy()]
    out["window_start"] = pd.to_datetime(out["window_start"].to_numpy(), unit="ns", utc=True)
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
    sums = {c: "sum" for c in ["received", "valid", "above_range", "sum", "energy", "nd", *GAP_COLUMNS]}
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
