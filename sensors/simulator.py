"""Seeded, vectorised data simulator: online readings, HJ 212 packets, lab results and HW ledgers.

Everything is a pure function of ``(seed, registry, period)``. Values of one point on one local day come
from random streams keyed by ``(seed, point id, day)``, so a point's data do not depend on which other
points, zones or days were simulated with it: simulating January and February separately gives the same
readings as simulating both at once.

Online readings (:func:`simulate_readings`)
    One value per point × parameter × reporting time (the point's ``interval_s``), statistic ``avg``,
    period ``1min`` (HJ 212 CN 2051 minute data; a point reporting every 300 s sends its minute average
    every 300 s). ``min``/``max`` are not generated: avg only keeps a month of the county registry near
    25 M values. Frames are yielded one local day at a time (all selected points), so memory stays bounded.

    Behaviour (parameters in ``sim_profiles.yaml``): production hours 08–18 local on working days
    (chinese_calendar), reduced on non-working Saturdays, low on Sundays/holidays and at night; slow
    drift (hourly random knots) and white noise; boundary noise day Leq ≈ limit − 2…8 dB(A), night
    ≈ limit − 3…8; seasonal water temperature (below 12 °C in winter) with effluent NH3-N rising in the
    cold; sewage-plant flow with a morning and evening peak; ozone peaking in the afternoon.

    Outside injected episodes and flagged windows every value stays below ``cap`` (0.8) × its nominal
    limit, so every exceedance downstream is one the ground truth records.

Events (ground truth, :class:`SimulationTruth`)
    * exceedance episodes: stack / fugitive / in-site VOCs 1–4 whole local clock hours in production
      time at 1.3–2.5 × the 1-hour limit (GB 16297-1996 Table 2, GB 37822-2019 App. A); boundary noise
      1–3 night hours at night limit + 8…13 dB(A) (high enough that the whole-night Leq exceeds too);
      water a whole local day at 1.2–1.8 × the daily-mean limit, or pH 9.6–10.4;
    * flagged windows: calibration ``C`` once a day (5–12 min, 01–05 local; span-gas values above the
      limit, pH buffer 9.18 / 4.00, acoustic calibrator 94 dB), maintenance ``M`` once a week (60 min;
      zeros or 3 × limit), instrument fault ``D`` (15–180 min, one parameter stuck at 0 or 4 × limit).
      Flagged values are deliberately "exceeding": flagged data must never raise an incident;
    * outages: 2–12 h of silence (no rows at all).
    An episode never overlaps an outage; air and noise episodes never overlap M/D windows either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sensors.hj212.codes import UNITS
from sensors.parameters import load_parameter_table
from sensors.schema import LOCAL_TZ, conform, empty_readings
from sensors.site import SiteRegistry

PROFILES_PATH = Path(__file__).with_name("data") / "sim_profiles.yaml"
NS_MIN = 60_000_000_000
NS_HOUR = 60 * NS_MIN
NS_DAY = 24 * NS_HOUR
UTC_OFFSET_NS = 8 * NS_HOUR            # Asia/Shanghai has had no DST since 1991

# random-stream ids (the 4th word of every seed sequence)
_S_POINT, _S_PLAN, _S_KNOTS, _S_VALUES = 1, 2, 3, 4
FLAGS = np.array(["N", "C", "M", "D"], dtype=object)
_F_N, _F_C, _F_M, _F_D = 0, 1, 2, 3


# ------------------------------------------------------------------------------------------------------
# Profiles, calendar, seeding
# ------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def load_profiles(path: str | Path = PROFILES_PATH) -> dict:
    """The simulator's parameter tables (``sim_profiles.yaml``)."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def canonical_units() -> dict[str, str]:
    """Parameter code → unit of simulated readings: the unit the HJ 212 decoder gives the code
    (:func:`sensors.hj212.unit_for`), so simulated readings equal decoded packets; codes the decoder does
    not know fall back to the parameter table (:mod:`sensors.parameters`)."""
    return load_parameter_table().units() | dict(UNITS)


