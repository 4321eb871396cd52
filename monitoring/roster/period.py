"""Draw periods (抽查周期): calendar quarters in China Standard Time, written ``2026-Q4``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from monitoring.config import LOCAL_TZ

_PERIOD_RE = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)


class PeriodError(ValueError):
    """A period string that is not ``YYYY-Qn``."""


@dataclass(frozen=True, order=True)
class Period:
    """A calendar quarter (local time). Ordering is chronological."""

    year: int
    quarter: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD_RE.match(str(text).strip())
        if not m:
            raise PeriodError(f"period {text!r}: expected YYYY-Qn, e.g. 2026-Q4")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def containing(cls, when: date | datetime) -> Period:
        """The quarter that contains ``when`` (an aware datetime is converted to Asia/Shanghai first)."""
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise ValueError("Period.containing needs an aware datetime")
            when = when.astimezone(LOCAL_TZ).date()
        return cls(when.year, (when.month - 1) // 3 + 1)

    def __str__(self) -> str:
        return f"{self.year}-Q{self.quarter}"

    @property
    def start(self) -> date:
        return date(self.year, 3 * self.quarter - 2, 1)

    @property
    def end(self) -> date:
        """Last day of the quarter (inclusive)."""
        nxt = self.next()
        return date.fromordinal(nxt.start.toordinal() - 1)

    def previous(self) -> Period:
        return Period(self.year - 1, 4) if self.quarter == 1 else Period(self.year, self.quarter - 1)

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.quarter == 4 else Period(self.year, self.quarter + 1)

    @property
    def quarters_left_in_year(self) -> int:
        """This quarter and the ones after it in the same year (4 for Q1, 1 for Q4)."""
        return 5 - self.quarter
