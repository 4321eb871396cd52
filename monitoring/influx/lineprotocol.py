"""DataFrames → InfluxDB line protocol, validated as a whole before the first line is sent.

Serialised by ``influxdb-client``'s :class:`DataframeSerializer` (not the old ``influxdb``
``DataFrameClient``); empty tags and ``<NA>`` fields are omitted (:mod:`monitoring.influx`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from influxdb_client.client.write.dataframe_serializer import DataframeSerializer
from influxdb_client.client.write_api import PointSettings

from monitoring.influx.layout import READINGS_MEASUREMENT
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


def _tag_values(col: pd.Series, name: str) -> tuple[pd.Series, np.ndarray]:
    """Tag column as object values (None for NA/empty) and the boolean "absent" mask.

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
    return text.astype(object).where(~absent, None), absent


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

    def __len__(self) -> int:
        return len(self.work)

    def serialise(self, start: int = 0, stop: int | None = None) -> list[str]:
        """Line protocol of rows ``start:stop`` (one line per row)."""
        part_all = self.work.iloc[start:stop]
        pattern = self.pattern[start:stop]
        groups = np.unique(pattern)
        lines: list[str] = []
        for code in groups:
            part = part_all.iloc[np.flatnonzero(pattern == code)] if len(groups) > 1 else part_all
            present = [t for i, t in enumerate(self.tags) if not (int(code) >> i) & 1]
            # Fields missing on every row are left out: the serialiser would test each for NA per row.
            kept = [f for f in self.fields if part[f].notna().any()]
            lines.extend(DataframeSerializer(
                part[[*present, *kept]], PointSettings(), self.precision,
                data_frame_measurement_name=self.measurement, data_frame_tag_columns=present).serialize())
        if len(lines) != len(part_all):  # the serialiser silently drops rows without fields
            raise AssertionError(f"serialiser produced {len(lines)} lines for {len(part_all)} rows")
        return lines


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
    pattern = np.zeros(len(df), dtype=np.int64)
    for i, t in enumerate(tags):
        data[t], absent = _tag_values(df[t], t)
        pattern |= absent.astype(np.int64) << i
    field_frame = pd.DataFrame({f: _field_values(df[f], f) for f in fields}, index=df.index)
    empty_rows = field_frame.isna().all(axis=1).to_numpy()
    if empty_rows.any():
        row = int(np.flatnonzero(empty_rows)[0])
        raise ValueError(f"{int(empty_rows.sum())} row(s) of {measurement!r} have no field value "
                         f"(all of {fields} missing), first at row {row}")
    work = pd.concat([pd.DataFrame(data, index=df.index), field_frame], axis=1)
    work.index = times
    return PreparedFrame(measurement, tags, fields, work, pattern, precision)


def to_line_protocol(df: pd.DataFrame, measurement: str, tags: Sequence[str], fields: Sequence[str],
                     time_column: str) -> LineBatch:
    """Serialise ``df`` to line protocol (:func:`prepare_frame`, then the serialiser on all rows).

    One line per row (row order kept within each group of rows that lack the same tags). Tags that are
    ``<NA>`` or empty are left out of that row's line; ``<NA>`` fields are left out.
    """
    prepared = prepare_frame(df, measurement, tags, fields, time_column)
    return LineBatch(prepared.serialise(), prepared.precision)


def prepare_readings(df: pd.DataFrame) -> PreparedFrame:
    """A canonical readings batch (conformed with :func:`sensors.schema.conform`) for ``readings``.

    ``qualifier`` ``<NA>`` is written as ``""`` so that a re-sent reading clears an old ``<``.
    """
    readings = schema.conform(df)
    readings["qualifier"] = readings["qualifier"].fillna("")
    return prepare_frame(readings, READINGS_MEASUREMENT, schema.TAG_COLUMNS, schema.FIELD_COLUMNS, "time")


def readings_to_line_protocol(df: pd.DataFrame) -> LineBatch:
    """A canonical readings batch → ``readings`` line protocol."""
    prepared = prepare_readings(df)
    return LineBatch(prepared.serialise(), prepared.precision)