def _key(text: str) -> int:
    """A stable 64-bit integer for a string (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _rng(seed: int, point: str, day: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, _key(point), day, stream])


@lru_cache(maxsize=4096)
def day_level(d: date, saturday_level: float, holiday_level: float) -> float:
    """Production level of a local day: 1 on working days (incl. 调休 Saturdays), reduced otherwise.

    Uses chinese_calendar; for a year it does not know, Monday–Friday are working days.
    """
    import chinese_calendar

    try:
        if chinese_calendar.is_workday(d):
            return 1.0
        holiday, name = chinese_calendar.get_holiday_detail(d)
        plain_saturday = d.weekday() == 5 and name is None
    except NotImplementedError:
        if d.weekday() < 5:
            return 1.0
        plain_saturday = d.weekday() == 5
    return saturday_level if plain_saturday else holiday_level


def _local(dt: datetime) -> datetime:
    """Aware → same instant; naive → Asia/Shanghai local time (what people type)."""
    return dt.replace(tzinfo=LOCAL_TZ) if dt.tzinfo is None else dt


def _utc_ns(dt: datetime) -> int:
    return pd.Timestamp(_local(dt)).tz_convert("UTC").value


def _day_start_ns(ordinal: int) -> int:
    """UTC ns of local midnight of the local date with this proleptic ordinal."""
    return (ordinal - date(1970, 1, 1).toordinal()) * NS_DAY - UTC_OFFSET_NS


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


# ------------------------------------------------------------------------------------------------------
# Event planning (ground truth)
# ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Event:
    kind: str                 # episode | C | M | D | outage
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
    return out


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
        day_limit, night_limit = m.noise_limits
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


# ------------------------------------------------------------------------------------------------------
# Ground truth
# ------------------------------------------------------------------------------------------------------
EPISODE_COLUMNS = {"zone": "string", "enterprise": "string", "point": "string", "kind": "string",
                   "parameter": "string", "start": "datetime64[ns, UTC]", "end": "datetime64[ns, UTC]",
                   "level": "float64", "limit": "float64", "factor": "float64", "unit": "string"}
WINDOW_COLUMNS = {"zone": "string", "point": "string", "parameter": "string", "flag": "string",
                  "start": "datetime64[ns, UTC]", "end": "datetime64[ns, UTC]"}
OUTAGE_COLUMNS = {"zone": "string", "point": "string",
                  "start": "datetime64[ns, UTC]", "end": "datetime64[ns, UTC]"}


@dataclass
class SimulationTruth:
    """What the simulator injected, for tests and the demo to check incidents against.

    ``episodes``: one row per (point, parameter) exceedance episode: ``start``/``end`` (UTC, end
    exclusive), ``level`` (expected value during the episode, in ``unit``), ``limit`` (the nominal limit it
    exceeds: 1-h limit for air, night limit (Leq) or night limit + 10 (LMx) for noise, daily-mean limit
    for water, 9 for pH), ``factor`` (level / the point's normal production level; NaN for dB and pH).
    ``windows``: flagged windows (``flag`` C/M/D; ``parameter`` <NA> = every parameter of the point).
    ``outages``: periods without any data from the point.
    """

    episodes: pd.DataFrame = field(default_factory=lambda: _frame({}, EPISODE_COLUMNS))
    windows: pd.DataFrame = field(default_factory=lambda: _frame({}, WINDOW_COLUMNS))
    outages: pd.DataFrame = field(default_factory=lambda: _frame({}, OUTAGE_COLUMNS))

    def write(self, directory: str | Path) -> list[Path]:
        """CSV files ``truth_episodes.csv``, ``truth_windows.csv``, ``truth_outages.csv`` (ISO UTC times)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in ("episodes", "windows", "outages"):
            p = directory / f"truth_{name}.csv"
            getattr(self, name).to_csv(p, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
            paths.append(p)
        return paths

    @classmethod
    def read(cls, directory: str | Path) -> "SimulationTruth":
        directory = Path(directory)
        frames = {}
        for name, cols in (("episodes", EPISODE_COLUMNS), ("windows", WINDOW_COLUMNS),
                           ("outages", OUTAGE_COLUMNS)):
            df = pd.read_csv(directory / f"truth_{name}.csv", dtype=str, keep_default_na=False)
            frames[name] = _frame({c: df[c].replace("", None) for c in cols}, cols)
        return cls(**frames)


def _frame(data: dict, cols: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame({c: data.get(c, []) for c in cols})
    for c, t in cols.items():
        if t.startswith("datetime"):
            df[c] = pd.to_datetime(df[c], utc=True)
    return df.astype(cols)


def _select(registry: SiteRegistry, zone: str | None) -> list:
    zone_id = registry.find_zone(zone).id if zone else None
    # safety sensors report every few seconds and have their own scenarios (sensors/sim_safety.py)
    return [p for p in registry.points_of(zone=zone_id, online=True) if p.kind != "safety"]


def _days(start_ns: int, end_ns: int) -> tuple[int, int]:
    first = pd.Timestamp(start_ns, tz="UTC").tz_convert(LOCAL_TZ).date().toordinal()
    last = pd.Timestamp(end_ns - 1, tz="UTC").tz_convert(LOCAL_TZ).date().toordinal()
    return first, last


def simulation_truth(registry: SiteRegistry, start: datetime, end: datetime, *, seed: int,
                     zone: str | None = None, profiles: dict | None = None) -> SimulationTruth:
    """The events :func:`simulate_readings` injects for the same arguments (those overlapping the period)."""
    prof = profiles or load_profiles()
    s, e = _utc_ns(start), _utc_ns(end)
    models = [_build_point(p, seed, prof) for p in _select(registry, zone)]
    first, last = _days(s, e)
    plans = _plan(models, seed, first, last, prof)
    ep, win, out = [], [], []
    for m in models:
        for d in range(first - 1, last + 1):
            for x in plans[m.id][d]:
                if not (x.start < e and s < x.end):
                    continue
                base = {"zone": m.point.zone, "point": m.id, "start": x.start, "end": x.end}
                if x.kind == "episode":
                    ep.append(base | {"enterprise": m.point.enterprise, "kind": m.point.kind,
                                      "parameter": x.param, "level": x.level, "limit": x.limit,
                                      "factor": x.factor, "unit": x.unit})
                elif x.kind == "outage":
                    out.append(base)
                else:
                    win.append(base | {"parameter": x.param, "flag": x.kind})

    def frame(rows: list[dict], cols: dict) -> pd.DataFrame:
        df = pd.DataFrame(rows, columns=list(cols))
        for c in ("start", "end"):
            df[c] = pd.to_datetime(df[c].astype("int64"), utc=True)
        return _frame({c: df[c] for c in cols}, cols).sort_values(["start", "point"], ignore_index=True)

    return SimulationTruth(frame(ep, EPISODE_COLUMNS), frame(win, WINDOW_COLUMNS), frame(out, OUTAGE_COLUMNS))


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
    flags = np.zeros((n_p, n_t), dtype=np.uint8)
    keep = np.ones(n_t, dtype=bool)
    codes = [p.code for p in m.params]
    order = {"episode": 0, "D": 1, "C": 2, "M": 3, "outage": 4}
    for e in sorted(events, key=lambda e: order[e.kind]):
        sel = (t >= e.start) & (t < e.end)
        if not sel.any():
            continue
        if e.kind == "outage":
            keep &= ~sel
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


# ------------------------------------------------------------------------------------------------------
# HJ 212 packets
# ------------------------------------------------------------------------------------------------------
#: System code ST by point kind (HJ 212-2017 Table 5). Boundary noise uses 23 (acoustic environment),
#: what most county noise loggers send; 36 (noise source) is accepted by the receiver too.
ST_BY_KIND = {"stack": "31", "fugitive": "31", "insite_vocs": "31", "noise": "23", "wastewater": "32",
              "plant_effluent": "32", "ambient_air": "22"}
#: statistic → HJ 212 field. Minute data (CN 2051) carries ``-Avg``; boundary noise minute data is sent as
#: ``Leq-Avg`` / ``LMx-Avg`` (the minute's equivalent level and its maximum), statistic ``avg``.
FIELD_BY_STATISTIC = {"avg": "Avg", "min": "Min", "max": "Max", "rtd": "Rtd", "cou": "Cou"}
CN_BY_PERIOD = {"1min": "2051", "1h": "2061", "1d": "2031", "rtd": "2011"}


#: Noise levels are averaged by energy (GB 12348-2008), maxima by max; everything else arithmetically.
ENERGY_MEAN_PARAMETERS = frozenset({"Leq", "LA", "L5", "L10", "L50", "L90", "L95", "Ld", "Ln", "Ldn"})
MAX_PARAMETERS = frozenset({"LMx"})


def hourly_from_minutes(readings: pd.DataFrame, registry: SiteRegistry, *, min_valid: float = 0.75) -> pd.DataFrame:
    """What a data logger reports as HJ 212 hourly data (CN 2061) from its minute values.

    Per point, parameter and clock hour: the mean of the flag-N values (energy mean for noise levels,
    maximum for ``LMx``), flagged ``N`` when at least ``min_valid`` of the values expected from the
    point's reporting interval were valid (HJ 75-2017's 45 of 60 minutes), otherwise the hour's most
    frequent other flag (its value then the mean of everything received). Hours without any value are
    not reported: silence stays silence. Returns canonical readings with period ``1h``.
    """
    if readings.empty:
        return readings.copy()
    df = readings[readings["statistic"] == "avg"]
    interval = {p.id: p.interval_s for p in registry.points_of(online=True)}
    hour = df["time"].dt.floor("h")
    valid = df["flag"].eq("N").to_numpy()
    value = df["value"].to_numpy(dtype="float64")
    energy = df["parameter"].isin(ENERGY_MEAN_PARAMETERS).to_numpy()
    work = pd.DataFrame({
        "point": df["point"].to_numpy(), "parameter": df["parameter"].to_numpy(), "hour": hour.to_numpy(),
        "n": 1, "nv": valid.astype("int64"),
        "lin_v": np.where(valid, np.where(energy, 10 ** (value / 10), value), 0.0),
        "lin_all": np.where(energy, 10 ** (value / 10), value),
        "max_v": np.where(valid, value, -np.inf), "max_all": value,
    })
    keys = ["point", "parameter", "hour"]
    agg = work.groupby(keys, sort=False).agg(n=("n", "sum"), nv=("nv", "sum"), lin_v=("lin_v", "sum"),
                                             lin_all=("lin_all", "sum"), max_v=("max_v", "max"),
                                             max_all=("max_all", "max")).reset_index()
    other = df.loc[~valid, ["point", "parameter"]].assign(hour=hour[~valid].to_numpy(),
                                                          flag=df.loc[~valid, "flag"].to_numpy())
    mode = (other.groupby([*keys, "flag"], sort=False).size().rename("k").reset_index()
            .sort_values("k", ascending=False).drop_duplicates(keys)[[*keys, "flag"]])
    agg = agg.merge(mode, on=keys, how="left")
    expected = 3600.0 / agg["point"].map(interval).astype("float64")
    ok = agg["nv"].to_numpy() >= np.ceil(min_valid * expected.to_numpy())
    is_energy = agg["parameter"].isin(ENERGY_MEAN_PARAMETERS).to_numpy()
    is_max = agg["parameter"].isin(MAX_PARAMETERS).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_v, mean_all = agg["lin_v"] / agg["nv"], agg["lin_all"] / agg["n"]
        lin = np.where(ok, mean_v, mean_all)
        val = np.where(is_energy, 10 * np.log10(lin), lin)
    val = np.where(is_max, np.where(ok, agg["max_v"], agg["max_all"]), val)
    first = df.drop_duplicates(["point"]).set_index("point")
    out = pd.DataFrame({
        "time": pd.to_datetime(agg["hour"], utc=True), "zone": agg["point"].map(first["zone"]),
        "enterprise": agg["point"].map(first["enterprise"]), "point": agg["point"],
        "kind": agg["point"].map(first["kind"]), "parameter": agg["parameter"], "statistic": "avg",
        "period": "1h", "value": np.round(val, 4),
        "unit": df.drop_duplicates(["point", "parameter"]).set_index(["point", "parameter"])["unit"]
                  .reindex(pd.MultiIndex.from_frame(agg[["point", "parameter"]])).to_numpy(),
        "flag": np.where(ok, "N", agg["flag"].fillna("N")), "qualifier": pd.NA,
        "source": df["source"].iat[0], "batch": df["batch"].iat[0],
    })
    return conform(out.sort_values(["time", "point", "parameter"], ignore_index=True))


def device_version(mn: str, *, old_share: float = 0.05, new_share: float = 0.10) -> str:
    """HJ 212 version a device speaks, fixed per MN: a few old (2005) and new (2025) loggers."""
    u = (_key("version:" + mn) % 10_000) / 10_000
    return "2005" if u < old_share else "2025" if u < old_share + new_share else "2017"


def to_packets(readings: pd.DataFrame, registry: SiteRegistry, *, seed: int, late_fraction: float = 0.01,
               duplicate_fraction: float = 0.005, ack_fraction: float = 1.0
               ) -> Iterator[tuple[str, bytes]]:
    """``(MN, packet bytes)``: one HJ 212 packet per point and timestamp carrying all its parameters.

    ``readings`` from :func:`simulate_readings` (period ``1min`` → CN 2051, other periods map to their
    command). Each parameter is written ``CODE-Avg=value,CODE-Flag=F``. Deterministic for a seed:
    ``late_fraction`` of the packets are held back and sent 5–200 packets later (out of order),
    ``duplicate_fraction`` are sent twice (identical bytes), ``ack_fraction`` ask for a 9014 answer (A=1).
    The version per device is :func:`device_version` (2005 packets write the old pollutant codes).
    QN is the DataTime plus a send delay of 1–30 s and a millisecond part. A segment over 1024 bytes is
    split (PNUM/PNO) by :func:`sensors.hj212.build_packet`; the parts are yielded in order.
    """
    from sensors.hj212 import build_packet

    if readings.empty:
        return
    df = readings.sort_values(["point", "time", "parameter", "statistic"], kind="stable")
    points = df["point"].to_numpy(dtype=object)
    times = pd.DatetimeIndex(df["time"]).as_unit("ns").asi8
    params = df["parameter"].to_numpy(dtype=object)
    stats = df["statistic"].to_numpy(dtype=object)
    periods = df["period"].to_numpy(dtype=object)
    values = df["value"].to_numpy()
    flags = df["flag"].to_numpy(dtype=object)
    change = np.flatnonzero((points[1:] != points[:-1]) | (times[1:] != times[:-1])) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(df)]])
    n = len(starts)
    day = int(times[0] // NS_DAY)
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, _key("packets"), day, n])
    late = rng.random(n) < late_fraction
    delay = rng.integers(5, 201, n)
    dup = rng.random(n) < duplicate_fraction
    ack = rng.random(n) < ack_fraction
    send_ms = rng.integers(1_000, 30_000, n)
    held: list[tuple[int, int, str, list[bytes]]] = []   # (due position, order, mn, packets)
    import heapq

    for k in range(n):
        a, b = starts[k], ends[k]
        point = registry.point(points[a])
        cp: dict[str, dict[str, object]] = {}
        for j in range(a, b):
            cp.setdefault(params[j], {})[FIELD_BY_STATISTIC[stats[j]]] = float(values[j])
        for j in range(a, b):
            cp[params[j]]["Flag"] = flags[j]
        t = pd.Timestamp(int(times[a]), tz="UTC")
        sent_at = (t + pd.Timedelta(milliseconds=int(send_ms[k]))).tz_convert(LOCAL_TZ)
        qn = sent_at.strftime("%Y%m%d%H%M%S") + f"{sent_at.microsecond // 1000:03d}"
        pkts = build_packet(st=ST_BY_KIND.get(point.kind, "31"), cn=CN_BY_PERIOD[periods[a]], mn=point.mn,
                            pw=point.pw, data_time=t.to_pydatetime(), cp=cp, qn=qn,
                            version=device_version(point.mn), ack=bool(ack[k]))
        while held and held[0][0] <= k:
            _, _, mn, old = heapq.heappop(held)
            for p in old:
                yield mn, p
        if late[k]:
            heapq.heappush(held, (k + int(delay[k]), k, point.mn, pkts))
            continue
        for p in pkts:
            yield point.mn, p
        if dup[k]:
            for p in pkts:
                yield point.mn, p
    while held:
        _, _, mn, old = heapq.heappop(held)
        for p in old:
            yield mn, p


