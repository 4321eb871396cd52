"""Simulated online readings (the canonical readings batch, :mod:`sensors.schema`), one point-day at a
time, vectorised.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import numpy as np
import pandas as pd

from sensors.schema import conform, empty_readings
from sensors.simulator.events import _Event, _plan
from sensors.simulator.model import (
    FLOW,
    RATE_FACTOR,
    _build_point,
    _Param,
    _PointModel,
    _water_temperature_day,
)
from sensors.simulator.seeding import (
    _F_C,
    _F_D,
    _F_M,
    _S_KNOTS,
    _S_VALUES,
    FLAGS,
    NS_HOUR,
    _day_start_ns,
    _rng,
    _utc_ns,
    canonical_units,
    day_level,
    load_profiles,
)
from sensors.simulator.truth import _days, _select
from sensors.site import SiteRegistry


# ------------------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------------------
def _activity(shape: str, hours: np.ndarray, level: float, prof: dict) -> np.ndarray:
    """Activity in [0, 1] over local hours of one day."""
    if shape == "production":
        h0, h1 = prof["calendar"]["production_hours"]
        r = prof["calendar"]["ramp_hours"]
        up = np.clip((hours - (h0 - r)) / r, 0, 1)
        down = np.clip(((h1 + r) - hours) / r, 0, 1)
        return level * np.minimum(up, down)
    if shape == "sewage":        # town sewage: morning and evening peaks
        return np.clip(np.exp(-((hours - 10) / 3) ** 2) + 0.7 * np.exp(-((hours - 20) / 3) ** 2), 0, 1)
    if shape == "ambient":       # traffic/inversion peaks around 08 and 20
        return 0.5 * (1 + np.cos(2 * np.pi * (hours - 8) / 12))
    if shape == "ozone":         # photochemistry, afternoon peak
        return np.clip(np.cos(2 * np.pi * (hours - 15) / 24), 0, 1)
    return np.ones_like(hours)


def _knots(m: _PointModel, seed: int, ordinal: int) -> np.ndarray:
    """Hourly drift knots (n_params × 25): 24 of this day and the first of the next (continuity)."""
    this = _rng(seed, m.id, ordinal, _S_KNOTS).standard_normal((len(m.params), 24))
    nxt = _rng(seed, m.id, ordinal + 1, _S_KNOTS).standard_normal((len(m.params), 24))[:, :1]
    return np.concatenate([this, nxt], axis=1)


def _bound_rates(m: _PointModel, values: np.ndarray, hour: np.ndarray, cap: float) -> None:
    """Keep every clean hourly emission rate under ``cap`` × the stack's rate limit (in place): each
    concentration ≤ cap·Q / (max flow of its clock hour × 3600/10⁶), so mean(c)·mean(flow) ≤ cap·Q."""
    codes = [p.code for p in m.params]
    if FLOW not in codes:
        return
    hmax = np.zeros(24)
    np.maximum.at(hmax, hour, values[codes.index(FLOW)])
    flow_max = np.maximum(hmax[hour], 1e-9)
    for i, p in enumerate(m.params):
        if not np.isnan(p.rate_limit):
            values[i] = np.minimum(values[i], cap * p.rate_limit / (flow_max * RATE_FACTOR))


def _point_day(m: _PointModel, seed: int, ordinal: int, interval_s: int, events: list[_Event],
               prof: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(times ns [n_t], values [n_params × n_t], flags [n_params × n_t]) for one local day."""
    day0 = _day_start_ns(ordinal)
    t = day0 + np.arange(0, 86400, interval_s, dtype=np.int64) * 1_000_000_000
    hours = (t - day0) / NS_HOUR
    n_p, n_t = len(m.params), len(t)
    rng = _rng(seed, m.id, ordinal, _S_VALUES)
    eps = rng.standard_normal((n_p, n_t))
    knots = _knots(m, seed, ordinal)
    i0 = np.minimum(hours.astype(int), 23)
    frac = hours - i0
    z = knots[:, i0] * (1 - frac) + knots[:, i0 + 1] * frac
    lvl = day_level(date.fromordinal(ordinal), prof["calendar"]["saturday_level"],
                    prof["calendar"]["holiday_level"])
    prod = _activity("production", hours, lvl, prof)
    cap = prof["cap"]
    values = np.empty((n_p, n_t))
    t_day = _water_temperature_day(prof, ordinal)
    cold = t_day <= prof["water_temperature"]["cold_below"]
    leq_row = None
    for i, p in enumerate(m.params):
        s = p.spec
        model = s.get("model", "lognormal")
        if model == "lognormal":
            act = _activity(s.get("shape", "flat"), hours, lvl, prof)
            idle = s.get("idle", 1.0)
            v = p.base * (idle + (1 - idle) * act) * np.exp(s["drift"] * z[i] + s["sigma"] * eps[i])
            if not np.isnan(p.limit):
                v = np.minimum(v, cap * (p.limit_cold if cold and not np.isnan(p.limit_cold) else p.limit))
        elif model == "normal":
            act = _activity(s.get("shape", "flat"), hours, lvl, prof)
            idle = p.base if s.get("idle") is None else s["idle"]
            v = idle + (p.base - idle) * act + s["drift"] * z[i] + s["sigma"] * eps[i]
            if p.code == "w01001":
                lo, hi = prof["ph_range"]
                v = np.clip(v, lo + 0.3, hi - 0.3)
            v = np.maximum(v, 0.0)
        elif model == "water_temperature":
            v = t_day + 0.5 * np.sin(2 * np.pi * (hours - 9) / 24) + 0.3 * z[i] + s["sigma"] * eps[i]
        elif model == "nh3n_effluent":
            wt = prof["water_temperature"]
            w = float(np.clip((wt["cold_below"] - t_day) / 3.0, 0, 1))
            base = p.base + (p.extra - p.base) * w
            v = base * np.exp(s["drift"] * z[i] + s["sigma"] * eps[i])
            v = np.minimum(v, cap * (p.limit_cold if cold else p.limit))
        elif model == "direction":
            v = np.mod(rng.uniform(0, 360) + np.cumsum(rng.normal(0, 4, n_t)), 360.0)
        elif model == "noise":
            day_lim, night_lim = m.noise_limits
            day_h0 = m.point.day_start.hour + m.point.day_start.minute / 60
            night_h0 = m.point.night_start.hour + m.point.night_start.minute / 60
            daytime = (hours >= day_h0) & (hours < night_h0)
            base = np.where(daytime, m.noise_day - 3.0 * (1 - prod), m.noise_night + 2.0 * prod)
            v = base + 0.8 * z[i] + prof["noise"]["sigma"] * eps[i]
            v = np.minimum(v, np.where(daytime, day_lim, night_lim) - 1.0)
            leq_row = (v, daytime)
        elif model == "noise_max":
            lo, hi = prof["noise"]["lmax_above_leq"]
            leq, daytime = leq_row if leq_row is not None else (np.full(n_t, m.noise_day), np.ones(n_t, bool))
            v = leq + lo + (hi - lo) * rng.random(n_t)
            night_cap = m.noise_limits[1] + prof["noise"]["lmax_night_margin"] - 1.0
            v = np.where(daytime, v, np.minimum(v, night_cap))
        else:
            raise ValueError(f"sim_profiles.yaml: unknown model {model!r} for {p.code}")
        values[i] = v
    if m.point.kind == "stack":
        _bound_rates(m, values, i0, cap)
    flags = np.zeros((n_p, n_t), dtype=np.uint8)
    keep = np.ones(n_t, dtype=bool)
    codes = [p.code for p in m.params]
    order = {"rise": 0, "episode": 1, "D": 2, "C": 3, "M": 4, "outage": 5}
    for e in sorted(events, key=lambda e: order[e.kind]):
        sel = (t >= e.start) & (t < e.end)
        if not sel.any():
            continue
        if e.kind == "outage":
            keep &= ~sel
        elif e.kind == "rise":           # a cluster's ambient episode: the source rises, under its limit
            i = codes.index(e.param)
            ceiling = cap * m.params[i].limit if not np.isnan(m.params[i].limit) else np.inf
            values[i, sel] = np.minimum(values[i, sel] * e.level, ceiling)
            if FLOW in codes and not np.isnan(m.params[i].rate_limit):     # … and under its rate limit
                hmax = np.zeros(24)
                np.maximum.at(hmax, i0, values[codes.index(FLOW)])
                values[i, sel] = np.minimum(values[i, sel], cap * m.params[i].rate_limit
                                            / (np.maximum(hmax[i0[sel]], 1e-9) * RATE_FACTOR))
        elif e.kind == "episode":
            i = codes.index(e.param)
            jitter = np.exp(0.06 * rng.standard_normal(int(sel.sum())))
            if m.params[i].unit in ("dB(A)", "pH"):
                values[i, sel] = e.level + np.log(jitter) * (3 if m.params[i].unit == "dB(A)" else 1)
            else:
                values[i, sel] = e.level * jitter
        else:
            rows = range(n_p) if e.param is None else [codes.index(e.param)]
            for i in rows:
                fv = _flagged_value(m.params[i], e, m)
                if not np.isnan(fv):
                    values[i, sel] = fv
                flags[i, sel] = {"C": _F_C, "M": _F_M, "D": _F_D}[e.kind]
    if not keep.any():
        return None
    return t[keep], values[:, keep], flags[:, keep]


