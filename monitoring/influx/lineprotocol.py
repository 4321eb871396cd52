"""DataFrames → InfluxDB line protocol, validated as a whole before the first line is sent.

Serialised column-wise by :mod:`monitoring.influx.columns` with ``influxdb-client``'s escaping rules
(tests compare it with its :class:`DataframeSerializer`; not the old ``influxdb``
``DataFrameClient``); empty tags and ``<NA>`` fields are omitted (:mod:`monitoring.influx`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring.influx.columns import serialise_columns, series_index
from monitoring.influx.layout import READINGS_FIELDS, READINGS_MEASUREMENT
from sensors import schema


# ---------------------------------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineBatch:
    """Line-protocol lines plus the ``precision`` their timestamps are written in (``s`` or ``ns``)."""

    lines: list[str]
    precision: str

    def __len__(self) -> int:
        return len(self.lines)


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier (``"`` and ``\\`` escaped); rejects empty and NUL/newline."""
    if not isinstance(name, str) or not name or any(c in name for c in "\x00\n\r"):
        raise ValueError(f"invalid InfluxQL identifier: {name!r}")
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _utc_times(values: pd.Series | pd.Index, what: str) -> pd.DatetimeIndex:
    times = pd.DatetimeIndex(pd.to_datetime(values))
    if times.tz is None:
        raise ValueError(f"{what} must be timezone-aware (UTC); got naive datetimes")
    times = times.tz_convert("UTC").as_unit("ns")
    if times.hasnans:
        first = int(np.flatnonzero(times.isna())[0])
        raise ValueError(f"{what} has {int(times.isna().sum())} missing time(s) (NaT), first at row {first}")
    return times


def _tag_values(col: pd.Series, name: str) -> tuple[pd.Series, np.ndarray, tuple[np.ndarray, list]]:
    """Tag column as object values (None for NA/empty), the boolean "absent" mask and the factorised
    values (codes, ``-1`` where absent; distinct values) the series keys are built from.

    Checked on the distinct values only (tags have few), so this stays cheap for millions of rows.
    """
    text = col.astype("string")
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    uniques = pd.Series(uniques, dtype="string")
    bad = uniques.str.contains(r"[\n\r]|\\$", regex=True).fillna(False).to_numpy(dtype=bool)
    if bad.any():
        value = uniques[int(np.flatnonzero(bad)[0])]
        row = int(np.flatnonzero(text.to_numpy(dtype=object) == value)[0])
        raise ValueError(f"tag {name!r} value {value!r} (row {row}) contains a line break or "
                         "ends with a backslash, which line protocol cannot carry in a tag")
    empty_codes = np.flatnonzero((uniques.str.len() == 0).to_numpy(dtype=bool))
    absent = (codes < 0) | np.isin(codes, empty_codes)
    values = text.astype(object)
    if absent.any():
        values = values.where(~absent, None)
        codes = np.where(absent, -1, codes)
    return values, absent, (codes, uniques.tolist())


def _field_values(col: pd.Series, name: str) -> pd.Series:
    """Field column in a dtype the serialiser writes correctly (float/int/bool or str with None)."""
    dtype = col.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        times = pd.to_datetime(col)
        if times.dt.tz is None:
            raise ValueError(f"datetime field {name!r} must be timezone-aware")
        text = times.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return text.astype(object).where(times.notna(), None)
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.BooleanDtype):
        return col
    if pd.api.types.is_integer_dtype(dtype):
        return col if not isinstance(dtype, pd.api.extensions.ExtensionDtype) else col.astype("Int64")
    if pd.api.types.is_float_dtype(dtype):
        values = col.astype("float64")
        if np.isinf(values.to_numpy()).any():
            row = int(np.flatnonzero(np.isinf(values.to_numpy()))[0])
            raise ValueError(f"field {name!r} is infinite at row {row}; line protocol has no infinity")
        return values
    text = col.astype("string")
    return text.astype(object).where(text.notna(), None)


@dataclass(frozen=True)
class PreparedFrame:
    """A validated frame ready for the serialiser (see :func:`prepare_frame`); serialise any row slice."""

    measurement: str
    tags: list[str]
    fields: list[str]
    work: pd.DataFrame       # index: UTC times (ns); tag columns object/None; field columns
    pattern: np.ndarray      # per row: bit i set = tag i absent
    precision: str           # "s" when every time is a whole second, else "ns"
    series: tuple[np.ndarray, np.ndarray] | None = None   # per row its series key's index; the keys

    def __len__(self) -> int:
        return len(self.work)

    def serialise(self, start: int = 0, stop: int | None = None) -> list[str]:
        """Line protocol of rows ``start:stop`` (one line per row, in row order). The series keys were
        built once for the whole frame (:func:`prepare_frame`, from the tags it factorised to check them),
        not again per slice."""
        keys = None
        if self.series is not None:
            joint, names = self.series
            keys = names[joint[start:stop]].tolist()
        return serialise_columns(self.measurement, self.tags, self.fields, self.work.iloc[start:stop],
                                 self.precision, keys)


