"""The report month: local calendar month, its UTC bounds, and the data-review deadline.

A monthly report covers one Asia/Shanghai calendar month ``[YYYY-MM-01 00:00, next month 01 00:00)`` local
time. It is *preliminary* until the bureau's data-review deadline — day ``review_day`` of the next month,
00:00 local (``ENVMON_REPORT_REVIEW_DAY``, default the 10th) — and *final* from then on.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd

from monitoring.config import LOCAL_TZ

#: A report month as written in commands and folder names: ``YYYY-MM``.
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

STATUS_ZH = {"preliminary": "初步", "final": "正式"}


@dataclass(frozen=True)
class ReportMonth:
    year: int
    month: int
    review_day: int = 10

    @classmethod
    def parse(cls, text: str, review_day: int = 10) -> ReportMonth:
        """``2026-11`` → the month; anything else raises :class:`ValueError` naming the text."""
        m = MONTH.match(text.strip())
        if not m:
            raise ValueError(f"month {text!r}: expected YYYY-MM, e.g. 2026-11")
        return cls(int(m.group(1)), int(m.group(2)), review_day)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label_zh(self) -> str:
        return f"{self.year}年{self.month}月"

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def next_first_day(self) -> dt.date:
        return dt.date(self.year + (self.month == 12), self.month % 12 + 1, 1)

    @property
    def days(self) -> list[dt.date]:
        n = (self.next_first_day - self.first_day).days
        return [self.first_day + dt.timedelta(days=i) for i in range(n)]

    @property
    def start(self) -> pd.Timestamp:
        """First instant, UTC (local midnight of the 1st)."""
        return pd.Timestamp(self.first_day).tz_localize(LOCAL_TZ).tz_convert("UTC")

    @property
    def end(self) -> pd.Timestamp:
        """End (exclusive), UTC."""
        return pd.Timestamp(self.next_first_day).tz_localize(LOCAL_TZ).tz_convert("UTC")

    @property
    def review_deadline(self) -> pd.Timestamp:
        """The data-review deadline (local midnight starting day ``review_day`` of the next month), UTC."""
        d = self.next_first_day.replace(day=self.review_day)
        return pd.Timestamp(d).tz_localize(LOCAL_TZ).tz_convert("UTC")

    def status(self, now: dt.datetime | pd.Timestamp) -> str:
        """``preliminary`` before the review deadline, ``final`` from it on."""
        return "final" if pd.Timestamp(now).tz_convert("UTC") >= self.review_deadline else "preliminary"

    def previous(self, n: int = 1) -> ReportMonth:
        index = self.year * 12 + self.month - 1 - n
        return ReportMonth(index // 12, index % 12 + 1, self.review_day)

    def contains(self, when: dt.datetime | pd.Timestamp | None) -> bool:
        if when is None or pd.isna(when):
            return False
        t = pd.Timestamp(when)
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        return self.start <= t < self.end
