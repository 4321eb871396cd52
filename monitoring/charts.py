"""Charts as SVG strings (matplotlib, Agg backend): one module for the monthly reports and the web console.

Every function takes plain arrays/frames and returns an ``<svg …>`` string ready to embed inline in HTML
(the console) or in the report HTML that WeasyPrint turns into PDF. Text stays text in the SVG
(``svg.fonttype = none``) so Chinese labels are extractable from the PDF and rendered with the page's
font (Noto Sans CJK); output is deterministic (fixed hash salt, no date metadata), so the same data gives
byte-identical SVG — reports hash their inputs, not their charts, but identical output keeps diffs quiet.

Colours follow one status scheme everywhere (:data:`STATUS_COLOURS`): compliant green, exceeded red,
no data grey, invalid/flagged amber — the ECHO "three-year compliance history" idiom.

Functions
---------
:func:`daily_band`        daily means (and daily max) of one point × parameter against the limit band
:func:`capture_heatmap`   day × hour matrix coloured by data flag (valid, flagged, silent)
:func:`cumulative_mass`   cumulative emitted mass per pollutant over the month, kg
:func:`status_strip`      one row per enterprise, one cell per month: compliant / exceeded / no data
:func:`daily_levels`      daily values of several series on a day-of-month axis against limit lines
:func:`time_series`       a simple line chart of one or more series against an optional limit
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.dates
import matplotlib.ticker

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

#: Fonts tried in order: Noto Sans CJK (Debian fonts-noto-cjk) carries the Chinese glyphs.
FONT_FAMILY = ["Noto Sans CJK SC", "Noto Sans CJK JP", "DejaVu Sans"]

STATUS_COLOURS: dict[str, str] = {
    "compliant": "#2e7d32",   # 达标
    "exceeds": "#c62828",     # 超标
    "invalid": "#f9a825",     # 无效 / 标记数据
    "no_data": "#bdbdbd",     # 无数据
}
STATUS_ZH: dict[str, str] = {"compliant": "达标", "exceeds": "超标", "invalid": "数据无效", "no_data": "无数据"}

#: Capture heatmap classes: index → (label, colour). 0 silent, 1 valid (N), 2 flagged (any non-N flag).
CAPTURE_CLASSES: list[tuple[str, str]] = [("缺失", "#eeeeee"), ("有效(N)", "#2e7d32"), ("标记(非N)", "#f9a825"),
                                          ("部分缺失", "#a5d6a7")]

_RC = {
    "font.family": "sans-serif",
    "font.sans-serif": FONT_FAMILY,
    "font.size": 8,
    "axes.unicode_minus": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "envmon",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _figure(width_in: float, height_in: float, *, left: float = 0.55, right: float = 0.15, bottom: float = 0.35,
            top: float = 0.3) -> tuple[Any, Any]:
    """A figure with fixed margins in inches (no tight bounding box: it draws everything twice)."""
    fig, ax = plt.subplots(figsize=(width_in, height_in))
    # few ticks: every tick label is a text node WeasyPrint lays out with Pango when it draws the SVG
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    fig.subplots_adjust(left=left / width_in, right=1 - right / width_in, bottom=bottom / height_in,
                        top=1 - top / height_in)
    return fig, ax


def _day_axis(ax: Any, days: Sequence[Any]) -> np.ndarray:
    """x positions 0..n-1 for local days, labelled with the day of month (date locators are slow)."""
    labels = [pd.Timestamp(d).day for d in days]
    n = len(labels)
    step = 1 if n <= 10 else 7
    ticks = [i for i, d in enumerate(labels) if d == 1 or d % step == 0]
    ax.set_xticks(ticks, [str(labels[i]) for i in ticks])
    ax.set_xlim(-0.5, n - 0.5)
    return np.arange(n)


def _end_labels(ax: Any, x_end: float, items: list[tuple[str, float, str]], span: float, gap: float = 0.08) -> None:
    """Label lines at their right end, pushed apart so that no two labels overlap (``gap`` × ``span`` apart)."""
    placed: list[float] = []
    for label, y, colour in sorted(items, key=lambda t: t[1]):
        y = max(y, placed[-1] + gap * span) if placed else y
        placed.append(y)
        ax.text(x_end, y, label, fontsize=6.5, color=colour, va="center", clip_on=False)


def empty_chart(message: str = "无数据", width_in: float = 6.0, height_in: float = 1.2) -> str:
    """A placeholder chart that says why nothing is drawn (never an empty string)."""
    with plt.rc_context(_RC):
        fig, ax = _figure(width_in, height_in)
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center", color="#757575", fontsize=10)
        return _svg(fig)


def daily_band(days: Sequence[Any], means: Sequence[float], *, limit: float | None = None,
               limit_low: float | None = None, maxima: Sequence[float] | None = None, unit: str = "",
               title: str = "", limit_label: str = "限值", legend: bool = True, width_in: float = 6.4,
               height_in: float = 2.2) -> str:
    """Daily means (line, days over the limit in red) against the limit (band above it shaded).

    ``days``: local dates; ``means``/``maxima``: same length, NaN for a day without valid data (drawn as a
    gap, never as zero). ``limit_low`` draws a lower bound too (pH 6–9).
    """
    y = np.asarray(means, dtype="float64")
    if len(days) == 0 or not np.isfinite(y).any():
        return empty_chart(f"{title} 无数据" if title else "无数据", width_in, 1.0)
    with plt.rc_context(_RC):
        fig, ax = _figure(width_in, height_in)
        x = _day_axis(ax, days)
        if maxima is not None:
            ax.plot(x, np.asarray(maxima, dtype="float64"), color="#90a4ae", lw=0.8, ls="--", label="日最大")
        ax.plot(x, y, color="#1565c0", lw=1.2, marker="o", ms=2.5, label="日均值")
        finite = y[np.isfinite(y)]
        top = max(float(finite.max()), limit or 0.0) * 1.15 or 1.0
        if limit is not None and np.isfinite(limit):
            ax.axhline(limit, color=STATUS_COLOURS["exceeds"], lw=1.0, label=f"{limit_label} {limit:g}")
            ax.axhspan(limit, top, color=STATUS_COLOURS["exceeds"], alpha=0.06)
            over = np.isfinite(y) & (y > limit)
            if over.any():
                ax.plot(x[over], y[over], ls="none", marker="o", ms=4, color=STATUS_COLOURS["exceeds"],
                        label="超标日")
        if limit_low is not None and np.isfinite(limit_low):
            ax.axhline(limit_low, color=STATUS_COLOURS["exceeds"], lw=1.0, ls=":")
        ax.set_ylim(bottom=min(0.0, float(np.nanmin(y))), top=top)
        ax.set_ylabel(unit)
        if title:
            ax.set_title(title, loc="left", fontsize=9)
        if legend:
            ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=4)
        return _svg(fig)


def _finite_series(series: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """``series`` as float arrays, without the series that have no finite value (nothing to draw)."""
    arrays = {k: np.asarray(v, dtype="float64") for k, v in series.items()}
    return {k: v for k, v in arrays.items() if np.isfinite(v).any()}


def daily_ratio(days: Sequence[Any], series: Mapping[str, Sequence[float]], *, title: str = "",
                width_in: float = 6.4, height_in: float = 1.9) -> str:
    """Several pollutants of one point on one axis: daily value as % of its limit, against the 100 % line.

    ``series``: label → daily (value / limit × 100), NaN for days without a valid value. Each line is labelled
    at its highest day; days above 100 % are marked red. The band above 100 % is shaded.
    """
    arrays = _finite_series(series)
    if len(days) == 0 or not arrays:
        return empty_chart(f"{title} 无数据" if title else "无数据", width_in, 1.0)
    with plt.rc_context(_RC):
        top_in = 0.3 if title else 0.12        # without a title (the page captions it) the plot takes the room
        fig, ax = _figure(width_in, height_in, right=0.9, top=top_in)
        x = _day_axis(ax, days)
        top = max(120.0, max(float(np.nanmax(v)) for v in arrays.values()) * 1.12)
        ax.axhspan(100.0, top, color=STATUS_COLOURS["exceeds"], alpha=0.06)
        ax.axhline(100.0, color=STATUS_COLOURS["exceeds"], lw=1.0)
        ends = []
        for label, v in arrays.items():
            (line,) = ax.plot(x, v, lw=1.1)
            over = np.isfinite(v) & (v > 100.0)
            if over.any():
                ax.plot(x[over], v[over], ls="none", marker="o", ms=4, color=STATUS_COLOURS["exceeds"])
            ends.append((label, float(v[np.isfinite(v)][-1]), line.get_color()))
        # end labels one text line apart (6.5 pt × 1.2) on the axes' height, whatever the chart's size
        _end_labels(ax, len(x) - 0.3, ends, top, gap=6.5 * 1.2 / 72 / (height_in - 0.35 - top_in))
        ax.set_ylim(0, top)
        ax.set_ylabel("占限值 %")
        if title:
            ax.set_title(title, loc="left", fontsize=8.5)
        return _svg(fig)


def daily_levels(days: Sequence[Any], series: Mapping[str, Sequence[float]], *, limits: Mapping[str, float] | None = None,
                 unit: str = "", title: str = "", width_in: float = 6.4, height_in: float = 2.0) -> str:
    """Daily values of several series on one day-of-month axis (each day labelled once, never repeated),
    with horizontal limit lines (``limits``: label → value), e.g. noise Ld/Ln per day against 60/50 dB(A).

    ``series``: label → one value per local day, NaN for a day without a valid value (a gap in the line).
    """
    arrays = _finite_series(series)
    if len(days) == 0 or not arrays:
        return empty_chart(f"{title} 无数据" if title else "无数据", width_in, 1.0)
    with plt.rc_context(_RC):
        fig, ax = _figure(width_in, height_in, right=0.9)
        x = _day_axis(ax, days)
        ends = []
        for label, v in arrays.items():
            (line,) = ax.plot(x, v, lw=1.0)
            ends.append((label, float(v[np.flatnonzero(np.isfinite(v))[-1]]), line.get_color()))
        finite = np.concatenate([v[np.isfinite(v)] for v in arrays.values()])
        _end_labels(ax, len(x) - 0.3, ends, float(np.ptp(finite)) or 1.0)
        for label, value in (limits or {}).items():
            if value is not None and np.isfinite(value):
                ax.axhline(value, color=STATUS_COLOURS["exceeds"], lw=0.9, ls="--")
                ax.annotate(f"{label} {value:g}", (-0.4, value), xytext=(0, 2), textcoords="offset points",
                            fontsize=6, color=STATUS_COLOURS["exceeds"], va="bottom")
        ax.set_ylabel(unit)
        ax.set_xlabel("日", fontsize=7, labelpad=1)
        ax.grid(axis="y", color="#eeeeee")
        if title:
            ax.set_title(title, loc="left", fontsize=8.5)
        return _svg(fig)


def capture_heatmap(matrix: np.ndarray, days: Sequence[Any], *, title: str = "", legend: bool = True,
                    width_in: float = 6.4, height_in: float = 1.6) -> str:
    """Day × hour grid (rows: local days, columns: hours 0–23) of :data:`CAPTURE_CLASSES` indices.

    ``matrix``: integer array shape (len(days), 24); -1 or NaN is drawn as silent.
    """
    m = np.asarray(matrix, dtype="float64")
    if m.size == 0:
        return empty_chart(f"{title} 无数据" if title else "无数据", width_in, 1.0)
    m = np.where(np.isfinite(m) & (m >= 0), m, 0)
    with plt.rc_context(_RC):
        fig, ax = _figure(width_in, height_in, right=1.0 if legend else 0.15)
        cmap = ListedColormap([c for _, c in CAPTURE_CLASSES])
        norm = BoundaryNorm(np.arange(-0.5, len(CAPTURE_CLASSES)), cmap.N)
        ax.imshow(m.T, aspect="auto", cmap=cmap, norm=norm, interpolation="nearest", origin="lower")
        _day_axis(ax, days)
        ax.set_yticks([0, 6, 12, 18, 23], ["0时", "6时", "12时", "18时", "23时"])
        if title:
            ax.set_title(title, loc="left", fontsize=8.5)
        if legend:
            ax.legend(handles=[Patch(color=c, label=lab) for lab, c in CAPTURE_CLASSES], loc="upper left",
                      bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
        return _svg(fig)


def cumulative_mass(days: Sequence[Any], series: Mapping[str, Sequence[float]], *, unit: str = "kg",
                    permitted: Mapping[str, float] | None = None, title: str = "",
                    width_in: float = 6.4, height_in: float = 2.2) -> str:
    """Cumulative mass per pollutant (``series``: label → daily masses, summed here) over the month.

    ``permitted``: label → the month's permitted amount, drawn as a dashed line of the same colour.
    """
    if len(days) == 0 or not series:
        return empty_chart(f"{title} 无数据" if title else "无数据", width_in, 1.0)
    with plt.rc_context(_RC):
        fig, ax = _figure(width_in, height_in)
        x = _day_axis(ax, days)
        for label, daily in series.items():
            c = np.nancumsum(np.asarray(daily, dtype="float64"))
            (line,) = ax.plot(x, c, lw=1.2, label=label)
            if permitted and label in permitted and permitted[label] is not None:
                ax.axhline(permitted[label], color=line.get_color(), ls="--", lw=0.8)
        ax.set_ylabel(unit)
        if title:
            ax.set_title(title, loc="left", fontsize=9)
        ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=3)
        return _svg(fig)


def status_strip(statuses: pd.DataFrame, *, title: str = "", legend: bool = True, width_in: float = 6.4) -> str:
    """ECHO-style compliance history: rows = enterprises (index labels), columns = months (column labels),
    cells = a key of :data:`STATUS_COLOURS` (compliant / exceeds / invalid / no_data)."""
    if statuses.empty:
        return empty_chart(f"{title} 无数据" if title else "无数据", width_in, 1.0)
    keys = list(STATUS_COLOURS)
    codes = statuses.apply(lambda col: col.map(lambda v: keys.index(v) if v in keys else keys.index("no_data")))
    m = codes.to_numpy(dtype="float64")
    n_rows, n_cols = m.shape
    with plt.rc_context(_RC):
        fig, ax = _figure(width_in, 0.2 * n_rows + 0.8, left=1.9, bottom=0.45 if legend else 0.3)
        cmap = ListedColormap([STATUS_COLOURS[k] for k in keys])
        norm = BoundaryNorm(np.arange(-0.5, len(keys)), cmap.N)
        ax.imshow(m, aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
        ax.set_xticks(range(n_cols), [str(c) for c in statuses.columns], rotation=0, fontsize=7)
        ax.set_yticks(range(n_rows), [str(i) for i in statuses.index], fontsize=7)
        ax.set_xticks(np.arange(-0.5, n_cols), minor=True)
        ax.set_yticks(np.arange(-0.5, n_rows), minor=True)
        ax.grid(which="minor", color="white", lw=1.5)
        ax.tick_params(which="minor", length=0)
        for s in ax.spines.values():
            s.set_visible(False)
        if title:
            ax.set_title(title, loc="left", fontsize=9)
        if legend:
            fig.legend(handles=[Patch(color=STATUS_COLOURS[k], label=STATUS_ZH[k]) for k in keys],
                       loc="lower left", ncol=4, fontsize=7, frameon=False)
        return _svg(fig)


def time_series(times: Sequence[Any], series: Mapping[str, Sequence[float]], *, limit: float | None = None,
                unit: str = "", title: str = "", width_in: float = 6.4, height_in: float = 2.2,
                time_format: str = "%m-%d %H:%M") -> str:
    """Lines of one or more series over time (local times expected) with an optional limit line."""
    x = pd.to_datetime(pd.Series(list(times)))
    if len(x) == 0 or not series:
        return empty_chart(f"{title} 无数据" if title else "无数据", width_in, 1.0)
    with plt.rc_context(_RC):
        bottom_in = 0.75                      # room for the rotated date labels
        fig, ax = _figure(width_in, height_in, bottom=bottom_in)
        for label, ys in series.items():
            ax.plot(x, np.asarray(ys, dtype="float64"), lw=1.0, label=label)
        if limit is not None and np.isfinite(limit):
            ax.axhline(limit, color=STATUS_COLOURS["exceeds"], lw=1.0, label=f"限值 {limit:g}")
        ax.set_ylabel(unit)
        if title:
            ax.set_title(title, loc="left", fontsize=9)
        ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter(time_format))
        fig.autofmt_xdate(bottom=bottom_in / height_in)
        ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=4)
        ax.grid(axis="y", color="#eeeeee")
        return _svg(fig)
