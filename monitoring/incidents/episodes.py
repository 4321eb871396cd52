"""Hysteresis: the windows of one series → exceedance episodes (pure, no database).

Rules in :mod:`monitoring.incidents` ("Hysteresis").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from monitoring.incidents.times import _utc

#: Averagings whose one exceeding window is the whole evidence (a lab sample, a ledger event such as a
#: missing manifest): the incident opens at once, whatever ``min_duration``.
INSTANT_AVERAGING = frozenset({"single", "event"})


# ---------------------------------------------------------------------------------------------------
# hysteresis (pure)
# ---------------------------------------------------------------------------------------------------
@dataclass
class Episode:
    """A run of exceedances of one series, as derived from its windows."""

    start: datetime
    last_exceed_end: datetime
    exceed_seconds: float = 0.0
    window_count: int = 0
    confirmed_end: datetime | None = None
    cleared_end: datetime | None = None
    cut_end: datetime | None = None
    peak_value: float | None = None
    peak_ratio: float | None = None
    peak_at: datetime | None = None
    last_value: float | None = None
    limit: float | None = None
    limit_low: float | None = None
    unit: str | None = None
    averaging: str | None = None
    limit_status: str | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_end is not None

    @property
    def active(self) -> bool:
        return self.cleared_end is None and self.cut_end is None


def _f(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _s(x: Any) -> str | None:
    return None if x is None or pd.isna(x) else str(x)


def derive_episodes(windows: pd.DataFrame, *, min_duration: timedelta, clear_after: int,
                    cuts: Sequence[datetime] = ()) -> list[Episode]:
    """Run the hysteresis over one series' windows (any order; sorted here) from an idle state.

    ``windows`` has at least ``window_start``, ``window_end``, ``verdict``, ``value``, ``limit``,
    ``ratio``. ``cuts`` are data times at which a person closed the then-active incident: the
    episode in progress ends there and the series restarts idle. The loop is sequential by nature
    (each window's effect depends on the state left by the previous ones); it runs once per series
    over the windows after the last certainly-idle point, not over the whole frame.
    """
    w = windows.sort_values(["window_start", "window_end"], kind="stable")
    starts = [_utc(t) for t in w["window_start"]]
    ends = [_utc(t) for t in w["window_end"]]
    verdicts = w["verdict"].astype(str).to_numpy()
    values = w["value"].to_numpy(dtype=float, na_value=np.nan)
    limits = w["limit"].to_numpy(dtype=float, na_value=np.nan)
    ratios = w["ratio"].to_numpy(dtype=float, na_value=np.nan)
    lows = (w["limit_low"].to_numpy(dtype=float, na_value=np.nan) if "limit_low" in w
            else np.full(len(w), np.nan))
    meta = {c: (w[c].tolist() if c in w else [None] * len(w)) for c in ("unit", "averaging", "limit_status")}
    pending_cuts = sorted(_utc(c) for c in cuts)  # type: ignore[type-var]
    episodes: list[Episode] = []
    current: Episode | None = None
    covered_until: datetime | None = None      # union of exceeding spans (windows may overlap)
    compliant_run = 0
    need = min_duration.total_seconds()
    for i in range(len(w)):
        while pending_cuts and ends[i] > pending_cuts[0]:          # a person closed it: restart idle
            if current is not None:
                current.cut_end = pending_cuts[0]
                if current.confirmed:
                    episodes.append(current)
                current, compliant_run = None, 0
            pending_cuts.pop(0)
        verdict = verdicts[i]
        if verdict == "exceeds":
            if current is None:
                current = Episode(start=starts[i], last_exceed_end=ends[i])
                covered_until = starts[i]
            current.exceed_seconds += max(0.0, (ends[i] - max(starts[i], covered_until)).total_seconds())
            covered_until = max(covered_until, ends[i])
            current.window_count += 1
            current.last_exceed_end = ends[i]
            current.last_value = _f(values[i])
            r = _f(ratios[i])
            if r is None and _f(values[i]) is not None and _f(limits[i]):
                r = values[i] / limits[i]
            if current.peak_ratio is None or (r is not None and r > current.peak_ratio):
                current.peak_ratio, current.peak_value, current.peak_at = r, _f(values[i]), starts[i]
                current.limit, current.limit_low = _f(limits[i]), _f(lows[i])
                current.unit, current.averaging, current.limit_status = (
                    _s(meta["unit"][i]), _s(meta["averaging"][i]), _s(meta["limit_status"][i]))
            compliant_run = 0
            instant = _s(meta["averaging"][i]) in INSTANT_AVERAGING
            if current.confirmed_end is None and (instant or current.exceed_seconds >= need):
                current.confirmed_end = ends[i]
        elif verdict == "compliant" and current is not None:
            compliant_run += 1
            if compliant_run >= clear_after:
                if current.confirmed:
                    current.cleared_end = ends[i]
                    episodes.append(current)
                current, compliant_run = None, 0
        # invalid / no_data: a gap, neither opens nor clears nor breaks a compliant run
    if current is not None and current.confirmed:
        episodes.append(current)
    return episodes