def write_packets(packets: Iterator[tuple[str, bytes]], path: str | Path) -> int:
    """Write one packet per line (each already ends with ``\\r\\n``); returns the count."""
    n = 0
    with open(path, "ab") as fh:
        for _mn, raw in packets:
            fh.write(raw)
            n += 1
    return n


# ------------------------------------------------------------------------------------------------------
# Playing devices over TCP
# ------------------------------------------------------------------------------------------------------
@dataclass
class SendReport:
    """What :func:`send_packets` did. ``acked`` counts 9014 answers matched to a packet sent with A=1."""

    sent: int = 0
    ack_requested: int = 0
    acked: int = 0
    unexpected_answers: int = 0
    connections: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ack_ratio(self) -> float:
        return self.acked / self.ack_requested if self.ack_requested else 1.0

    def __str__(self) -> str:
        return (f"{self.sent} packets sent over {self.connections} connections in {self.elapsed_s:.1f} s; "
                f"{self.acked}/{self.ack_requested} acknowledged (9014)"
                + (f"; {len(self.errors)} errors: {self.errors[0]}" if self.errors else ""))


_FLAG_RE = None
_QN_RE = None


def _wants_ack(raw: bytes) -> tuple[bool, bytes | None]:
    """(A bit set, QN) read from the packet header without a full parse."""
    import re

    global _FLAG_RE, _QN_RE
    if _FLAG_RE is None:
        _FLAG_RE, _QN_RE = re.compile(rb";Flag=(\d+)"), re.compile(rb"QN=(\d+)")
    f = _FLAG_RE.search(raw, 0, 200)
    q = _QN_RE.search(raw, 0, 40)
    return bool(f and int(f.group(1)) & 1), (q.group(1) if q else None)


