"""The report month: local calendar month bounds in UTC, the data-review deadline, preliminary/final."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.reports.period import ReportMonth


def test_month_bounds_are_local_midnights_in_utc():
    m = ReportMonth.parse("2026-11")
    # Asia/Shanghai is UTC+8: local 2026-11-01 00:00 is 2026-10-31 16:00 UTC
    assert m.start == pd.Timestamp("2026-10-31 16:00", tz="UTC")
    assert m.end == pd.Timestamp("2026-11-30 16:00", tz="UTC")
    assert len(m.days) == 30 and m.label_zh == "2026年11月"


def test_december_rolls_into_january_and_previous_months():
    m = ReportMonth.parse("2026-12")
    assert m.next_first_day.isoformat() == "2027-01-01"
    assert m.previous().label == "2026-11" and m.previous(12).label == "2025-12"
    assert ReportMonth.parse("2026-01").previous().label == "2025-12"


def test_preliminary_until_the_review_deadline_then_final():
    m = ReportMonth.parse("2026-11", review_day=10)
    deadline = pd.Timestamp("2026-12-10 00:00", tz="Asia/Shanghai")
    assert m.review_deadline == deadline
    assert m.status(deadline - pd.Timedelta(seconds=1)) == "preliminary"
    assert m.status(deadline) == "final"
    assert ReportMonth.parse("2026-11", review_day=5).status(pd.Timestamp("2026-12-06", tz="UTC")) == "final"


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-11", "2026/11", ""])
def test_bad_month_text_names_it(text):
    with pytest.raises(ValueError, match="YYYY-MM"):
        ReportMonth.parse(text)
