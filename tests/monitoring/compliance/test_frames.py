"""The assessment frames' helpers."""

from __future__ import annotations

import pandas as pd

from monitoring.compliance.aggregate import GAP_COLUMNS
from monitoring.compliance.frames import gap_text


def test_gap_text_names_each_gap_flag_with_its_count_and_leaves_complete_windows_empty():
    """The detail of a capture shortfall: HJ 212 flags that are not valid evidence (M maintenance, C calibration
    …) with their counts, then silent minutes; a window without gaps has no text."""
    frame = pd.DataFrame({c: [0, 0, 0, 0] for c in GAP_COLUMNS})
    frame.loc[1, "gap_M"] = 12
    frame.loc[1, "gap_C"] = 3
    frame.loc[2, "gap_other"] = 1
    frame["silence"] = [0, 5, 0, 2]
    text = gap_text(frame)
    assert text.dtype == "string"
    assert text.tolist() == ["", "M 12, C 3, silent 5", "other 1", "silent 2"]
    assert gap_text(frame.iloc[[0]]).tolist() == [""]
    assert gap_text(frame.iloc[0:0]).tolist() == []