async def _device_group(host: str, port: int, queue, report: SendReport, answer_timeout: float) -> None:
    """One TCP connection: write the group's packets pipelined, count 9014 answers as they come."""
    import asyncio

    from sensors.hj212 import Frame, FrameBuffer, PacketError, parse_packet

    reader, writer = await asyncio.open_connection(host, port)
    report.connections += 1
    pending: dict[tuple[str, bytes], int] = {}
    done_writing = asyncio.Event()
    all_answered = asyncio.Event()

    async def read_answers() -> None:
        buf = FrameBuffer()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            for ev in buf.feed(chunk):
                if not isinstance(ev, Frame):
                    continue
                try:
                    ans = parse_packet(ev.raw)
                except PacketError as exc:
                    report.errors.append(f"bad answer from receiver: {exc}")
                    continue
                key = (ans.mn, (ans.qn or "").encode())
                if ans.cn == "9014" and pending.get(key, 0) > 0:
                    pending[key] -= 1
                    report.acked += 1
                else:
                    report.unexpected_answers += 1
            if done_writing.is_set() and not any(pending.values()):
                all_answered.set()
                return

    reading = asyncio.create_task(read_answers())
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            mn, raw = item
            wants, qn = _wants_ack(raw)
            if wants and qn is not None:
                pending[(mn, qn)] = pending.get((mn, qn), 0) + 1
                report.ack_requested += 1
            writer.write(raw)
            report.sent += 1
            if writer.transport.get_write_buffer_size() > 1 << 20:
                await writer.drain()
        await writer.drain()
        done_writing.set()
        if any(pending.values()):
            try:
                await asyncio.wait_for(asyncio.shield(reading), timeout=answer_timeout)
            except asyncio.TimeoutError:
                missing = sum(pending.values())
                report.errors.append(f"{missing} packets not acknowledged within {answer_timeout:.0f} s")
    finally:
        reading.cancel()
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def send_packets_async(host: str, port: int, packets, *, connections: int = 8,
                             answer_timeout: float = 30.0) -> SendReport:
    """Asyncio client playing the devices; see :func:`send_packets`."""
    import asyncio
    import time as _t

    report = SendReport()
    t0 = _t.perf_counter()
    queues = [asyncio.Queue(maxsize=10_000) for _ in range(max(1, connections))]
    tasks = [asyncio.create_task(_device_group(host, port, q, report, answer_timeout)) for q in queues]
    try:
        for mn, raw in packets:
            # a device always uses the same connection, so its packets stay in order on the wire
            await queues[_key(mn) % len(queues)].put((mn, raw))
            if any(t.done() for t in tasks):
                break
    finally:
        for q in queues:
            await q.put(None)
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            report.errors.append(f"connection failed: {type(r).__name__}: {r}")
    report.elapsed_s = _t.perf_counter() - t0
    return report


