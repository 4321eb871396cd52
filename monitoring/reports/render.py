"""HTML (Jinja2, ``monitoring/templates/report/``) and PDF (WeasyPrint, Noto Sans CJK) of a report context.

The CSS is inlined so the HTML file stands alone; charts are inline SVG (text kept as text), so the PDF's
Chinese is real, extractable text in Noto Sans CJK SC (Debian ``fonts-noto-cjk``).
"""

from __future__ import annotations

import logging
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


def write_pdf(html: str, path: Path, mode: int = 0o600) -> Path:
    """Lay out ``html`` with WeasyPrint and write the PDF atomically with permissions ``mode``."""
    import os

    from weasyprint import HTML

    from monitoring.reports.writers import open_new

    # fontTools logs every subsetting step at INFO/WARNING; keep the command's output readable
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(open_new(tmp, mode), "wb") as f:
        HTML(string=html, base_url=str(path.parent)).write_pdf(f)
    tmp.replace(path)
    return path
