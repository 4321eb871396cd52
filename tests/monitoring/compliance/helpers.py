"""Small registries and reading builders for the compliance tests."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from monitoring.registry import Registry, parse_registry
from sensors.schema import conform

ZONE = {"id": "jiangkou", "name_zh": "江口", "pinyin": "Jiangkou", "town": "江口镇", "area_mu": 100,
        "elevation_m": [200, 300], "industries": ["wood"]}
ENT = {"code": "JK-001", "name": "测试企业", "zone": "jiangkou", "industry": "wood", "category": "key",
       "hw_class": "key"}


def online(pid: str, kind: str, params: list[str], **extra) -> dict:
    return {"id": pid, "kind": kind, "zone": "jiangkou", "enterprise": "JK-001", "name": pid,
            "mn": f"MN{pid}", "pw": "123456", "interval_s": 60, "parameters": params, **extra}


def make_registry(*points: dict, enterprises: Iterable[dict] = (ENT,)) -> Registry:
    return parse_registry({"zones": [ZONE], "enterprises": list(enterprises), "points": list(points)})


def minutes(point: str, kind: str, parameter: str, start: str, values: Iterable[float],
            flags: Iterable[str] | str = "N", period: str = "1min", statistic: str = "avg",
            unit: str = "mg/m3", qualifier=None, step: str = "1min") -> pd.DataFrame:
    """Readings at ``step`` intervals from ``start`` (local time unless it has an offset)."""
    vals = np.asarray(list(values), dtype=float)
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("Asia/Shanghai") if t0.tzinfo is None else t0
    times = pd.date_range(t0, periods=len(vals), freq=step).tz_convert("UTC")
    fl = [flags] * len(vals) if isinstance(flags, str) else list(flags)
    return conform(pd.DataFrame({
        "time": times, "zone": "jiangkou", "enterprise": "JK-001", "point": point, "kind": kind,
        "parameter": parameter, "statistic": statistic, "period": period, "value": vals, "unit": unit,
        "flag": fl, "qualifier": qualifier, "source": "sim", "batch": "t"}))