def send_packets(host: str, port: int, packets, *, connections: int = 8,
                 answer_timeout: float = 30.0) -> SendReport:
    """Send ``(MN, packet)`` pairs to an HJ 212 receiver like a fleet of data loggers would.

    Devices are grouped over ``connections`` TCP connections (a device always on the same one); each
    connection writes pipelined, reads the receiver's ``ST=91;CN=9014`` answers concurrently and matches
    them by (MN, QN) to the packets sent with A=1. Waits up to ``answer_timeout`` s for the last answers.
    """
    import asyncio

    return asyncio.run(send_packets_async(host, port, packets, connections=connections,
                                          answer_timeout=answer_timeout))


# ------------------------------------------------------------------------------------------------------
# Lab results (file format of sensors.lab)
# ------------------------------------------------------------------------------------------------------
#: Lab parameters: Chinese name written in the file, unit, detection limit (HJ method DLs), typical range.
LAB_PARAMETERS: dict[str, tuple[str, str, float, float, float]] = {
    "w01001": ("pH值", "无量纲", np.nan, 6.8, 7.8),
    "w21003": ("氨氮", "mg/L", 0.025, 0.0, 0.3),          # HJ 535-2009
    "w01019": ("高锰酸盐指数", "mg/L", 0.5, 0.2, 2.5),     # GB/T 11892
    "w01014": ("电导率", "µS/cm", np.nan, 300, 900),
    "w01018": ("化学需氧量", "mg/L", 4.0, 120, 320),       # HJ 828-2017
    "w21011": ("总磷", "mg/L", 0.01, 1.0, 4.0),
}
LAB_FILE_COLUMNS = ["监测点位", "监测项目", "采样时间", "检测结果", "单位", "检出限", "样品编号"]


