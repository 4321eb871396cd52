"""Boundary noise (GB 12348-2008): day and night Leq per point and local day, background correction, Lmax.

* Day (06–22) and night (22–06) follow **local** time (Asia/Shanghai) with the point's ``day_start`` and
  ``night_start`` from the registry (they must fall on whole hours: the aggregation is hourly). The night
  that starts at 22:00 on D belongs to D.
* Leq over a period is the energy mean of the valid minute (or hourly) Leq values,
  ``10·log10(mean(10^(L/10)))`` — never the arithmetic mean of dB values.
* Background correction (测量结果修正): difference = measured − background, rounded half-up to a whole dB:
  > 10 none; 6–10 −1; 4–5 −2; 3 −3; < 3 no valid result (``invalid``, "measure again" — never counted
  compliant or exceeding). The bands are data (``limits/data/gb12348-2008.yaml``).
* Background source: readings of the same point with parameter ``Leq`` and statistic ``bg`` (a manual
  measurement with the source stopped) in the same local day/night period, energy-averaged. Without one the
  measured Leq is judged uncorrected and the reason says so (``envmon noise assess`` takes it directly).
* Night Lmax (parameter ``LMx``, highest valid value of the night) against the night limit + 10 dB(A)
  (frequent noise) or + 15 dB(A) (sporadic), by the point's ``noise_type``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import time
from typing import Any

import numpy as np
import pandas as pd

from monitoring.compliance.frames import to_assessments, verdicts
from monitoring.config import LOCAL_TZ

LEQ, LMAX = "Leq", "LMx"


def energy_mean(levels: np.ndarray | pd.Series) -> float:
    """10·log10(mean(10^(L/10))) of dB levels (GB 12348-2008 §5: equivalent continuous level)."""
    arr = np.asarray(levels, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(10 * np.log10(np.mean(np.power(10.0, arr / 10.0)))) if arr.size else math.nan


def background_correction(measured: np.ndarray, background: np.ndarray,
                          bands: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised correction. Returns (corrected Leq, valid mask, rounded difference).

    ``bands``: [(lowest rounded difference, correction)], ascending, from the catalogue; a difference
    below the first band gives no valid result. A NaN background means "no background measured":
    no correction, valid.
    """
    m = np.asarray(measured, dtype=float)
    b = np.asarray(background, dtype=float)
    diff = np.floor(m - b + 0.5)          # rounded half-up to a whole dB
    corr = np.zeros_like(m)
    for lowest, c in bands:
        corr = np.where(diff >= lowest, c, corr)
    has_bg = np.isfinite(b)
    valid = ~has_bg | (diff >= bands[0][0])
    corrected = np.where(has_bg, m + corr, m)
    return np.where(valid, corrected, np.nan), valid, np.where(has_bg, diff, np.nan)


@dataclass(frozen=True)
class NoiseAssessment:
    limit: float
    measured_leq: float
    corrected_leq: float | None
    verdict: str
    reason: str
    zone_class: int
    period: str
    background: float | None = None
    difference: float | None = None
    correction: float | None = None
    lmax: float | None = None
    lmax_limit: float | None = None
    lmax_verdict: str | None = None
    standard: str = "GB 12348-2008"
    clause: str = ""
    limit_status: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess_noise(catalogue: Any, zone_class: int, period: str, leq: float, background: float | None = None,
                 lmax: float | None = None, kind: str = "frequent") -> NoiseAssessment:
    """One measurement judged against GB 12348-2008 表1 (``envmon noise assess``)."""
    lim = catalogue.noise_limit(zone_class, period)
    if lmax is not None and period != "night":
        raise ValueError("Lmax is only judged at night (GB 12348-2008 4.1.2/4.1.3); use --period night")
    bands = catalogue.background_bands()
    corrected, valid, diff = background_correction(np.array([leq]), np.array([np.nan if background is None
                                                                               else background]), bands)
    c = None if not valid[0] else round(float(corrected[0]), 1)
    d = None if background is None else float(diff[0])
    correction = None if c is None or background is None else round(c - leq, 1)
    if not valid[0]:
        verdict = "invalid"
        reason = (f"measured − background = {d:g} dB(A) < {bands[0][0]} dB(A): no valid result; "
                  "lower the background and measure again")
    elif c > lim.value:
        verdict = "exceeds"
        reason = f"{period} Leq {c:g} dB(A) above the class {zone_class} limit {lim.value:g} dB(A)"
    else:
        verdict = "compliant"
        reason = f"{period} Leq {c:g} dB(A) within the class {zone_class} limit {lim.value:g} dB(A)"
    if valid[0]:
        reason += ("; no background given, not corrected" if background is None
                   else f"; background correction {correction:+g} dB(A) (difference {d:g})")
    lmax_limit = lmax_verdict = None
    if lmax is not None:
        lmax_limit = lim.value + catalogue.lmax_allowance(kind)
        lmax_verdict = "exceeds" if lmax > lmax_limit else "compliant"
        reason += (f"; night Lmax {lmax:g} {'above' if lmax_verdict == 'exceeds' else 'within'} "
                   f"{lmax_limit:g} dB(A) (limit + {lmax_limit - lim.value:g}, {kind})")
        if lmax_verdict == "exceeds" and verdict == "compliant":
            verdict = "exceeds"
    return NoiseAssessment(limit=lim.value, measured_leq=leq, corrected_leq=c, verdict=verdict, reason=reason,
                           zone_class=zone_class, period=period, background=background, difference=d,
                           correction=correction, lmax=lmax, lmax_limit=lmax_limit, lmax_verdict=lmax_verdict,
                           clause=lim.clause, limit_status=lim.status)


