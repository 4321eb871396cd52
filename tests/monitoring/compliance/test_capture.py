"""Data capture has one definition (100 · valid / expected) and the 双随机 evidence reads it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy.exc

from monitoring.compliance.capture import (
    CAPTURE_FIELDS,
    CAPTURE_TAGS,
    capture_by,
    capture_pct,
    empty_capture,
    read_capture,
)
from monitoring.config import load_settings
from monitoring.influx import CAPTURE_MEASUREMENT
from monitoring.roster.directories import load_evidence

DAY0 = pd.Timestamp("2026-09-01", tz="Asia/Shanghai").tz_convert("UTC")


def test_capture_pct_is_valid_over_expected_capped() -> None:
    np.testing.assert_allclose(capture_pct([45, 60, 70], [60, 60, 60]), [75.0, 100.0, 100.0])
    assert np.isnan(capture_pct([0], [0])[0])                    # nothing expected: no evidence


def test_groups_sum_counts_not_percentages() -> None:
    # a point that reports 1440 values a day and is 50 % silent weighs more than one with 24 values at 100 %
    frame = pd.DataFrame({"enterprise": ["E1", "E1"], "valid": [720, 24], "expected": [1440, 24]})
    got = capture_by(frame, "enterprise").set_index("enterprise")
    assert got.loc["E1", "capture_pct"] == pytest.approx(100 * 744 / 1464)     # 50.8 %, not (50 + 100) / 2


def _capture_rows(enterprise: str, valid: list[int], expected: float) -> pd.DataFrame:
    rows = empty_capture().reindex(range(len(valid)))
    starts = [DAY0 + pd.Timedelta(days=i) for i in range(len(valid))]
    rows = rows.assign(window="1d", window_start=starts, window_end=[s + pd.Timedelta(days=1) for s in starts],
                       zone="jiangkou", enterprise=enterprise, point=f"{enterprise}-DA001", kind="stack",
                       parameter="a21026", expected=expected, received=valid, valid=valid, silence=0.0,
                       capture_pct=capture_pct(valid, [expected] * len(valid)))
    gaps = [c for c in rows.columns if c.startswith("gap_")]
    return rows.fillna({c: 0 for c in gaps}).astype({c: "int64" for c in gaps})


@pytest.mark.influx
def test_draw_evidence_reads_stored_capture(influx_store, settings) -> None:
    frame = pd.concat([_capture_rows("E1", [1440, 720], 1440.0), _capture_rows("E2", [1440, 1440], 1440.0)],
                      ignore_index=True)
    influx_store.write_frame(frame, CAPTURE_MEASUREMENT, CAPTURE_TAGS, CAPTURE_FIELDS, "window_start")
    got = read_capture(influx_store, DAY0, DAY0 + pd.Timedelta(days=2)).set_index("enterprise")
    assert got.loc["E1", "capture_pct"] == pytest.approx(75.0) and got.loc["E2", "capture_pct"] == 100.0
    incidents, capture = load_evidence(settings, DAY0.to_pydatetime(), (DAY0 + pd.Timedelta(days=2)).to_pydatetime(),
                                       store=influx_store)
    assert incidents.empty
    assert dict(zip(capture["enterprise"], capture["capture_pct"], strict=True)) == {"E1": 75.0, "E2": 100.0}


def test_a_database_error_is_loud(tmp_path) -> None:
    """Evidence that cannot be read stops the draw; it is never "no incidents"."""
    garbage = tmp_path / "envmon.sqlite"
    garbage.write_bytes(b"this is not an SQLite database" * 100)
    broken = load_settings(data_dir=tmp_path, db_url=f"sqlite:///{garbage}")
    with pytest.raises(sqlalchemy.exc.SQLAlchemyError, match="not a database"):
        load_evidence(broken, datetime.now(UTC) - timedelta(days=30))