def simulate_lab(registry: SiteRegistry, start: datetime, end: datetime, *, seed: int) -> pd.DataFrame:
    """Lab results in the lab file format (columns :data:`LAB_FILE_COLUMNS`, all text).

    Groundwater wells (offline ``groundwater`` points): one sample per month on the 10th (or the next
    working day), 09:00–11:00 local, every parameter of the well. Wastewater outlets: a grab sample
    (COD, NH3-N) each month at a third of the online outlets (supervisory comparison sampling).
    Results below the detection limit are written three ways, as labs do: ``<DL``, ``ND`` with the
    检出限 column, and ``DLL`` (e.g. ``0.025L``).
    """
    s, e = pd.Timestamp(_local(start)), pd.Timestamp(_local(end))
    months = pd.date_range(s.tz_convert(LOCAL_TZ).normalize().replace(day=1), e.tz_convert(LOCAL_TZ),
                           freq="MS")
    rows: list[list[str]] = []
    wells = registry.points_of(kind="groundwater")
    outlets = sorted(registry.points_of(kind="wastewater"), key=lambda p: p.id)
    sampled = [p for p in outlets if _key("lab:" + p.id) % 3 == 0]
    for month in months:
        day = month + pd.Timedelta(days=9)
        while day_level(day.date(), 0.0, 0.0) < 1.0:
            day += pd.Timedelta(days=1)
        for p in wells + sampled:
            rng = _rng(seed, p.id, day.date().toordinal(), 7)
            t = day + pd.Timedelta(minutes=int(rng.integers(9 * 60, 11 * 60)))
            if not (s <= t < e):
                continue
            codes = p.parameters if p.kind == "groundwater" else ["w01018", "w21003"]
            for i, code in enumerate(codes):
                name, unit, dl, lo, hi = LAB_PARAMETERS.get(code, (code, "mg/L", np.nan, 0.1, 1.0))
                if p.kind == "wastewater" and code == "w21003":
                    lo, hi = 10.0, 30.0
                value = float(rng.uniform(lo, hi))
                style = int(rng.integers(3))
                if not np.isnan(dl) and value < dl:
                    text, dl_text = [(f"<{dl:g}", f"{dl:g}"), ("ND", f"{dl:g}"), (f"{dl:g}L", "")][style]
                else:
                    digits = 2 if code == "w01001" or value < 10 else 0 if value >= 100 else 1
                    text, dl_text = f"{value:.{digits}f}", "" if np.isnan(dl) else f"{dl:g}"
                rows.append([p.id, name, t.strftime("%Y-%m-%d %H:%M"), text, unit, dl_text,
                             f"{p.id}-{t:%Y%m%d}-{i + 1:02d}"])
    return pd.DataFrame(rows, columns=LAB_FILE_COLUMNS, dtype="string")


