"""Chinese working days: publication deadlines (双随机 results within 20 working days), hazardous-waste
manifest confirmations (5 working days), anything else counted in 工作日.

Source of truth, in order, for each date:

1. ``chinese_calendar.is_workday`` (holidays and adjusted workdays 调休 from the State Council notices);
   it raises ``NotImplementedError`` for years it has no data for (1.11: up to 2026);
2. the bureau's local holiday file (``$ENVMON_HOLIDAYS`` / ``settings.holidays_path``, else the packaged
   example ``monitoring/data/holidays.yaml``) for that year, filled in when the State Council publishes
   the schedule::

       years:
         2027:
           status: provisional | official
           source: <notice>
           holidays: ["2027-01-01", "2027-10-01..2027-10-07"]   # dates or inclusive ranges
           workdays: ["2027-09-26"]                              # adjusted workdays (weekend days worked)

3. weekends only (Saturday, Sunday off).

Every fallback is reported in :attr:`Deadline.notes`, so the output says which source was used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import chinese_calendar

from monitoring.config import PACKAGE_DATA
from sensors.datafile import parse_yaml

PACKAGED_HOLIDAYS = PACKAGE_DATA / "holidays.yaml"


class HolidayFileError(ValueError):
    """The local holiday file is malformed (file, year and entry named)."""


@dataclass(frozen=True)
class YearCalendar:
    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    status: str
    source: str


def _expand(items: list, year: int, path: Path, key: str) -> set[date]:
    out: set[date] = set()
    for n, item in enumerate(items or []):
        text = str(item)
        try:
            if ".." in text:
                a, b = (date.fromisoformat(x.strip()) for x in text.split(".."))
                if b < a:
                    raise ValueError("range end before start")
                out.update(a + timedelta(days=i) for i in range((b - a).days + 1))
            else:
                out.add(date.fromisoformat(text.strip()))
        except ValueError as exc:
            raise HolidayFileError(f"{path}: years.{year}.{key}[{n}] {text!r}: {exc}") from None
    wrong = sorted(d for d in out if d.year != year)
    if wrong:
        raise HolidayFileError(f"{path}: years.{year}.{key}: {wrong[0]} is not in {year}")
    return out


@lru_cache(maxsize=16)
def _load_holiday_file(path: Path, mtime: float) -> dict[int, YearCalendar]:
    raw = parse_yaml(path.read_text(encoding="utf-8"), HolidayFileError, str(path)) or {}
    years = raw.get("years") or {}
    if not isinstance(years, dict):
        raise HolidayFileError(f"{path}: 'years' must map a year to its holidays and workdays")
    out: dict[int, YearCalendar] = {}
    for y, spec in years.items():
        try:
            year = int(y)
        except (TypeError, ValueError):
            raise HolidayFileError(f"{path}: years.{y}: not a year") from None
        spec = spec or {}
        hol = _expand(spec.get("holidays"), year, path, "holidays")
        wd = _expand(spec.get("workdays"), year, path, "workdays")
        both = sorted(hol & wd)
        if both:
            raise HolidayFileError(f"{path}: years.{year}: {both[0]} is both a holiday and a workday")
        out[year] = YearCalendar(year, frozenset(hol), frozenset(wd), str(spec.get("status", "official")),
                                 str(spec.get("source", "")))
    return out


def load_holiday_file(path: Path | None) -> dict[int, YearCalendar]:
    path = Path(path) if path else PACKAGED_HOLIDAYS
    if not path.exists():
        raise HolidayFileError(f"{path}: no such holiday file")
    return _load_holiday_file(path, path.stat().st_mtime)


@dataclass
class WorkdayCalendar:
    """``is_workday`` with the fallbacks above; collects a note per year that needed one."""

    holidays_path: Path | None = None
    notes: dict[int, str] = field(default_factory=dict)

    def is_workday(self, day: date) -> bool:
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            pass
        local = load_holiday_file(self.holidays_path)
        path = self.holidays_path or PACKAGED_HOLIDAYS
        yc = local.get(day.year)
        if yc is not None:
            self.notes.setdefault(day.year, (
                f"{day.year}年不在 chinese_calendar 数据范围内，按本地节假日文件 {path.name}"
                f"（{yc.status}{'：' + yc.source if yc.source else ''}）计算"))
            if day in yc.workdays:
                return True
            return day not in yc.holidays and day.weekday() < 5
        self.notes.setdefault(day.year, (
            f"警告：{day.year}年不在 chinese_calendar 数据范围内，本地节假日文件 {path.name} 也无该年安排，"
            f"仅按周末计算（待国务院公布放假安排后补充该文件）"))
        return day.weekday() < 5


@dataclass(frozen=True)
class Deadline:
    due: date
    notes: tuple[str, ...]


def add_working_days(start: date, n: int, holidays_path: Path | None = None) -> Deadline:
    """The ``n``-th working day after ``start`` (the day of the inspection does not count)."""
    if n < 1:
        raise ValueError("n must be ≥ 1")
    cal = WorkdayCalendar(holidays_path)
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        if cal.is_workday(day):
            counted += 1
    return Deadline(day, tuple(cal.notes[y] for y in sorted(cal.notes)))


def working_days_between(start: date, end: date, holidays_path: Path | None = None) -> tuple[int, tuple[str, ...]]:
    """Working days in ``(start, end]`` (0 when ``end ≤ start``) and the calendar notes."""
    cal = WorkdayCalendar(holidays_path)
    n, day = 0, start
    while day < end:
        day += timedelta(days=1)
        n += cal.is_workday(day)
    return n, tuple(cal.notes[y] for y in sorted(cal.notes))
