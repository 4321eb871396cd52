"""Boundary noise (GB 12348-2008): every clock hour's Leq judged, day/night Leq reported beside it.

* **Hourly verdicts** (§5.5): the standard judges the Leq of a *representative period of the source*, not
  the energy mean of a whole 16-h day or 8-h night, where one loud hour is diluted by quiet ones
  (1 h at 65 + 15 h at 55 dB(A) → 56.9). For continuous boundary monitoring every clock hour inside the
  day or night period is one window: its Leq (energy mean of the hour's valid minute values) against the
  day or night limit of 表1 (check ``leq_day``/``leq_night``, averaging ``1h``).
* **Day and night Leq** (Ld, Ln) of each local day are reported beside each hourly verdict in the
  ``period_value`` column (energy mean of every valid value of that day or night period, with the same
  background correction); they are information, not a second verdict (no duplicate incident).
* **Night Lmax** (§4.1.2/4.1.3): the highest valid ``LMx`` of every night hour against the night limit
  + 10 dB(A) (frequent noise) or + 15 dB(A) (sporadic), by the point's ``noise_type``; ``period_value``
  is the night's highest ``LMx``. Lmax is not background-corrected.
* Day (06–22) and night (22–06) follow **local** time (Asia/Shanghai) with the point's ``day_start`` and
  ``night_start`` from the registry (whole hours). The night that starts at 22:00 on D belongs to D.
* **Background correction** (§5.9, 表7) — order matters: the raw, *unrounded* difference
  D = measured − background decides first: D > 10 → no correction; D < 3 → no valid result (``invalid``,
  "lower the background and measure again"); 3 ≤ D ≤ 10 → round D half-up to a whole dB, then 3 → −3,
  4–5 → −2, 6–10 → −1. So 60.4 over 50 (D 10.4) is not corrected; 52.7 over 50 (D 2.7) is invalid. The
  thresholds and bands are data (``limits/data/gb12348-2008.yaml`` rule ``background_correction``).
* Background source: readings of the same point with parameter ``Leq`` and statistic ``bg`` (a manual
  measurement with the source stopped) in the same local day/night period, energy-averaged. Without one the
  measured Leq is judged uncorrected and the reason says so (``envmon noise assess`` takes it directly).
* **Indoor measurement** (§4.1.5): a point whose boundary is closer than 1 m to a noise-sensitive
  building (registry ``indoor: true``) is measured indoors and judged against 表1 − 10 dB(A) (the night
  Lmax limit follows the reduced night limit); the catalogue applies it when it resolves point limits.
* Capture: an online point's hour needs ≥ ``min_capture`` (75 %) of the expected minute values, else
  ``invalid``; a manually measured (offline) point is judged in the hours it has values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import time
from typing import Any

import numpy as np
import pandas as pd

from limits.catalogue import BackgroundRule
from monitoring.compliance.frames import expected_per_hour, hours, to_assessments, verdicts
from monitoring.config import LOCAL_TZ
from sensors.acoustics import energy_mean  # noqa: F401  (re-exported: the one energy mean)

LEQ, LMAX = "Leq", "LMx"


def background_correction(measured: np.ndarray, background: np.ndarray, rule: BackgroundRule
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised GB 12348-2008 §5.9 correction: (corrected Leq, valid mask, raw difference, correction).

    The raw, unrounded difference D is compared with the thresholds **before** any rounding; only a D in
    [3, 10] is rounded (half-up) to look up the 表7 correction. A NaN background means "no background
    measured": no correction, valid. An invalid result (D < 3) gives a NaN corrected value.
    """
    m = np.asarray(measured, dtype=float)
    b = np.asarray(background, dtype=float)
    has_bg = np.isfinite(b)
    diff = np.where(has_bg, m - b, np.nan)
    rounded = np.floor(diff + 0.5)
    corr = np.zeros_like(m)
    for lowest, c in sorted(rule.bands):
        corr = np.where(rounded >= lowest, c, corr)
    with np.errstate(invalid="ignore"):
        invalid = has_bg & (diff < rule.invalid_below)
        corr = np.where(has_bg & (diff <= rule.none_above) & ~invalid, corr, 0.0)
    valid = ~invalid
    return np.where(valid, m + corr, np.nan), valid, diff, np.where(valid, corr, np.nan)


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
    indoor: bool = False
    standard: str = "GB 12348-2008"
    clause: str = ""
    limit_status: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess_noise(catalogue: Any, zone_class: int, period: str, leq: float, background: float | None = None,
                 lmax: float | None = None, kind: str = "frequent", indoor: bool = False) -> NoiseAssessment:
    """One measurement (the Leq of one representative period, e.g. one hour) against GB 12348-2008 表1
    (``envmon noise assess``), with the §5.9 background correction and the §4.1.5 indoor reduction."""
    lim = catalogue.noise_limit(zone_class, period)
    if lmax is not None and period != "night":
        raise ValueError("Lmax is only judged at night (GB 12348-2008 4.1.2/4.1.3); use --period night")
    reduction = catalogue.indoor_reduction() if indoor else 0.0
    limit = lim.value - reduction
    rule = catalogue.background_rule()
    corrected, valid, diff, corr = background_correction(
        np.array([leq]), np.array([np.nan if background is None else background]), rule)
    c = None if not valid[0] else round(float(corrected[0]), 1)
    d = None if background is None else round(float(diff[0]), 1)
    correction = None if c is None or background is None else float(corr[0])
    where = f"class {zone_class} {'indoor ' if indoor else ''}limit {limit:g} dB(A)"
    if not valid[0]:
        verdict = "invalid"
        reason = (f"measured − background = {d:g} dB(A) < {rule.invalid_below:g} dB(A): no valid result; "
                  "lower the background and measure again (GB 12348-2008 5.9)")
    elif c > limit:
        verdict = "exceeds"
        reason = f"{period} Leq {c:g} dB(A) above the {where}"
    else:
        verdict = "compliant"
        reason = f"{period} Leq {c:g} dB(A) within the {where}"
    if indoor:
        reason += f" (表1 {lim.value:g} − {reduction:g}, measured indoors, 4.1.5)"
    if valid[0]:
        if background is None:
            reason += "; no background given, not corrected"
        elif d > rule.none_above:
            reason += f"; difference {d:g} dB(A) > {rule.none_above:g}: no background correction"
        else:
            reason += f"; background correction {correction:+g} dB(A) (difference {d:g}, 表7)"
    lmax_limit = lmax_verdict = None
    if lmax is not None:
        lmax_limit = limit + catalogue.lmax_allowance(kind)
        lmax_verdict = "exceeds" if lmax > lmax_limit else "compliant"
        reason += (f"; night Lmax {lmax:g} {'above' if lmax_verdict == 'exceeds' else 'within'} "
                   f"{lmax_limit:g} dB(A) (limit + {lmax_limit - limit:g}, {kind})")
        if lmax_verdict == "exceeds" and verdict == "compliant":
            verdict = "exceeds"
    return NoiseAssessment(limit=limit, measured_leq=leq, corrected_leq=c, verdict=verdict, reason=reason,
                           zone_class=zone_class, period=period, background=background, difference=d,
                           correction=correction, lmax=lmax, lmax_limit=lmax_limit, lmax_verdict=lmax_verdict,
                           indoor=indoor, clause=lim.clause, limit_status=lim.status)


