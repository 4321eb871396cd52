"""The per-point model: base levels, limits and behaviour drawn once per point from its profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np

from limits.catalogue import load_catalogue
from sensors.simulator.seeding import _S_POINT, _rng, canonical_units

FLOW = "a00000"                        # flue-gas flow, m³/s
RATE_FACTOR = 3600.0 / 1e6             # mg/m³ × m³/s → kg/h


@lru_cache(maxsize=4096)
def _rate_limit(code: str, height_m: float, above_buildings: bool) -> float:
    """The stack's rate limit (kg/h) for ``code`` under the air standard (GB 16297-1996 §7 via
    :mod:`limits`), NaN when it has none."""
    try:
        return load_catalogue(None).stack_rate(code, height_m, above_buildings).rate_kg_h
    except KeyError:
        return float("nan")


# ------------------------------------------------------------------------------------------------------
# Per-point model
# ------------------------------------------------------------------------------------------------------
@dataclass
class _Param:
    code: str
    spec: dict
    unit: str
    base: float
    limit: float = np.nan            # nominal limit (episode target, clean cap)
    rate_limit: float = np.nan       # stacks: height-based emission rate limit, kg/h (clean cap on c × flow)
    limit_cold: float = np.nan
    extra: float = np.nan            # model-specific second draw (cold level, …)


@dataclass
class _PointModel:
    point: object
    params: list[_Param]
    calib_minute: int                # local minute of day of the daily calibration
    maint_weekday: int
    noise_day: float = np.nan
    noise_night: float = np.nan
    noise_limits: tuple[float, float] = (np.nan, np.nan)

    @property
    def id(self) -> str:
        return self.point.id


def _noise_limits(prof: dict, zone_class: int) -> tuple[float, float]:
    day, night = prof["noise"]["limits"][int(zone_class)]
    return float(day), float(night)


def _build_point(point, seed: int, prof: dict) -> _PointModel:
    rng = _rng(seed, point.id, 0, _S_POINT)
    units = canonical_units()
    table = prof["kinds"].get(point.kind, {})
    water_key = f"{getattr(point, 'standard', '')}|{getattr(point, 'grade', '')}"
    params: list[_Param] = []
    for code in point.parameters:
        spec = table.get(code, prof["default"])
        lo, hi = spec.get("base", [1.0, 1.0])
        p = _Param(code, spec, units.get(code, ""), float(rng.uniform(lo, hi)))
        if "limit" in spec:
            p.limit = float(spec["limit"])
        if point.kind in ("wastewater", "plant_effluent"):
            p.limit = float(prof["water_limits"].get(water_key, {}).get(code, np.nan))
            p.limit_cold = float(prof["water_limits_cold"].get(water_key, {}).get(code, p.limit))
        if spec.get("model") == "nh3n_effluent":
            p.extra = float(rng.uniform(*spec["cold"]))
        if point.kind == "stack" and FLOW in point.parameters:
            p.rate_limit = _rate_limit(code, float(point.height_m), bool(point.above_buildings))
        params.append(p)
    lo_h, hi_h = prof["events"]["calibration"]["local_hours"]
    m = _PointModel(point, params, calib_minute=int(rng.integers(lo_h * 60, hi_h * 60)),
                    maint_weekday=int(rng.integers(0, 5)))
    if point.kind == "noise":
        m.noise_limits = _noise_limits(prof, getattr(point, "zone_class", 2))
        m.noise_day = m.noise_limits[0] - float(rng.uniform(*prof["noise"]["day_below_limit"]))
        m.noise_night = m.noise_limits[1] - float(rng.uniform(*prof["noise"]["night_below_limit"]))
    return m


def _water_temperature_day(prof: dict, ordinal: int) -> float:
    """Seasonal daily water temperature, °C (cosine over the year)."""
    wt = prof["water_temperature"]
    doy = date.fromordinal(ordinal).timetuple().tm_yday
    return wt["mean"] + wt["amplitude"] * np.cos(2 * np.pi * (doy - wt["warmest_doy"]) / 365.0)