def prepare_frame(df: pd.DataFrame, measurement: str, tags: Sequence[str], fields: Sequence[str],
                  time_column: str) -> PreparedFrame:
    """Validate ``df`` for line protocol and convert its columns for the serialiser (vectorised, cheap).

    Raises :class:`ValueError` for a naive or missing time, a row with no field at all, an infinite
    number or a tag value line protocol cannot carry, and :class:`KeyError` for a missing column, so a
    bad frame is refused before any of it is written.

    The serialiser (``influxdb-client``'s :class:`DataframeSerializer`) is fed what it handles
    correctly: the time as a UTC ``datetime64[ns]`` index (its ``Timestamp.value`` is ns whatever the
    input resolution, e.g. pandas 3's ``datetime64[us, UTC]``); tag columns without nulls (its null-tag
    path escapes tag values with the *string-field* table, so rows are grouped by which tags are
    present); string columns as ``object`` with ``None`` (``pd.NA`` breaks its ``val == ''`` test).
    """
    tags, fields = list(tags), list(fields)
    missing = [c for c in [time_column, *tags, *fields] if c not in df.columns]
    if missing:
        raise KeyError(f"frame for measurement {measurement!r} lacks column(s): {', '.join(missing)}")
    overlap = set(tags) & set(fields)
    if overlap:
        raise ValueError(f"column(s) both tag and field: {sorted(overlap)}")
    if not fields:
        raise ValueError("at least one field column is needed")
    if df.empty:
        return PreparedFrame(measurement, tags, fields, pd.DataFrame(columns=[*tags, *fields]),
                             np.zeros(0, dtype=np.int64), "s")
    times = _utc_times(df[time_column], f"{measurement}.{time_column}")
    precision = "s" if bool((times.asi8 % 1_000_000_000 == 0).all()) else "ns"

    data: dict[str, pd.Series] = {}
    factorised: dict[str, tuple[np.ndarray, list]] = {}
    pattern = np.zeros(len(df), dtype=np.int64)
    for i, t in enumerate(tags):
        data[t], absent, factorised[t] = _tag_values(df[t], t)
        pattern |= absent.astype(np.int64) << i
    field_frame = pd.DataFrame({f: _field_values(df[f], f) for f in fields}, index=df.index)
    empty_rows = field_frame.isna().all(axis=1).to_numpy()
    if empty_rows.any():
        row = int(np.flatnonzero(empty_rows)[0])
        raise ValueError(f"{int(empty_rows.sum())} row(s) of {measurement!r} have no field value "
                         f"(all of {fields} missing), first at row {row}")
    work = pd.concat([pd.DataFrame(data, index=df.index), field_frame], axis=1)
    work.index = times
    return PreparedFrame(measurement, tags, fields, work, pattern, precision,
                         series_index(measurement, factorised, len(work)))


def to_line_protocol(df: pd.DataFrame, measurement: str, tags: Sequence[str], fields: Sequence[str],
                     time_column: str) -> LineBatch:
    """Serialise ``df`` to line protocol (:func:`prepare_frame`, then the serialiser on all rows).

    One line per row (row order kept within each group of rows that lack the same tags). Tags that are
    ``<NA>`` or empty are left out of that row's line; ``<NA>`` fields are left out.
    """
    prepared = prepare_frame(df, measurement, tags, fields, time_column)
    return LineBatch(prepared.serialise(), prepared.precision)


def prepare_readings(df: pd.DataFrame) -> PreparedFrame:
    """A canonical readings batch (conformed with :func:`sensors.schema.conform`) for ``readings``, in the
    lean line shape (:data:`~monitoring.influx.layout.READINGS_FIELDS`, see :mod:`monitoring.influx`).

    ``value`` and ``flag`` are on every line. ``qualifier`` is on lab lines only (``period`` ``sample``),
    ``""`` standing for "detected" so that a re-sent result clears an old ``<``. ``unit`` is written only
    where it is not the parameter's canonical unit (parameters outside the parameter table) and
    ``source`` only where it is not the one the period implies (``sim``); ``batch`` is not written —
    the ingest record (``records/ingest/<zone>/<batch>.json``) names the batch, its time span and counts.
    """
    from monitoring.units import parameter_table

    readings = schema.conform(df)
    lab = readings["period"] == "sample"
    readings["qualifier"] = readings["qualifier"].fillna("").where(lab, pd.NA)
    canonical = readings["parameter"].map(parameter_table().units()).astype("string")
    readings["unit"] = readings["unit"].where((readings["unit"] != canonical).fillna(True), pd.NA)
    readings["source"] = readings["source"].where(readings["source"] != implied_source(readings["period"]),
                                                  pd.NA)
    return prepare_frame(readings, READINGS_MEASUREMENT, schema.TAG_COLUMNS, READINGS_FIELDS, "time")


def implied_source(period: pd.Series) -> pd.Series:
    """The ``source`` a reading's period implies: ``lab`` for ``sample``, else ``hj212``."""
    return pd.Series(np.where(period.to_numpy(dtype=object) == "sample", "lab", "hj212"), index=period.index,
                     dtype="string")


def readings_from_fields(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a ``readings`` query (tags and fields as columns) → the canonical readings frame.

    Reads both line shapes: lean lines get ``unit`` from the parameter table, ``source`` from the
    period (:func:`implied_source`) and ``batch`` ``<NA>``; lines written before the lean shape carry
    their own ``unit``/``source``/``batch`` fields, which win. Sorted by time, point, parameter,
    statistic, period.
    """
    from monitoring.units import parameter_table

    for col in schema.READINGS_COLUMNS:
        if col not in frame:
            frame[col] = pd.NA
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame["qualifier"] = frame["qualifier"].astype("string").replace("", pd.NA)
    canonical = frame["parameter"].astype("string").map(parameter_table().units())
    frame["unit"] = frame["unit"].astype("string").fillna(canonical.astype("string"))
    period = frame["period"].astype("string").fillna("")
    frame["source"] = frame["source"].astype("string").fillna(implied_source(period))
    frame = frame.sort_values(["time", "point", "parameter", "statistic", "period"], kind="stable")
    return schema.conform(frame.reset_index(drop=True))


def readings_to_line_protocol(df: pd.DataFrame) -> LineBatch:
    """A canonical readings batch → ``readings`` line protocol."""
    prepared = prepare_readings(df)
    return LineBatch(prepared.serialise(), prepared.precision)
