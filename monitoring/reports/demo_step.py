"""The demo's report step: the monthly reports of every month the simulated period touches, paths printed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.config import LOCAL_TZ, Settings
from monitoring.reports.period import ReportMonth


def months_touched(start: datetime, end: datetime) -> list[ReportMonth]:
    """Local calendar months overlapping [start, end)."""
    first = pd.Timestamp(start).tz_convert(LOCAL_TZ)
    last = (pd.Timestamp(end) - pd.Timedelta(seconds=1)).tz_convert(LOCAL_TZ)
    out, m = [], ReportMonth(first.year, first.month)
    while (m.year, m.month) <= (last.year, last.month):
        out.append(m)
        m = ReportMonth(m.year + (m.month == 12), m.month % 12 + 1)
    return out


def demo_reports(settings: Settings, start: datetime, end: datetime, console: Any) -> list[Path]:
    """Build (and publish) the reports of the simulated period; print where they are."""
    from monitoring.reports.build import build_monthly

    paths: list[Path] = []
    for month in months_touched(start, end):
        console.print(f"[bold]Reports[/] monthly reports {month.label} (5 clusters + county) …")
        result = build_monthly(settings, month.label, publish=True)   # in-process: the demo ran Airflow threads
        for r in result.results:
            pdf = r.directory / "report.pdf"
            console.print(f"  {r.scope.key:<10} v{r.version} {r.status:<11} {pdf}")
            paths += r.files
        console.print(f"  CSV/JSON beside each PDF; public versions under {settings.public_dir / 'reports'}; "
                      f"{result.timings['total']:.0f} s")
    return paths