# ---------------------------------------------------------------------------------------------------
# Evaluation over hourly aggregates
# ---------------------------------------------------------------------------------------------------
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
    return f.drop(columns=["day_h", "night_h"])


def _noise_limits(point_limits: pd.DataFrame, npoints: pd.DataFrame) -> pd.DataFrame:
    """Limit rows of measured noise parameters (the §4.1.5 indoor reduction is already applied by
    :meth:`~limits.catalogue.Catalogue.point_limits`), with the period each judges."""
    lims = point_limits[point_limits["kind"] == "noise"]
    params = npoints[["point", "parameters"]].explode("parameters").rename(columns={"parameters": "parameter"})
    lims = lims.merge(params.astype("string"), on=["point", "parameter"])
    lims = lims.assign(period=np.where(lims["check"] == "leq_day", "day", "night"))
    info = npoints[["point", "online", "interval_s", "day_start", "night_start"]]
    lims = lims.merge(info.astype({"point": "string"}), on="point")
    return lims


def _hour_grid(lims: pd.DataFrame, data: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Windows: every clock hour in [start, end) of an online point, the hours with data of an offline
    point; each hour paired with the limit rows of its period (day: leq_day; night: leq_night, lmax_night)."""
    online = lims[lims["online"].fillna(False).astype(bool)]
    grid = online.merge(pd.DataFrame({"window_start": hours(start, end)}), how="cross")
    offline = lims[~lims["online"].fillna(False).astype(bool)]
    if not offline.empty:
        seen = data[["point", "parameter", "window_start"]].drop_duplicates()
        grid = pd.concat([grid, offline.merge(seen, on=["point", "parameter"])], ignore_index=True)
    if grid.empty:
        return grid.assign(local_date=pd.Series(dtype="datetime64[ns]"))
    grid = _assign_periods(grid.rename(columns={"period": "limit_period"}),
                           grid[["point", "day_start", "night_start"]].drop_duplicates("point"))
    return grid[grid["period"] == grid.pop("limit_period")]


def _period_values(data: pd.DataFrame) -> pd.DataFrame:
    """Ld / Ln (energy mean of the period's valid values) and the period's highest LMx per point and day."""
    per = data.groupby(["point", "parameter", "period", "local_date"], observed=True).agg(
        p_energy=("energy", "sum"), p_valid=("valid", "sum"), p_max=("max", "max")).reset_index()
    leq = 10 * np.log10((per["p_energy"] / per["p_valid"].where(per["p_valid"] > 0)).where(per["p_energy"] > 0))
    per["p_value"] = np.where(per["parameter"] == LMAX, per["p_max"], leq)
    return per[["point", "parameter", "period", "local_date", "p_value"]]


def _background(background: pd.DataFrame | None, npoints: pd.DataFrame) -> pd.DataFrame:
    """Background Leq (statistic ``bg``), energy-averaged per point, period and local day."""
    cols = ["point", "period", "local_date", "bg_leq"]
    if background is None or background.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "bg_leq" else "object") for c in cols})
    bg = background[background["parameter"] == LEQ].drop(columns=["period"])
    bg = _assign_periods(bg, npoints)
    bg = bg.groupby(["point", "period", "local_date"], observed=True).agg(
        bg_energy=("energy", "sum"), bg_valid=("valid", "sum")).reset_index()
    bg["bg_leq"] = 10 * np.log10(bg["bg_energy"] / bg["bg_valid"].where(bg["bg_valid"] > 0))
    return bg[cols]


def _judge(g: pd.DataFrame, rule: BackgroundRule, min_capture: float) -> pd.DataFrame:
    """Value (hour Leq corrected / hour Lmax), ``period_value``, verdict and reason of each hourly window."""
    is_lmax = (g["check"] == "lmax_night").to_numpy()
    valid_n = g["valid"].fillna(0).to_numpy()
    leq = 10 * np.log10((g["energy"] / g["valid"].where(g["valid"] > 0)).where(g["energy"] > 0))
    raw = np.where(is_lmax, g["max"], leq)
    bg = np.where(is_lmax, np.nan, g["bg_leq"].to_numpy(dtype=float))
    corrected, ok, diff, corr = background_correction(raw, bg, rule)
    p_corrected, _, _, _ = background_correction(g["p_value"].to_numpy(dtype=float), bg, rule)
    online = g["online"].fillna(False).astype(bool)
    expected = expected_per_hour(g["period_reported"], g["interval_s"])
    need = np.ceil(min_capture * expected)
    no_data = pd.Series(valid_n == 0, index=g.index)
    short = online & (g["valid"].fillna(0) < need) & ~no_data
    invalid = pd.Series(~ok, index=g.index) & ~no_data
    g["value"] = corrected
    g["period_value"] = p_corrected
    g["verdict"] = verdicts(g["value"], g["limit"], no_data, invalid | short)
    g["valid_count"] = valid_n
    g["expected_count"] = np.where(online, expected, np.nan)

    d = pd.Series(diff, index=g.index).round(1)
    has_bg = d.notna() & ~no_data
    reason = pd.Series("", index=g.index, dtype=object)
    reason = reason.mask(has_bg & (d > rule.none_above), "background " + g["bg_leq"].round(1).astype(str)
                         + " dB(A), difference " + d.astype(str) + f" > {rule.none_above:g}: no correction")
    reason = reason.mask(has_bg & (d <= rule.none_above) & ~invalid, "background " + g["bg_leq"].round(1).astype(str)
                         + " dB(A), difference " + d.astype(str) + ", correction "
                         + pd.Series(corr, index=g.index).astype(str) + " dB(A) (表7)")
    reason = reason.mask(~has_bg & ~no_data & ~pd.Series(is_lmax, index=g.index),
                         "no background measurement: not corrected")
    reason = reason.mask(invalid, "measured − background = " + d.astype(str)
                         + f" dB(A) < {rule.invalid_below:g}: no valid result, measure again (5.9)")
    reason = reason.mask(short & ~invalid, "valid " + pd.Series(valid_n, index=g.index).astype(int).astype(str)
                         + "/" + expected.fillna(0).astype(int).astype(str) + f" < {min_capture:.0%} capture")
    reason = reason.mask(no_data, "no valid data")
    reason = reason.mask(g["verdict"] == "exceeds", reason.radd(
        np.where(is_lmax, "hour's Lmax above the limit; ", "hour's Leq above the limit; ")))
    period_label = np.where(is_lmax, "night Lmax ", np.where(g["period"] == "day", "Ld ", "Ln "))
    pv = pd.Series(p_corrected, index=g.index).round(1)
    reason = reason.where(pv.isna(), reason + "; " + period_label + pv.astype(str) + " dB(A)")
    g["reason"] = reason.str.lstrip("; ")
    return g


def evaluate_noise(hourly: pd.DataFrame, background: pd.DataFrame | None, point_limits: pd.DataFrame,
                   points: pd.DataFrame, catalogue: Any, start: pd.Timestamp, end: pd.Timestamp,
                   min_capture: float = 0.75) -> pd.DataFrame:
    """Assessments per noise point and clock hour in [start, end): ``leq_day`` (day hours), ``leq_night``
    and ``lmax_night`` (night hours), averaging ``1h``, with Ld / Ln (or the night's Lmax) in
    ``period_value``.

    ``hourly``: best-period aggregates (Leq energy sums, LMx maxima); ``background``: aggregates of
    statistic ``bg`` readings (may be empty). Period values use every hour provided, also outside
    [start, end) (the store path reads to the end of the last night).
    """
    npoints = points[points["kind"] == "noise"]
    if point_limits[point_limits["kind"] == "noise"].empty or npoints.empty:
        return to_assessments(pd.DataFrame())
    lims = _noise_limits(point_limits, npoints)
    data = hourly[hourly["parameter"].isin([LEQ, LMAX])].rename(columns={"period": "period_reported"})
    data = _assign_periods(data, npoints)
    grid = _hour_grid(lims, data, start, end)
    if grid.empty:
        return to_assessments(pd.DataFrame())
    g = grid.merge(data.drop(columns=["period", "local_date"]), on=["point", "parameter", "window_start"],
                   how="left")
    g = g.merge(_period_values(data), on=["point", "parameter", "period", "local_date"], how="left")
    g = g.merge(_background(background, npoints), on=["point", "period", "local_date"], how="left")
    g = _judge(g, catalogue.background_rule(), min_capture)
    g["ratio"] = g["value"] / g["limit"]
    g["averaging"] = "1h"
    g["window_end"] = g["window_start"] + pd.Timedelta(hours=1)
    return to_assessments(g)
