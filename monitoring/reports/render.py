"""HTML (Jinja2, ``monitoring/templates/report/``) and PDF (WeasyPrint, Noto Sans CJK) of a report context.

The CSS is inlined so the HTML file stands alone; charts are inline SVG (text kept as text), so the PDF's
Chinese is real, extractable text in Noto Sans CJK SC (Debian ``fonts-noto-cjk``).
"""

from __future__ import annotations

import gc
import logging
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "report"


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                       undefined=StrictUndefined, trim_blocks=False, lstrip_blocks=False)


def render_html(context: dict[str, Any]) -> str:
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return _env().get_template("report.html.j2").render(r=context, css=css)


#: Allocations between two young-generation collections while WeasyPrint lays out a report (Python's default:
#: 700). Its boxes point at their parents, so a 28-page report makes ~400k objects in reference cycles, and
#: at the default the collector ran ~10 full passes per report: a jiangkou report took 8.3–10.7 s CPU at the
#: default, 6.9–8.6 s at 100,000 (4 renders each in one process, twice; the generations are still collected).
PDF_GC_THRESHOLD0 = 100_000


_GC_LOCK = threading.Lock()
_GC_USERS: list[tuple[int, ...]] = []   # the threshold before the first of the nested/concurrent users


@contextmanager
def fewer_collections():
    """Collect the young generation every :data:`PDF_GC_THRESHOLD0` allocations instead of every 700 while
    a report is computed and laid out (matplotlib's artists and WeasyPrint's boxes are short-lived cycles).
    Nested and concurrent uses (the console builds reports in a thread) share it: the last one out restores
    the threshold the first one found."""
    with _GC_LOCK:
        before = _GC_USERS[0] if _GC_USERS else gc.get_threshold()
        if not _GC_USERS:
            gc.set_threshold(max(before[0], PDF_GC_THRESHOLD0), *before[1:])
        _GC_USERS.append(before)
    try:
        yield
    finally:
        with _GC_LOCK:
            first = _GC_USERS.pop()
            if not _GC_USERS:
                gc.set_threshold(*first)


def write_pdf(html: str, path: Path, mode: int = 0o600) -> Path:
    """Lay out ``html`` with WeasyPrint and write the PDF atomically with permissions ``mode``."""
    import os

    from weasyprint import HTML

    from monitoring.reports.writers import open_new

    # fontTools logs every subsetting step at INFO/WARNING; keep the command's output readable
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(open_new(tmp, mode), "wb") as f, fewer_collections():
        HTML(string=html, base_url=str(path.parent)).write_pdf(f)
    tmp.replace(path)
    return path
