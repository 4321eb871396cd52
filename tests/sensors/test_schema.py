"""The canonical readings schema: conform() gives the canonical columns and dtypes, and a new frame."""

from __future__ import annotations

import pandas as pd
import pytest

from sensors.schema import READINGS_COLUMNS, conform


def raw_batch() -> pd.DataFrame:
    """Two readings as a source might hand them over: object text, an extra column, columns out of order,
    no ``enterprise``/``qualifier``/``origin``, times in UTC+8."""
    return pd.DataFrame({
        "value": [7.1, 35.0], "extra": ["x", "y"],
        "time": pd.to_datetime(["2026-03-02 08:00", "2026-03-02 08:01"]).tz_localize("Asia/Shanghai"),
        "zone": ["jiangkou", "jiangkou"], "point": ["JK-011-DW001", "JK-011-DA001"], "kind": ["wastewater", "stack"],
        "parameter": ["w01001", "a21026"], "statistic": ["avg", "avg"], "period": ["1min", "1min"],
        "unit": ["pH", "mg/m3"], "flag": ["N", "N"], "source": ["hj212", "hj212"], "batch": ["b", "b"],
    })


def test_conform_gives_the_canonical_columns_dtypes_and_utc() -> None:
    out = conform(raw_batch())
    assert list(out.columns) == list(READINGS_COLUMNS)
    assert {c: str(out[c].dtype) for c in out} == READINGS_COLUMNS
    assert out["enterprise"].isna().all() and out["qualifier"].isna().all() and out["origin"].isna().all()
    assert out["time"].iloc[0] == pd.Timestamp("2026-03-02 00:00", tz="UTC")     # 08:00 UTC+8
    assert out["point"].tolist() == ["JK-011-DW001", "JK-011-DA001"]


def test_conform_of_a_conformed_batch_is_equal_and_a_new_frame() -> None:
    """A conformed batch comes back unchanged (nothing to cast) but as its own frame: writing into the
    result never changes the caller's batch, nor the other way round."""
    first = conform(raw_batch())
    kept = first.copy(deep=True)
    again = conform(first)
    pd.testing.assert_frame_equal(again, first)
    assert again is not first
    again.loc[0, "value"] = -1.0
    again.loc[0, "flag"] = "M"
    pd.testing.assert_frame_equal(first, kept)
    first.loc[1, "point"] = "changed"
    assert again.loc[1, "point"] == "JK-011-DA001"


def test_conform_names_what_is_missing_or_wrong() -> None:
    with pytest.raises(KeyError, match="lacks column.*flag"):
        conform(raw_batch().drop(columns=["flag"]))
    naive = raw_batch().assign(time=pd.to_datetime(["2026-03-02 08:00", "2026-03-02 08:01"]))
    with pytest.raises(ValueError, match="timezone-aware"):
        conform(naive)
