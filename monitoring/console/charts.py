"""Console charts: :mod:`monitoring.charts` (matplotlib SVG, the same as the monthly reports) served as
``image/svg+xml``. pyplot keeps global state, so drawing is serialised with a lock (the routes run in
a thread pool); a drawn chart is kept (:func:`cached`, LRU of :data:`CACHE_SIZE`) under a key that
changes when its data does (an incident's ``updated_at``, a point's 5-minute time bucket)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import pandas as pd
from fastapi.responses import Response

from monitoring import charts
from monitoring.config import LOCAL_TZ

_LOCK = threading.Lock()
CACHE_SIZE = 256
_CACHE: OrderedDict[tuple, str] = OrderedDict()


def cached(key: tuple, draw: Callable[[], str]) -> str:
    """The SVG for ``key``, drawn by ``draw()`` once (the least recently used entries are dropped)."""
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    svg = draw()
    with _LOCK:
        _CACHE[key] = svg
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return svg


def windows_chart(df: pd.DataFrame, *, title: str, unit: str) -> str:
    """Assessment-window values over local time with the limit line (the last limit in the frame)."""
    with _LOCK:
        if df.empty or df["value"].notna().sum() == 0:
            return charts.empty_chart(f"{title}：无数据")
        times = df["window_start"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
        limits = df["limit"].dropna()
        return charts.time_series(times, {"评价值": df["value"].astype(float)},
                                  limit=float(limits.iloc[-1]) if len(limits) else None, unit=unit, title=title)


def svg_response(svg: str) -> Response:
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})