def _flagged_value(p: _Param, e: _Event, m: _PointModel) -> float:
    """The (deliberately implausible or exceeding) value written during a flagged window."""
    ref = p.limit if not np.isnan(p.limit) else p.base
    if p.unit == "dB(A)":
        return {"C": 94.0, "M": 0.0 if e.level == 0 else 95.0, "D": 0.0 if e.level == 0 else 99.0}[e.kind]
    if p.code == "w01001":
        return {"C": 9.18, "M": 0.0 if e.level == 0 else 12.5, "D": 0.0 if e.level == 0 else 13.0}[e.kind]
    if e.kind == "C":
        return round(2.5 * p.limit, 3) if not np.isnan(p.limit) else np.nan   # span gas; else unchanged
    return round(e.level * ref, 3)


def simulate_readings(registry: SiteRegistry, start: datetime, end: datetime, *, seed: int,
                      interval_s: int | None = None, zone: str | None = None,
                      profiles: dict | None = None, batch: str | None = None) -> Iterator[pd.DataFrame]:
    """Yield canonical readings frames (one per local day, every online point of the selection).

    ``start``/``end``: aware datetimes, or naive ones read as Asia/Shanghai local time; ``end`` exclusive.
    ``interval_s`` overrides every point's ``interval_s``. ``zone``: id, Chinese name or pinyin.
    Readings: source ``sim``, statistic ``avg``, period ``1min``; ``batch`` defaults to
    ``sim-<seed>``. See the module docstring for what the values do and :func:`simulation_truth` for
    the injected events.
    """
    prof = profiles or load_profiles()
    s, e = _utc_ns(start), _utc_ns(end)
    if e <= s:
        return
    points = _select(registry, zone)
    models = [_build_point(p, seed, prof) for p in points]
    first, last = _days(s, e)
    plans = _plan(models, seed, first, last, prof)
    point_ids = np.array([m.id for m in models], dtype=object)
    zones = np.array([m.point.zone for m in models], dtype=object)
    ents = np.array([m.point.enterprise for m in models], dtype=object)
    kinds = np.array([m.point.kind for m in models], dtype=object)
    param_names = sorted({p.code for m in models for p in m.params})
    pindex = {c: i for i, c in enumerate(param_names)}
    units = canonical_units()
    param_units = np.array([units.get(c, "") for c in param_names], dtype=object)
    batch = batch or f"sim-{seed}"
    for d in range(first, last + 1):
        times, pts, prm, vals, flg = [], [], [], [], []
        for j, m in enumerate(models):
            events = plans[m.id].get(d - 1, []) + plans[m.id][d]
            got = _point_day(m, seed, d, interval_s or m.point.interval_s, events, prof)
            if got is None:
                continue
            t, v, f = got
            inside = (t >= s) & (t < e)
            if not inside.any():
                continue
            t, v, f = t[inside], v[:, inside], f[:, inside]
            n_p, n_t = v.shape
            times.append(np.tile(t, n_p))
            pts.append(np.full(n_p * n_t, j, dtype=np.int32))
            prm.append(np.repeat(np.array([pindex[p.code] for p in m.params], dtype=np.int32), n_t))
            vals.append(v.ravel())
            flg.append(f.ravel())
        if not times:
            continue
        pt = np.concatenate(pts)
        pr = np.concatenate(prm)
        frame = pd.DataFrame({
            "time": pd.to_datetime(np.concatenate(times), utc=True),
            "zone": zones[pt], "enterprise": ents[pt], "point": point_ids[pt], "kind": kinds[pt],
            "parameter": np.asarray(param_names, dtype=object)[pr],
            "statistic": "avg", "period": "1min",
            "value": np.round(np.concatenate(vals), 4),
            "unit": param_units[pr],
            "flag": FLAGS[np.concatenate(flg)],
            "qualifier": None, "source": "sim", "batch": batch,
        })
        yield conform(frame)


def readings_frame(registry: SiteRegistry, start: datetime, end: datetime, *, seed: int, **kw) -> pd.DataFrame:
    """All of :func:`simulate_readings` in one frame (small periods only)."""
    frames = list(simulate_readings(registry, start, end, seed=seed, **kw))
    return pd.concat(frames, ignore_index=True) if frames else empty_readings()
