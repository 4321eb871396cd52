"""Console charts: :mod:`monitoring.charts` (matplotlib SVG, the same as the monthly reports) served as
``image/svg+xml``. pyplot keeps global state, so drawing is serialised with a lock (the routes run in
a thread pool); a drawn chart is kept (:func:`cached`, LRU of :data:`CACHE_SIZE`) under a key that
changes when its data does (an incident's ``updated_at``, a point's 5-minute time bucket), and on disk
(``$ENVMON_DATA_DIR/cache/charts/``, shared by the server's worker processes and kept across restarts;
at most :data:`DISK_FILES` files, the oldest removed first): drawing costs ~100 ms of CPU, reading ~1 ms.

Under ``envmon serve`` (:func:`start_pool`) a chart is drawn in a separate process at a lower CPU
priority (``nice`` + :data:`NICE`): drawing is pure Python holding the interpreter lock for ~100 ms, which
stalled every page request of the same worker; in its own process it no longer blocks them, and when the
machine is busy pages go first and charts fill in. Tests draw in-process."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pandas as pd
from fastapi.responses import Response

from monitoring import charts
from monitoring.config import LOCAL_TZ

_LOCK = threading.Lock()
CACHE_SIZE = 256
DISK_FILES = 4000
NICE = 5
_pool: ProcessPoolExecutor | None = None
_CACHE: OrderedDict[tuple, str] = OrderedDict()


def _disk_path(directory: Path, key: tuple) -> Path:
    return directory / (hashlib.sha256(repr(key).encode()).hexdigest()[:40] + ".svg")


def _disk_read(directory: Path | None, key: tuple) -> str | None:
    if directory is None:
        return None
    try:
        return _disk_path(directory, key).read_text(encoding="utf-8")
    except OSError:
        return None


def _disk_write(directory: Path | None, key: tuple, svg: str) -> None:
    if directory is None:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = _disk_path(directory, key)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(svg, encoding="utf-8")
        tmp.replace(path)
        files = list(directory.glob("*.svg"))
        if len(files) > DISK_FILES:
            files.sort(key=lambda p: p.stat().st_mtime)
            for old in files[: len(files) - DISK_FILES // 2]:
                old.unlink(missing_ok=True)
    except OSError:
        pass                         # a cache: the chart was drawn and is served anyway


def is_cached(key: tuple, directory: Path | None = None) -> bool:
    with _LOCK:
        if key in _CACHE:
            return True
    return directory is not None and _disk_path(directory, key).exists()


def cached(key: tuple, draw: Callable[[], str], directory: Path | None = None) -> str:
    """The SVG for ``key``: from memory, else from ``directory`` (shared by the worker processes), else
    drawn by ``draw()`` once (the least recently used entries are dropped)."""
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    svg = _disk_read(directory, key)
    if svg is None:
        svg = draw()
        _disk_write(directory, key, svg)
    with _LOCK:
        _CACHE[key] = svg
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return svg


def _exit_with_parent(parent: int) -> None:
    """The chart process ends when the server process is gone (also after a kill -9 of the server)."""
    import time

    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _pool_init() -> None:
    import gc

    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    os.nice(NICE)
    import monitoring.charts  # noqa: F401  (matplotlib loaded once, before the first chart)
    gc.collect()
    gc.freeze()


def start_pool() -> None:
    """Draw charts in one child process (spawned: no copy of the server's threads) at ``nice`` +5."""
    global _pool
    if _pool is None:
        import multiprocessing

        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_pool_init)
        _pool.submit(os.getpid).result()           # start it now, not on a user's first chart


def stop_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None


def _draw_windows(df: pd.DataFrame, title: str, unit: str) -> str:
    with _LOCK:
        if df.empty or df["value"].notna().sum() == 0:
            return charts.empty_chart(f"{title}：无数据")
        times = df["window_start"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
        limits = df["limit"].dropna()
        return charts.time_series(times, {"评价值": df["value"].astype(float)},
                                  limit=float(limits.iloc[-1]) if len(limits) else None, unit=unit, title=title)


def windows_chart(df: pd.DataFrame, *, title: str, unit: str) -> str:
    """Assessment-window values over local time with the limit line (the last limit in the frame)."""
    pool = _pool
    if pool is not None:
        try:
            return pool.submit(_draw_windows, df, title, unit).result()
        except BrokenProcessPool:
            logging.getLogger("envmon.console").warning("chart process died; drawing in the server process")
    return _draw_windows(df, title, unit)


def svg_response(svg: str) -> Response:
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})
