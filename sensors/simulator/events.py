"""Event planning (the ground truth of what the simulator injects): exceedance episodes, outages,
maintenance and calibration windows per point and local day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from sensors.simulator.model import _PointModel, _water_temperature_day
from sensors.simulator.seeding import (
    _S_AMBIENT,
    _S_PLAN,
    NS_DAY,
    NS_HOUR,
    NS_MIN,
    _day_start_ns,
    _rng,
    day_level,
)


# ------------------------------------------------------------------------------------------------------
# Event planning (ground truth)
# ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Event:
    kind: str                 # episode | rise | C | M | D | outage
    start: int                # UTC ns
    end: int                  # UTC ns, exclusive
    param: str | None = None  # None: all parameters of the point
    level: float = np.nan     # episode: expected value; C/M/D: the value written (NaN: unchanged)
    limit: float = np.nan
    factor: float = np.nan
    unit: str = ""


def _plan_day(m: _PointModel, seed: int, ordinal: int, prof: dict) -> list[_Event]:
    """Events starting on one local day of one point (before conflict resolution)."""
    rng = _rng(seed, m.id, ordinal, _S_PLAN)
    ev = prof["events"]
    day0 = _day_start_ns(ordinal)
    out: list[_Event] = []
    level = day_level(date.fromordinal(ordinal), prof["calendar"]["saturday_level"],
                      prof["calendar"]["holiday_level"])
    # -- calibration, daily ----------------------------------------------------------------------------
    dur = int(rng.integers(ev["calibration"]["minutes"][0], ev["calibration"]["minutes"][1] + 1))
    start = day0 + m.calib_minute * NS_MIN
    out.append(_Event("C", start, start + dur * NS_MIN))
    # -- maintenance, weekly on the point's weekday ----------------------------------------------------------
    lo_h, hi_h = ev["maintenance"]["local_hours"]
    mstart = day0 + int(rng.integers(lo_h * 60, hi_h * 60)) * NS_MIN
    mhigh = bool(rng.random() < 0.5)
    if date.fromordinal(ordinal).weekday() == m.maint_weekday:
        out.append(_Event("M", mstart, mstart + ev["maintenance"]["minutes"] * NS_MIN,
                          level=3.0 if mhigh else 0.0))
    # -- instrument fault --------------------------------------------------------------------------------
    p_fault, fparam, fhigh = rng.random(), int(rng.integers(len(m.params))), rng.random() < 0.5
    fstart = day0 + int(rng.integers(0, 24 * 60)) * NS_MIN
    fdur = int(rng.integers(ev["fault"]["minutes"][0], ev["fault"]["minutes"][1] + 1))
    if p_fault < ev["fault"]["per_month"] / 30.0:
        out.append(_Event("D", fstart, fstart + fdur * NS_MIN, param=m.params[fparam].code,
                          level=4.0 if fhigh else 0.0))
    # -- outage ------------------------------------------------------------------------------------------
    p_out = rng.random()
    ostart = day0 + int(rng.integers(0, 24 * 60)) * NS_MIN
    odur = int(rng.integers(ev["outage"]["hours"][0] * 60, ev["outage"]["hours"][1] * 60 + 1))
    if p_out < ev["outage"]["per_month"] / 30.0:
        out.append(_Event("outage", ostart, ostart + odur * NS_MIN))
    # -- exceedance episode --------------------------------------------------------------------------------
    p_ep = rng.random()
    draws = rng.random(4)
    if p_ep < ev["exceedance"]["per_month"] / 30.0:
        out.extend(_episode(m, prof, ordinal, day0, level, draws))
    out.extend(_ambient_episode(m, prof, seed, ordinal, day0))
    return out


def _ambient_episode(m: _PointModel, prof: dict, seed: int, ordinal: int, day0: int) -> list[_Event]:
    """A cluster's ambient air episode on this day (``events.ambient_episode``): one draw per zone and
    day (its own random stream, so every other event of the plan is unchanged), shared by the cluster's
    ambient station (an exceedance ``episode`` of PM2.5) and its stacks and fugitive points (a ``rise``
    of particulate, under their limits: not an exceedance of theirs)."""
    spec = prof["events"].get("ambient_episode") or {}
    kind = m.point.kind
    if not spec.get("per_month") or kind not in ("ambient_air", "stack", "fugitive"):
        return []
    u = _rng(seed, f"ambient-episode:{m.point.zone}", ordinal, _S_AMBIENT).random(4)
    if u[0] >= spec["per_month"] / 30.0:
        return []
    lo, hi = spec["hours"]
    hours = lo + int(u[1] * (hi - lo + 1))
    s0, s1 = spec["local_start"]
    start = day0 + (s0 + int(u[2] * (s1 - s0 + 1))) * NS_HOUR
    end = start + hours * NS_HOUR
    if kind == "ambient_air":
        p = next((p for p in m.params if p.code == spec["parameter"]), None)
        if p is None:
            return []
        level = spec["level"][0] + (spec["level"][1] - spec["level"][0]) * u[3]
        return [_Event("episode", start, end, p.code, level, spec["limit"], level / p.base, p.unit)]
    p = next((p for p in m.params if p.code == spec["source_parameter"]), None)
    if p is None:
        return []
    rise = spec["source_rise"][0] + (spec["source_rise"][1] - spec["source_rise"][0]) * u[3]
    return [_Event("rise", start, end, p.code, rise, p.limit, rise, p.unit)]


def _episode(m: _PointModel, prof: dict, ordinal: int, day0: int, level: float,
             u: np.ndarray) -> list[_Event]:
    ep = prof["events"]["episode"]
    kind = m.point.kind

    def pick(lo_hi: list[float], x: float) -> float:
        return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * x

    if kind in ("stack", "fugitive", "insite_vocs"):
        cands = [p for p in m.params if not np.isnan(p.limit)]
        if not cands or level < 1.0:           # episodes happen while producing
            return []
        p = cands[int(u[0] * len(cands))]
        hours = int(ep["air_hours"][0] + int(u[1] * (ep["air_hours"][1] - ep["air_hours"][0] + 1)))
        start_h = 9 + int(u[2] * (18 - hours - 9 + 1))
        value = p.limit * pick(ep["air_level"], u[3])
        start = day0 + start_h * NS_HOUR
        return [_Event("episode", start, start + hours * NS_HOUR, p.code, value, p.limit,
                       value / p.base, p.unit)]
    if kind == "noise":
        _day_limit, night_limit = m.noise_limits
        hours = int(ep["noise_hours"][0] + int(u[1] * (ep["noise_hours"][1] - ep["noise_hours"][0] + 1)))
        night_start = m.point.night_start.hour
        night_len = (m.point.day_start.hour + 24 - night_start) % 24
        start_h = night_start + int(u[2] * (night_len - hours + 1))
        leq = night_limit + pick(ep["noise_above_night_limit"], u[3])
        start = day0 + start_h * NS_HOUR
        end = start + hours * NS_HOUR
        out = [_Event("episode", start, end, "Leq", leq, night_limit, np.nan, "dB(A)")]
        if any(p.code == "LMx" for p in m.params):
            lo, hi = prof["noise"]["lmax_above_leq"]
            out.append(_Event("episode", start, end, "LMx", leq + (lo + hi) / 2,
                              night_limit + prof["noise"]["lmax_night_margin"], np.nan, "dB(A)"))
        return out
    if kind in ("wastewater", "plant_effluent"):
        cands = [p for p in m.params if not np.isnan(p.limit) or p.code == "w01001"]
        if not cands:
            return []
        p = cands[int(u[0] * len(cands))]
        end = day0 + NS_DAY
        if p.code == "w01001":
            value = pick(ep["ph_high"], u[3])
            return [_Event("episode", day0, end, p.code, value, prof["ph_range"][1], np.nan, "pH")]
        limit = p.limit
        if _water_temperature_day(prof, ordinal) <= prof["water_temperature"]["cold_below"]:
            limit = p.limit_cold
        value = limit * pick(ep["water_level"], u[3])
        return [_Event("episode", day0, end, p.code, value, limit, value / p.base, p.unit)]
    return []


def _overlaps(a: _Event, b: _Event) -> bool:
    return a.start < b.end and b.start < a.end


def _resolve(m: _PointModel, raw: dict[int, list[_Event]]) -> dict[int, list[_Event]]:
    """Drop episodes that overlap an outage (any kind) or an M/D window (air, noise). Deterministic: it
    only looks at the plans of the neighbouring days, which do not depend on the simulated period."""
    water = m.point.kind in ("wastewater", "plant_effluent")
    blocking = {"outage"} if water else {"outage", "M", "D"}
    out: dict[int, list[_Event]] = {}
    for d, events in raw.items():
        near = [e for dd in (d - 1, d, d + 1) for e in raw.get(dd, []) if e.kind in blocking]
        out[d] = [e for e in events if e.kind != "episode" or not any(_overlaps(e, b) for b in near)]
    return out


def _plan(models: list[_PointModel], seed: int, first: int, last: int, prof: dict
          ) -> dict[str, dict[int, list[_Event]]]:
    """Resolved events for days first−1 … last of every point (days are local-date ordinals)."""
    plans = {}
    for m in models:
        raw = {d: _plan_day(m, seed, d, prof) for d in range(first - 2, last + 2)}
        resolved = _resolve(m, raw)
        plans[m.id] = {d: resolved[d] for d in range(first - 1, last + 1)}
    return plans