def write_lab_csv(frame: pd.DataFrame, path: str | Path, *, encoding: str = "utf-8-sig") -> Path:
    """Write a lab frame as a CSV like a lab's Excel export (UTF-8 with BOM by default; ``gb18030`` too)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
    return path


# ------------------------------------------------------------------------------------------------------
# Hazardous-waste ledger (file format of sensors.ledger)
# ------------------------------------------------------------------------------------------------------
#: Category → full code written in the ledger (国家危险废物名录 2021).
WASTE_CODES = {"HW01": "HW01 841-001-01", "HW06": "HW06 900-402-06", "HW08": "HW08 900-249-08",
               "HW12": "HW12 900-252-12", "HW17": "HW17 336-064-17", "HW34": "HW34 900-300-34",
               "HW49": "HW49 900-041-49"}
#: Receiving units (simulated names) and their operating licence numbers; the last has none.
RECEIVERS = [("重庆示例危险废物处置有限公司", "渝危废经〔2021〕第003号"),
             ("重庆示例环保科技有限公司", "渝危废经〔2022〕第015号"),
             ("万州示例资源再生有限公司", "渝危废经〔2020〕第027号")]
UNLICENSED_RECEIVER = "云阳县示例废油回收站"
LEDGER_FILE_COLUMNS = ["贮存点", "日期", "废物代码", "入库量(t)", "出库量(t)", "联单编号", "接收单位",
                       "经营许可证号", "接收确认日期"]
#: weekly generation by the enterprise's HJ 1259-2022 class, t per waste category
_WEEKLY_T = {"key": (1.5, 3.0), "simplified": (0.2, 1.2), "registration": (0.02, 0.15)}
PROBLEMS = ("unlicensed_receiver", "unconfirmed_manifest", "temporary_over_3t", "stored_over_365d")


def _ledger(registry: SiteRegistry, start: datetime, end: datetime, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    s = pd.Timestamp(_local(start)).tz_convert(LOCAL_TZ).normalize()
    e = pd.Timestamp(_local(end)).tz_convert(LOCAL_TZ)
    stores = sorted(registry.points_of(kind="hw_store"), key=lambda p: p.id)
    if not stores:
        return pd.DataFrame(columns=LEDGER_FILE_COLUMNS), pd.DataFrame(columns=["problem"])
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, _key("ledger"), s.toordinal(), e.toordinal()])
    temporaries = [p for p in stores if getattr(p, "temporary", False)]
    smallest = sorted(stores, key=lambda p: _WEEKLY_T[registry.enterprises[p.enterprise].hw_class
                                                       if p.enterprise in registry.enterprises
                                                       else "registration"][1])
    over3 = temporaries[int(rng.integers(len(temporaries)))] if temporaries else None
    old = next((p for p in smallest if p is not over3), stores[0])
    old_cat = old.parameters[0]
    mondays = pd.date_range(s, e, freq="W-MON")
    rows: list[dict] = []
    transfers: list[int] = []
    problems: list[dict] = []
    serial = int(rng.integers(1, 5000))
    for p in stores:
        cls = registry.enterprises[p.enterprise].hw_class if p.enterprise in registry.enterprises else \
            "registration"
        lo, hi = _WEEKLY_T[cls]
        cap = float(getattr(p, "capacity_t", 5.0))
        temporary = bool(getattr(p, "temporary", False))
        limit_stock = (1.5 if temporary else 0.6 * cap) / max(1, len(p.parameters))
        if temporary:                                       # a temporary point never nears 3 t …
            lo, hi = min(lo, 0.2), min(hi, 0.5)
        if p is over3:
            lo, hi = 0.9, 1.3                               # … except the injected busy one
        flagged_over3 = False
        for cat in p.parameters:
            code = WASTE_CODES.get(cat, f"{cat}")
            stock = round(float(rng.uniform(0.1, 0.5)) * limit_stock, 3)
            opened = s - pd.Timedelta(days=int(rng.integers(20, 120)))
            keep_old = p is old and cat == old_cat
            if keep_old:                                    # a batch kept more than a year
                opened = e.normalize() - pd.Timedelta(days=400)
                problems.append({"problem": "stored_over_365d", "store": p.id, "waste_code": code,
                                 "date": opened, "manifest": None,
                                 "detail": f"{stock} t received {opened:%Y-%m-%d}, never transferred"})
            rows.append({"store": p.id, "date": opened, "code": code, "in": stock, "out": 0.0})
            for day in mondays:
                if day < s:
                    continue
                dday = day + pd.Timedelta(days=int(rng.integers(0, 3)))
                if dday >= e:
                    continue
                q = round(float(rng.uniform(lo, hi)) / max(1, len(p.parameters)), 3)
                rows.append({"store": p.id, "date": dday, "code": code, "in": q, "out": 0.0})
                stock = round(stock + q, 3)
                over = p is over3 and stock <= 3.2
                if p is over3 and stock > 3.0 and not flagged_over3:
                    flagged_over3 = True
                    problems.append({"problem": "temporary_over_3t", "store": p.id, "waste_code": code,
                                     "date": dday, "manifest": None,
                                     "detail": f"temporary point holds {stock:.3f} t (> 3 t, GB 18597-2023)"})
                if stock >= limit_stock and not keep_old and not over:
                    tday = dday + pd.Timedelta(days=int(rng.integers(1, 4)))
                    if tday >= e:
                        continue
                    serial += 1
                    rows.append({"store": p.id, "date": tday, "code": code, "in": 0.0, "out": stock,
                                 "manifest": f"{tday.year}5002{serial:06d}",
                                 "receiver_i": int(rng.integers(len(RECEIVERS))),
                                 "confirm_days": int(rng.integers(1, 6))})
                    transfers.append(len(rows) - 1)
                    stock = 0.0
    for r in rows:
        if "manifest" in r:
            name, lic = RECEIVERS[r["receiver_i"]]
            r["receiver"], r["licence"] = name, lic
            r["confirmed"] = r["date"] + pd.Timedelta(days=r["confirm_days"])
            if r["confirmed"] >= e:
                r["confirmed"] = None
    if transfers:
        picks = rng.permutation(transfers)
        unl = rows[picks[0]]
        unl["receiver"], unl["licence"] = UNLICENSED_RECEIVER, None
        problems.append({"problem": "unlicensed_receiver", "store": unl["store"], "waste_code": unl["code"],
                         "date": unl["date"], "manifest": unl["manifest"],
                         "detail": f"transfer of {unl['out']} t to {UNLICENSED_RECEIVER} (no licence)"})
        uc = rows[picks[1] if len(picks) > 1 else picks[0]]
        uc["confirmed"] = None
        problems.append({"problem": "unconfirmed_manifest", "store": uc["store"], "waste_code": uc["code"],
                         "date": uc["date"], "manifest": uc["manifest"],
                         "detail": "manifest never confirmed by the receiver"})
    ledger = pd.DataFrame({
        "贮存点": [r["store"] for r in rows],
        "日期": [r["date"].strftime("%Y-%m-%d") for r in rows],
        "废物代码": [r["code"] for r in rows],
        "入库量(t)": [f"{r['in']:.3f}" if r["in"] else "" for r in rows],
        "出库量(t)": [f"{r['out']:.3f}" if r["out"] else "" for r in rows],
        "联单编号": [r.get("manifest") or "" for r in rows],
        "接收单位": [r.get("receiver") or "" for r in rows],
        "经营许可证号": [r.get("licence") or "" for r in rows],
        "接收确认日期": [r["confirmed"].strftime("%Y-%m-%d") if r.get("confirmed") is not None else ""
                       for r in rows],
    }, dtype="string").sort_values(["贮存点", "日期", "废物代码"], kind="stable", ignore_index=True)
    truth = pd.DataFrame(problems, columns=["problem", "store", "waste_code", "date", "manifest", "detail"])
    pts = {p.id: p for p in stores}
    truth.insert(1, "zone", [pts[x].zone for x in truth["store"]])
    truth.insert(2, "enterprise", [pts[x].enterprise for x in truth["store"]])
    truth["date"] = [d.strftime("%Y-%m-%d") if d is not None else "" for d in truth["date"]]
    return ledger, truth.astype("string")


def simulate_ledger(registry: SiteRegistry, start: datetime, end: datetime, *, seed: int) -> pd.DataFrame:
    """Ledger rows for every ``hw_store`` in the ledger file format (columns :data:`LEDGER_FILE_COLUMNS`).

    Per store and waste category: an opening stock entry before ``start``; weekly inputs (sized by the
    enterprise's HJ 1259-2022 class); a transfer out with a 14-digit manifest (year + 50 (Chongqing) +
    02 (Yunyang's city part) + serial) when the stock reaches 60 % of the capacity share (2 t for a
    temporary point), confirmed 1–5 days later. Injected problems: :func:`simulate_ledger_truth`.
    """
    return _ledger(registry, start, end, seed)[0]


def simulate_ledger_truth(registry: SiteRegistry, start: datetime, end: datetime, *, seed: int) -> pd.DataFrame:
    """The problems injected into :func:`simulate_ledger` for the same arguments: one row each with
    ``problem`` (one of :data:`PROBLEMS`), ``zone``, ``enterprise``, ``store``, ``waste_code``, ``date``,
    ``manifest``, ``detail``."""
    return _ledger(registry, start, end, seed)[1]


def write_ledger_csv(frame: pd.DataFrame, directory: str | Path, registry: SiteRegistry, *,
                     encoding: str = "utf-8-sig") -> list[Path]:
    """One ledger CSV per zone: ``DIR/<zone>/hw_ledger.csv`` (the landing layout)."""
    zone_of = {p.id: p.zone for p in registry.points_of(kind="hw_store")}
    paths = []
    for zone, part in frame.groupby(frame["贮存点"].map(zone_of), sort=True):
        path = Path(directory) / str(zone) / "hw_ledger.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
        paths.append(path)
    return paths
