"""CSV and XLSX files that people open in a spreadsheet: formula injection neutralised.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula by
Excel, WPS and LibreOffice when the file is opened (CSV injection, OWASP): an enterprise named
``=cmd|' /C calc'!A0`` in a public roster must stay text. Every CSV and XLSX that envmon writes for
people goes through :func:`write_csv` / :func:`write_xlsx`, which prefix such text cells with ``'``
(shown by spreadsheets as the text itself). Numbers stay numbers: a numeric column, or a text cell
that is a plain number such as ``-1.5``, is not touched.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

__all__ = ["neutralise", "safe_frame", "write_csv", "write_xlsx"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: object) -> object:
    """``value`` safe to show in a spreadsheet cell (text that would start a formula gets a ``'``)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) cannot run as formulas."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(c) if isinstance(c, str) else c for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: Path, **kwargs) -> Path:
    """``frame.to_csv(path, index=False, **kwargs)`` with formulas neutralised."""
    kwargs.setdefault("index", False)
    safe_frame(frame).to_csv(path, **kwargs)
    return Path(path)


def write_xlsx(frame: pd.DataFrame, path: Path, *, sheet_name: str = "Sheet1", **kwargs) -> Path:
    """``frame.to_excel`` (openpyxl) with formulas neutralised: every text cell is stored as text."""
    kwargs.setdefault("index", False)
    safe_frame(frame).to_excel(path, sheet_name=sheet_name, engine="openpyxl", **kwargs)
    return Path(path)
