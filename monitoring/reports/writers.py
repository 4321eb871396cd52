"""Machine-readable outputs: points.csv, emissions.csv, exceedances.csv (UTF-8, English snake_case headers,
local times as ``YYYY-MM-DD HH:MM``) and summary.json. Files are written to a temporary name and renamed, so
a reader never sees half a file.

Permissions: the internal report tree (``$ENVMON_DATA_DIR/reports``) is private to the service user like
every data file — directories 0700 (:func:`report_dir`), files 0600 (:data:`PRIVATE`); the public copies
(``$ENVMON_DATA_DIR/public/reports``) are 0755 / 0644 (:data:`PUBLIC`), whatever the process umask.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.reports.figures import EMISSION_COLUMNS, EXCEEDANCE_COLUMNS

POINTS_COLUMNS = ["point", "enterprise", "kind", "parameter", "check", "window", "expected", "valid",
                  "capture_pct", "judged", "over", "max_value", "limit", "unit", "max_multiple", "limit_status",
                  "mean", "p95", "max_at", "max_multiple_at", "invalid", "no_data", "standard", "clause"]


#: File mode of internal report files (service user only) and of the public copies.
PRIVATE, PUBLIC = 0o600, 0o644


def report_dir(root: Path, directory: Path, mode: int = PRIVATE) -> Path:
    """Create ``directory`` under ``root`` (both included) with every level 0700 (``mode`` PRIVATE) or 0755.

    ``Path.mkdir(parents=True)`` gives missing parents the umask's mode; each level is set here instead.
    """
    dir_mode = 0o700 if mode == PRIVATE else 0o755
    root, directory = Path(root), Path(directory)
    levels = [root, *[root.joinpath(*directory.relative_to(root).parts[:i + 1])
                      for i in range(len(directory.relative_to(root).parts))]]
    for d in levels:
        d.mkdir(exist_ok=True, mode=dir_mode)
        if d.stat().st_mode & 0o777 != dir_mode:
            os.chmod(d, dir_mode)
    return directory


def open_new(path: Path, mode: int = PRIVATE) -> int:
    """A file descriptor of ``path`` truncated, with permissions ``mode`` (also when it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    return fd


def _replace(path: Path, text: str, mode: int = PRIVATE) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(open_new(tmp, mode), "w", encoding="utf-8") as f:
        f.write(text)
    tmp.replace(path)
    return path


def write_csv(frame: pd.DataFrame, columns: list[str], path: Path) -> Path:
    out = frame.reindex(columns=columns)
    return _replace(path, out.to_csv(index=False, float_format="%.10g", lineterminator="\n"))


def write_points(frame: pd.DataFrame, path: Path) -> Path:
    return write_csv(frame, POINTS_COLUMNS, path)


def write_emissions(frame: pd.DataFrame, path: Path) -> Path:
    return write_csv(frame, EMISSION_COLUMNS, path)


def write_exceedances(frame: pd.DataFrame, path: Path) -> Path:
    return write_csv(frame, EXCEEDANCE_COLUMNS, path)


def jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else round(float(v), 6)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def write_summary(summary: dict[str, Any], path: Path) -> Path:
    return _replace(path, json.dumps(jsonable(summary), ensure_ascii=False, indent=2))
