"""HJ 633-2012 AQI tables as data (``hj633-2012.yaml``, status kept) and their loader.

The tables are breakpoints, not limits, so they live apart from ``limits/data`` (which holds one
standard's limit values per file) and are read by :func:`load_aqi_tables`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

AQI_FILE = Path(__file__).resolve().parent / "hj633-2012.yaml"


class AqiTableError(ValueError):
    """The AQI table file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Category:
    max_aqi: float
    level: str           # 一级 … 六级
    category: str        # 优 良 轻度污染 …
    colour: str          # 绿色 …
    rgb: str             # #00E400 …


@dataclass(frozen=True)
class AqiTables:
    standard: str
    status: str
    source: str
    iaqi: tuple[float, ...]
    #: (pollutant code, averaging "1h"/"8h"/"24h") → concentration breakpoints (len ≤ len(iaqi))
    breakpoints: dict[tuple[str, str], tuple[float, ...]]
    units: dict[str, str]
    names: dict[str, str]
    categories: tuple[Category, ...]


@cache
def load_aqi_tables(path: Path = AQI_FILE) -> AqiTables:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise AqiTableError(f"{path.name}: cannot read the AQI table file: {exc}") from None
    iaqi = tuple(float(x) for x in raw["iaqi"])
    bps: dict[tuple[str, str], tuple[float, ...]] = {}
    units: dict[str, str] = {}
    names: dict[str, str] = {}
    for code, entry in raw["breakpoints"].items():
        units[code], names[code] = str(entry["unit"]), str(entry["name"])
        for avg in ("1h", "8h", "24h"):
            if avg in entry:
                b = tuple(float(x) for x in entry[avg])
                if len(b) > len(iaqi) or any(y <= x for x, y in itertools.pairwise(b)):
                    raise AqiTableError(f"{path.name}: breakpoints.{code}.{avg}: must rise, ≤ {len(iaqi)} values")
                bps[(code, avg)] = b
    cats = tuple(Category(float(c["max"]), c["level"], c["category"], c["colour"], c["rgb"])
                 for c in raw["categories"])
    return AqiTables(str(raw["standard"]), str(raw["status"]), str(raw["source"]), iaqi, bps, units, names, cats)
