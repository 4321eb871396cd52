"""The canonical readings batch: the one contract between ``sensors/`` and everything downstream.

A batch is a :class:`pandas.DataFrame` with exactly the columns of :data:`READINGS_COLUMNS`, in that
order and with those dtypes. Every adapter (HJ 212, lab files, simulator) produces it; quality, units,
store and compliance consume it.

======================  ============================  =======================================================
column                  dtype                         meaning
======================  ============================  =======================================================
``time``                ``datetime64[ns, UTC]``       observation time in UTC (HJ 212 ``DataTime`` is UTC+8
                                                      local time and is converted on decode)
``zone``                ``string``                    cluster id (``jiangkou`` …), see the registry
``enterprise``          ``string`` (may be ``<NA>``)  enterprise code; ``<NA>`` for cluster-level points
``point``               ``string``                    monitoring point id
``kind``                ``string``                    point kind (:data:`POINT_KINDS`)
``parameter``           ``string``                    HJ 212-2017 code where one exists (``a21026``,
                                                      ``w01018``, ``Leq``), else a documented name
``statistic``           ``string``                    ``rtd`` ``avg`` ``min`` ``max`` ``cou`` ``zsrtd``
                                                      ``zsavg`` ``zsmin`` ``zsmax`` ``data`` ``daydata``
                                                      ``nightdata`` ``sample`` (lab)
``period``              ``string``                    what one value summarises: ``rtd`` (instantaneous),
                                                      ``1min``, ``1h``, ``1d`` (HJ 212 CN 2011/2051/2061/2031),
                                                      ``sample`` (lab grab or composite sample)
``value``               ``float64``                   the number, in ``unit``
``unit``                ``string``                    canonical unit after normalisation (``mg/m3``,
                                                      ``mg/L``, ``dB(A)``, ``m3/s``, ``pH``, …)
``flag``                ``string``                    HJ 212 data flag (N F M S D C T B, unknown kept verbatim)
``qualifier``           ``string`` (may be ``<NA>``)  ``<`` for a lab non-detect (``value`` = detection limit)
``source``              ``string``                    ``hj212`` ``lab`` ``sim`` (``ledger`` rows live in
                                                      :mod:`sensors.ledger`)
``batch``               ``string``                    ingest batch id
``origin``              ``string`` (may be ``<NA>``)  where the reading came from, for the quarantine:
                                                      ``<file>:<line>`` (lab) or ``<segment>:<line>`` (HJ 212
                                                      spool); not written to InfluxDB
======================  ============================  =======================================================

Identity (what makes a reading idempotent in InfluxDB): ``(point, parameter, statistic, period, time)``.

This module lives in ``sensors/`` because the adapters produce what it describes; ``monitoring/`` imports
it from here (layers: ``sensors/`` and ``limits/`` never import ``monitoring/``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

READINGS_COLUMNS: dict[str, str] = {
    "time": "datetime64[ns, UTC]",
    "zone": "string",
    "enterprise": "string",
    "point": "string",
    "kind": "string",
    "parameter": "string",
    "statistic": "string",
    "period": "string",
    "value": "float64",
    "unit": "string",
    "flag": "string",
    "qualifier": "string",
    "source": "string",
    "batch": "string",
    "origin": "string",
}

#: Columns that identify a reading; duplicates on these inside one batch are an error.
IDENTITY = ["point", "parameter", "statistic", "period", "time"]


def identity_key(frame: pd.DataFrame) -> np.ndarray:
    """One integer per row, equal for rows with the same :data:`IDENTITY` (missing values equal to each
    other, as ``DataFrame.duplicated`` and ``groupby(dropna=False)`` count them): each column factorised
    once and the codes combined (the decoder's re-sends and the quality gate's repeats)."""
    key = np.zeros(len(frame), dtype=np.int64)
    for column in IDENTITY:
        codes, distinct = pd.factorize(frame[column], use_na_sentinel=False)
        key, _ = pd.factorize(key * (len(distinct) + 1) + codes)
    return key

#: Columns that become InfluxDB tags (the series key). ``flag`` is a field so a re-sent reading with a
#: corrected flag overwrites the old one instead of creating a second series.
TAG_COLUMNS = ["zone", "enterprise", "point", "kind", "parameter", "statistic", "period"]
#: The other stored attributes of a reading. ``readings`` lines carry only the ones the tags do not imply
#: (``monitoring.influx.layout.READINGS_FIELDS``, the lean shape); ``batch`` lives in the ingest record.
FIELD_COLUMNS = ["value", "unit", "flag", "qualifier", "source", "batch"]

POINT_KINDS = (
    "stack",            # 有组织排放口 (air, DB 50/418-2016 / GB 16297-1996)
    "fugitive",         # 厂界无组织监控点 (air boundary)
    "insite_vocs",      # 厂区内 VOCs 监控点 (GB 37822-2019 Appendix A)
    "noise",            # 厂界噪声 (GB 12348-2008)
    "wastewater",       # 企业废水排放口 (GB 8978-1996 / GB/T 31962-2015)
    "plant_effluent",   # 污水处理厂出水 (GB 18918-2002)
    "groundwater",      # 地下水监测井
    "ambient_air",      # 环境空气质量站
    "hw_store",         # 危险废物贮存点
    "soil",             # 土壤监测点 (GB 36600-2018, HJ 1209-2021 yearly samples)
    "safety",           # 安全监测传感器 (combustible/toxic gas, O2, ammonia, dust collectors)
)
#: The point kinds as people read them (reports, console).
POINT_KINDS_ZH = {"stack": "有组织排放口", "fugitive": "厂界无组织", "insite_vocs": "厂区内VOCs", "noise": "厂界噪声",
                  "wastewater": "废水排放口", "plant_effluent": "污水处理厂出水", "groundwater": "地下水监测井",
                  "ambient_air": "环境空气质量站", "hw_store": "危险废物贮存点", "soil": "土壤监测点",
                  "safety": "安全监测传感器"}

#: HJ 212 data flags (数据标记). ``N`` and ``T`` count towards compliance averages (:data:`VALID_FLAGS`).
DATA_FLAGS = {
    "N": "normal",
    "F": "instrument stopped",
    "M": "maintenance",
    "S": "manually set value",
    "D": "instrument fault",
    "C": "calibration",
    "T": "above measuring range",
    "B": "logger-instrument communication fault",
}
#: the same flags as HJ 212-2017 表6 names them (数据标记), for what people read
DATA_FLAGS_ZH = {"N": "正常", "F": "停运", "M": "维护", "S": "手工输入", "D": "故障", "C": "校准", "T": "超测定上限",
                 "B": "通讯异常"}
VALID_FLAG = "N"
#: Flags whose values are valid evidence: N, and T (above the analyser's range: the analyser works and the
#: true value is *at least* the reported one, so it counts at its reported value and can exceed; hj212.md).
VALID_FLAGS = ("N", "T")

STATISTICS = ("rtd", "avg", "min", "max", "cou", "zsrtd", "zsavg", "zsmin", "zsmax",
              "data", "daydata", "nightdata", "sample",
              "bg")  # bg: background noise Leq measured with the source stopped (GB 12348-2008 §5.8)
PERIODS = ("rtd", "1min", "1h", "1d", "sample")
SOURCES = ("hj212", "lab", "sim")

#: HJ 212 command number → the ``period`` of the values it carries.
CN_PERIOD = {"2011": "rtd", "2051": "1min", "2061": "1h", "2031": "1d"}


def empty_readings() -> pd.DataFrame:
    """A zero-row batch with the canonical columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in READINGS_COLUMNS.items()})


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with exactly the canonical columns, in order, cast to the canonical dtypes.

    Missing optional columns (``enterprise``, ``qualifier``, ``origin``) are filled with ``<NA>``; any other missing
    column raises :class:`KeyError` naming it. ``time`` must already be timezone-aware.
    """
    optional = ("enterprise", "qualifier", "origin")
    missing = [c for c in READINGS_COLUMNS if c not in df and c not in optional]
    if missing:
        raise KeyError(f"readings batch lacks column(s): {', '.join(missing)}")
    absent = {c: pd.Series(pd.NA, index=df.index, dtype="string") for c in optional if c not in df}
    out = (df.assign(**absent) if absent else df)[list(READINGS_COLUMNS)]
    time = pd.to_datetime(out["time"])
    if time.dt.tz is None:
        raise ValueError("readings 'time' must be timezone-aware (UTC)")
    out = out.assign(time=time.dt.tz_convert("UTC").astype("datetime64[ns, UTC]"))
    # only the columns not yet of their dtype are cast (a conformed batch comes back as it is, new
    # frame): the pipeline conforms each batch 4 times; 3.3 → 0.9 ms per call at 42.8 k readings
    cast = {c: t for c, t in READINGS_COLUMNS.items() if c != "time" and str(out[c].dtype) != t}
    return out.astype(cast) if cast else out


# ---------------------------------------------------------------------------------------------------
# Assessments: the output of monitoring.compliance, the input of incidents and reports.
# One row per (point, parameter, check, window): every evaluated window, not only exceedances, so that
# incidents can clear after N compliant windows and reports can count compliance rates.
# ---------------------------------------------------------------------------------------------------
ASSESSMENT_COLUMNS: dict[str, str] = {
    "window_start": "datetime64[ns, UTC]",   # start of the averaging window (UTC)
    "window_end": "datetime64[ns, UTC]",     # end (exclusive)
    "zone": "string",
    "enterprise": "string",                  # <NA> for cluster-level points
    "point": "string",
    "kind": "string",
    "parameter": "string",                   # HJ 212 code, or a named check (e.g. "hw_storage_days")
    "check": "string",                       # what was compared: concentration, rate, boundary, leq_day,
                                             # leq_night, lmax_night, daily_mean, ph_range, single_reading,
                                             # storage_days, temporary_stock, declaration, manifest, licence
    "averaging": "string",                   # 1h, 1d, day, night, single, event (noise windows are 1h
                                             # clock hours inside the day or night period)
    "value": "float64",                      # the value judged (after corrections), in unit
    "limit": "float64",                      # the applied limit (upper; for ranges the violated bound)
    "limit_low": "float64",                  # lower bound for range limits (pH), else NaN
    "unit": "string",
    "ratio": "float64",                      # value / limit (for pH: distance outside the range / width)
    "verdict": "string",                     # compliant | exceeds | invalid | no_data
    "reason": "string",                      # human-readable reason, e.g. "background < 3 dB(A)"
    "standard": "string",                    # e.g. "DB 50/418-2016"
    "clause": "string",                      # e.g. "表1 其他区域 (= GB 16297-1996 表2 二级)"
    "limit_status": "string",                # text | quoted | unconfirmed | provisional | override
    "limit_source": "string",                # provenance of the applied value
    "valid_count": "Int64",                  # flag-N values in the window
    "expected_count": "Int64",               # values expected from the point's interval
    "period_value": "float64",               # noise only: beside each hourly verdict, the whole day's Ld or
                                             # night's Ln (energy mean, corrected like value) of that local
                                             # day, or the night's highest Lmax (GB 12348-2008 §5.5); NaN else
}
VERDICTS = ("compliant", "exceeds", "invalid", "no_data")


def empty_assessments() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in ASSESSMENT_COLUMNS.items()})


# ---------------------------------------------------------------------------------------------------
# Hazardous-waste ledger rows (危险废物管理台账), from sensors.ledger and the simulator.
# ---------------------------------------------------------------------------------------------------
LEDGER_COLUMNS: dict[str, str] = {
    "date": "datetime64[ns, UTC]",     # the entry's date (local midnight, stored as UTC)
    "zone": "string",
    "enterprise": "string",
    "store": "string",                 # hw_store point id
    "waste_code": "string",            # e.g. HW12 900-252-12 (category HWnn at least)
    "quantity_in_t": "float64",        # t received into the store
    "quantity_out_t": "float64",       # t transferred out
    "manifest": "string",              # 14-digit electronic manifest number for transfers, else <NA>
    "receiver": "string",              # receiving (disposal) unit for transfers
    "receiver_licence": "string",      # its hazardous-waste operating licence number, <NA> if none
    "confirmed": "datetime64[ns, UTC]",  # when the receiver confirmed the manifest, NaT if not yet
    "received": "datetime64[ns, UTC]",   # when the receiver received the waste (manifest 接收日期), NaT if not
                                         # recorded: the 5 working days to confirm count from it
    "source": "string",
    "batch": "string",
}


def empty_ledger() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in LEDGER_COLUMNS.items()})
