"""The column-wise serialiser (monitoring.influx.columns) against influxdb-client's DataframeSerializer.

Both get the same prepared frame (monitoring.influx.prepare_frame); the lines must be identical,
escaping included, on hostile measurement, tag and field names and values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from influxdb_client.client.write.dataframe_serializer import DataframeSerializer
from influxdb_client.client.write_api import PointSettings

from monitoring.influx import prepare_frame
from monitoring.influx.columns import serialise_columns

HOSTILE = ["plain", "with space", "com,ma", "eq=uals", 'quo"te', "back\\slash x", "tab\there", "中文 名",
           "a=b,c d", "trailing space ", "émoji 🌫", "x\\,y"]


def client_lines(prepared) -> list[str]:
    """influxdb-client's serialiser on the prepared frame (rows grouped by which tags are absent)."""
    out = []
    for code in np.unique(prepared.pattern):
        part = prepared.work.iloc[np.flatnonzero(prepared.pattern == code)]
        present = [t for i, t in enumerate(prepared.tags) if not (int(code) >> i) & 1]
        kept = [f for f in prepared.fields if part[f].notna().any()]
        out += DataframeSerializer(part[[*present, *kept]], PointSettings(), prepared.precision,
                                   data_frame_measurement_name=prepared.measurement,
                                   data_frame_tag_columns=present).serialize()
    return out


def ours(prepared) -> list[str]:
    """Our lines, both ways: from the tag columns, and as the pipelined write makes them (the prepared
    frame's series keys, built once from the tags prepare_frame factorised, sliced 700 rows at a time)."""
    lines = serialise_columns(prepared.measurement, prepared.tags, prepared.fields, prepared.work,
                              prepared.precision)
    sliced = [line for start in range(0, len(prepared), 700) for line in prepared.serialise(start, start + 700)]
    assert sliced == lines
    return lines


def hostile_frame(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pick = lambda: rng.choice(np.array(HOSTILE, dtype=object), n)
    values = rng.gamma(2.0, 10.0, n) * 10.0 ** rng.integers(-8, 18, n)
    values[:4] = [0.1 + 0.2, -0.0, 1e16, 5e-324]
    return pd.DataFrame({
        "time": pd.Timestamp("2026-03-01T00:00:00Z") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
        "tag key,=1": pick(), "zone": pick(), "b tag": pick(),
        "value": values, "count i": rng.integers(-5, 10**12, n),
        "ok": rng.random(n) < 0.5, "text f=": pick(), "flag": rng.choice(["N", "M", 'x"\\'], n),
    })


@pytest.mark.parametrize("precision_ns", [False, True])
def test_same_lines_as_influxdb_client_on_hostile_names(precision_ns: bool) -> None:
    df = hostile_frame(3000)
    if precision_ns:
        df["time"] = df["time"] + pd.to_timedelta(np.arange(len(df)) % 7, unit="ns")
    prepared = prepare_frame(df, "mea sure,ment", ["tag key,=1", "zone", "b tag"],
                             ["value", "count i", "ok", "text f=", "flag"], "time")
    assert prepared.precision == ("ns" if precision_ns else "s")
    assert ours(prepared) == client_lines(prepared)      # no absent tag: one group, same order


def test_absent_tags_and_missing_fields_left_out_like_the_client() -> None:
    df = hostile_frame(2000, seed=5)
    df.loc[df.index % 3 == 0, "zone"] = None
    df.loc[df.index % 5 == 0, "b tag"] = ""
    df.loc[df.index % 4 == 0, "text f="] = None
    df.loc[df.index % 6 == 0, "value"] = np.nan
    prepared = prepare_frame(df, "readings", ["tag key,=1", "zone", "b tag"],
                             ["flag", "value", "count i", "text f="], "time")
    mine = ours(prepared)
    assert sorted(mine) == sorted(client_lines(prepared))
    assert len(mine) == len(df)
    assert all(",zone=" not in line for line in mine[::3])   # rows stay in input order
    assert all("value=" not in line for line in mine[::6])


def test_first_field_missing_like_the_client() -> None:
    """The client removes the comma left by a missing first field with a regular expression, which also
    eats a comma of a tag value ending in "\\ " (a bug); names here are plain, so both must agree."""
    n = 500
    rng = np.random.default_rng(9)
    df = pd.DataFrame({"time": pd.Timestamp("2026-03-01T00:00:00Z") + pd.to_timedelta(np.arange(n), unit="min"),
                       "point": rng.choice(["JK-001-DA001", "NX-002-DW001"], n),
                       "count": pd.array(np.where(np.arange(n) % 3 == 0, None, np.arange(n)), dtype="Int64"),
                       "flag": rng.choice(["N", "M"], n), "value": rng.random(n)})
    prepared = prepare_frame(df, "readings", ["point"], ["count", "flag", "value"], "time")
    assert ours(prepared) == client_lines(prepared)


def test_row_without_fields_is_refused() -> None:
    work = pd.DataFrame({"t": ["a", "b"], "v": [1.0, np.nan]},
                        index=pd.DatetimeIndex(["2026-03-01T00:00:00Z"] * 2))
    with pytest.raises(ValueError, match="row 1"):
        serialise_columns("m", ["t"], ["v"], work, "s")