def _hour(t: Any) -> int:
    if isinstance(t, str):
        t = time.fromisoformat(t)
    if t.minute or t.second:
        raise ValueError(f"noise day/night boundaries must be whole hours for hourly evaluation, got {t}")
    return t.hour


def _assign_periods(frame: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """Add ``period`` (day/night) and ``local_date`` (the date the period starts on) to hourly rows."""
    p = points[["point", "day_start", "night_start"]].copy()
    p["day_h"] = p["day_start"].map(_hour)
    p["night_h"] = p["night_start"].map(_hour)
    f = frame.merge(p[["point", "day_h", "night_h"]].astype({"point": "string"}), on="point", how="inner")
    local = f["window_start"].dt.tz_convert(LOCAL_TZ)
    h = local.dt.hour
    is_day = (h >= f["day_h"]) & (h < f["night_h"])
    date = local.dt.tz_localize(None).dt.normalize()
    f["period"] = np.where(is_day, "day", "night")
    f["local_date"] = date.where(is_day | (h >= f["night_h"]), date - pd.Timedelta(days=1))
    return f


def evaluate_noise(hourly: pd.DataFrame, background: pd.DataFrame, point_limits: pd.DataFrame,
                   points: pd.DataFrame, catalogue: Any, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Assessments per noise point, local day and period: ``leq_day``, ``leq_night``, ``lmax_night``.

    ``hourly``: best-period aggregates (Leq energy sums, LMx maxima); ``background``: aggregates of
    statistic ``bg`` readings (may be empty). Windows: each local day whose day or night period starts in
    [start, end) for online points; for offline points only periods with data.
    """
    lims = point_limits[point_limits["kind"] == "noise"]
    npoints = points[points["kind"] == "noise"]
    if lims.empty or npoints.empty:
        return to_assessments(pd.DataFrame())
    params = npoints[["point", "parameters"]].explode("parameters")
    lims = lims.merge(params.rename(columns={"parameters": "parameter"}).astype("string"), on=["point", "parameter"])
    data = hourly[hourly["parameter"].isin([LEQ, LMAX])]
    data = _assign_periods(data, npoints)
    agg = data.groupby(["point", "parameter", "period", "local_date"], observed=True).agg(
        energy=("energy", "sum"), valid=("valid", "sum"), received=("received", "sum"), max=("max", "max"),
        expected_hours=("window_start", "size")).reset_index()
    agg["leq"] = 10 * np.log10((agg["energy"] / agg["valid"].where(agg["valid"] > 0)).where(agg["energy"] > 0))
    agg["value"] = np.where(agg["parameter"] == LMAX, agg["max"], agg["leq"])

    # windows: local days × periods
    tz_start = start.tz_convert(LOCAL_TZ).tz_localize(None).normalize() - pd.Timedelta(days=1)
    tz_end = end.tz_convert(LOCAL_TZ).tz_localize(None).normalize() + pd.Timedelta(days=1)
    days = pd.DataFrame({"local_date": pd.date_range(tz_start, tz_end, freq="D")})
    lims = lims.assign(period=np.where(lims["check"] == "leq_day", "day", "night"))
    info = npoints[["point", "online", "interval_s", "day_start", "night_start"]].astype({"point": "string"})
    lims = lims.merge(info, on="point")
    grid = lims.merge(days, how="cross")
    day_h = grid["day_start"].map(_hour)
    night_h = grid["night_start"].map(_hour)
    open_h = np.where(grid["period"] == "day", day_h, night_h)
    close_h = np.where(grid["period"] == "day", night_h, day_h + 24)
    local_start = grid["local_date"] + pd.to_timedelta(open_h, unit="h")
    local_end = grid["local_date"] + pd.to_timedelta(close_h, unit="h")
    grid["window_start"] = local_start.dt.tz_localize(LOCAL_TZ).dt.tz_convert("UTC")
    grid["window_end"] = local_end.dt.tz_localize(LOCAL_TZ).dt.tz_convert("UTC")
    grid = grid[(grid["window_start"] >= start) & (grid["window_start"] < end)]
    g = grid.merge(agg, on=["point", "parameter", "period", "local_date"], how="left")
    g = g[g["online"].fillna(False).astype(bool) | g["valid"].notna()]

    # background, energy-averaged per point/period/local day
    if background is not None and not background.empty:
        bg = _assign_periods(background[background["parameter"] == LEQ], npoints)
        bg = bg.groupby(["point", "period", "local_date"], observed=True).agg(
            bg_energy=("energy", "sum"), bg_valid=("valid", "sum")).reset_index()
        bg["bg_leq"] = 10 * np.log10(bg["bg_energy"] / bg["bg_valid"].where(bg["bg_valid"] > 0))
        g = g.merge(bg[["point", "period", "local_date", "bg_leq"]], on=["point", "period", "local_date"], how="left")
    else:
        g["bg_leq"] = np.nan
    is_lmax = (g["check"] == "lmax_night").to_numpy()
    bands = catalogue.background_bands()
    bg_for_leq = np.where(is_lmax, np.nan, g["bg_leq"].to_numpy(dtype=float))
    corrected, ok, diff = background_correction(g["value"].to_numpy(dtype=float), bg_for_leq, bands)
    value = np.where(is_lmax, g["value"], corrected)
    valid_n = g["valid"].fillna(0).to_numpy()
    no_data = pd.Series(valid_n == 0, index=g.index)
    invalid = pd.Series(~ok & ~no_data.to_numpy(), index=g.index)
    g["value"] = value
    g["verdict"] = verdicts(g["value"], g["limit"], no_data, invalid)
    hours_span = (g["window_end"] - g["window_start"]) / pd.Timedelta(hours=1)
    g["expected_count"] = np.where(g["online"].fillna(False).astype(bool),
                                   hours_span * 3600.0 / g["interval_s"], np.nan)
    g["valid_count"] = valid_n
    d = pd.Series(diff, index=g.index)
    reason = pd.Series("", index=g.index, dtype=object)
    has_bg = d.notna() & ~no_data
    corr = pd.Series(corrected, index=g.index) - pd.Series(np.where(is_lmax, np.nan, g["leq"]), index=g.index)
    reason = reason.mask(has_bg & ~invalid, "background " + g["bg_leq"].round(1).astype(str)
                         + " dB(A), difference " + d.fillna(0).astype(int).astype(str) + ", correction "
                         + corr.round(1).astype(str) + " dB(A)")
    reason = reason.mask(~has_bg & ~no_data & ~pd.Series(is_lmax, index=g.index),
                         "no background measurement: not corrected")
    reason = reason.mask(invalid, "measured − background = " + d.fillna(0).astype(int).astype(str)
                         + f" dB(A) < {bands[0][0]}: no valid result, measure again")
    reason = reason.mask(no_data, "no valid data")
    reason = reason.mask(g["verdict"] == "exceeds", reason.radd("above the limit; "))
    g["reason"] = reason
    g["ratio"] = g["value"] / g["limit"]
    g["averaging"] = np.where(g["check"] == "leq_day", "day", "night")
    return to_assessments(g)
