"""Publication deadlines in Chinese working days: National Day, adjusted workdays, years beyond the package."""

from __future__ import annotations

from datetime import date

import pytest

from monitoring.calendar import HolidayFileError, add_working_days, working_days_between


def test_twenty_working_days_across_national_day_2026():
    # 2026: 国庆 Oct 1-7 off, Sat Oct 10 an adjusted workday (调休上班). Inspection Mon Sep 28:
    # Sep 29, 30 (2) · Oct 8, 9, 10 (5) · Oct 12-16 (10) · Oct 19-23 (15) · Oct 26-30 (20)
    d = add_working_days(date(2026, 9, 28), 20)
    assert d.due == date(2026, 10, 30) and d.notes == ()
    # (weekends only would have said Oct 26): up to Oct 26 only 16 working days have passed
    assert working_days_between(date(2026, 9, 28), date(2026, 10, 26))[0] == 16


def test_adjusted_workday_counts():
    # Sun Sep 20 2026 is a workday (National Day adjustment); Fri Sep 18 + 1 working day = Sun Sep 20
    assert add_working_days(date(2026, 9, 18), 1).due == date(2026, 9, 20)
    # 中秋 Sep 25-27 are off: Thu Sep 24 + 1 → Mon Sep 28
    assert add_working_days(date(2026, 9, 24), 1).due == date(2026, 9, 28)


def test_year_beyond_the_package_uses_the_local_file_and_says_so(tmp_path):
    f = tmp_path / "holidays.yaml"
    f.write_text("years:\n  2027:\n    status: official\n    source: 国办发明电〔2026〕X号\n"
                 "    holidays: ['2027-01-01', '2027-02-05..2027-02-12']\n    workdays: ['2027-02-14']\n",
                 encoding="utf-8")
    # inspection Mon Dec 28 2026: Dec 29, 30, 31 (3) · Jan 1 off · Jan 4-8 (8) · Jan 11-15 (13) ·
    # Jan 18-22 (18) · Jan 25, 26 (20)
    d = add_working_days(date(2026, 12, 28), 20, f)
    assert d.due == date(2027, 1, 26)
    assert len(d.notes) == 1 and "2027" in d.notes[0] and "holidays.yaml" in d.notes[0] and "official" in d.notes[0]
    # Feb 5-12 off, Sat Feb 13 off, Sun Feb 14 an adjusted workday (1), Mon Feb 15 (2)
    assert add_working_days(date(2027, 2, 4), 2, f).due == date(2027, 2, 15)


def test_year_absent_everywhere_falls_back_to_weekends_with_a_warning(tmp_path):
    f = tmp_path / "holidays.yaml"
    f.write_text("years: {}\n", encoding="utf-8")
    d = add_working_days(date(2028, 9, 29), 5, f)    # Fri → Mon Oct 2 … Fri Oct 6 (no National Day known)
    assert d.due == date(2028, 10, 6)
    assert "警告" in d.notes[0] and "仅按周末计算" in d.notes[0] and "2028" in d.notes[0]


def test_packaged_example_file_is_marked_provisional():
    d = add_working_days(date(2027, 9, 30), 1)        # Oct 1-7 2027 off in the packaged example
    assert d.due == date(2027, 10, 8) and "provisional" in d.notes[0]


def test_malformed_holiday_file_names_year_and_entry(tmp_path):
    f = tmp_path / "h.yaml"
    f.write_text("years:\n  2029:\n    holidays: ['2029-02-30']\n", encoding="utf-8")
    with pytest.raises(HolidayFileError, match=r"years.2029.holidays\[0\] '2029-02-30'"):
        add_working_days(date(2029, 2, 1), 3, f)
    f.write_text("years:\n  2029:\n    holidays: ['2030-01-01']\n", encoding="utf-8")
    with pytest.raises(HolidayFileError, match="2030-01-01 is not in 2029"):
        add_working_days(date(2029, 2, 1), 3, f)
