"""Machine-readable outputs: points.csv, emissions.csv, exceedances.csv (UTF-8, English snake_case headers,
local times as ``YYYY-MM-DD HH:MM``) and summary.json. Files are written to a temporary name and renamed, so
a reader never sees half a file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.reports.figures import EMISSION_COLUMNS, EXCEEDANCE_COLUMNS

POINTS_COLUMNS = ["point", "enterprise", "kind", "parameter", "check", "window", "expected", "valid",
                  "capture_pct", "judged", "over", "max_value", "limit", "unit", "max_multiple", "limit_status",
                  "mean", "p95", "max_at", "max_multiple_at", "invalid", "no_data", "standard", "clause"]


def _replace(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
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
