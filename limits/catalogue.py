"""The limits catalogue: every loaded standard plus local overrides, with look-ups used by compliance.

:func:`load_catalogue` reads ``limits/data/*.yaml`` and the override file (``ENVMON_LIMITS_OVERRIDE`` /
``Settings.limits_override``). :meth:`Catalogue.point_limits` resolves, for every point of a registry,
which limit applies to each (parameter, check) — the stricter of the standard and any override targeting
that point — as a small DataFrame that the vectorised evaluation merges with aggregated readings.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from limits.loader import (
    DATA_DIR,
    Limit,
    LimitsError,
    OverrideFile,
    Rule,
    StandardFile,
    load_override,
    load_standards,
    resolve_inherit,
)

#: Standard applied to air points (Chongqing local standard) and the region column for Yunyang County.
AIR_STANDARD = "DB 50/418-2016"
AIR_REGION = "其他区域"
#: GB 16297 emission-rate grade for new sources in class-2 air zones (the seed plan's "二级").
AIR_GRADE = "2"
NOISE_STANDARD = "GB 12348-2008"
INSITE_STANDARD = "GB 37822-2019"
HW_STANDARD = "hazardous-waste rules"
#: Issue #14: ambient air (class-2 areas), groundwater (Class III), soil (second-class land).
AMBIENT_STANDARD = "GB 3095-2012"
GROUNDWATER_STANDARD = "GB/T 14848-2017"
SOIL_STANDARD = "GB 36600-2018"
#: GB 16297-1996 §7.4: the extra halving applies to new stacks lower than this height (m).
LOW_STACK_M = 15.0

POINT_LIMIT_COLUMNS: dict[str, str] = {
    "point": "string", "zone": "string", "enterprise": "string", "kind": "string",
    "parameter": "string", "check": "string", "averaging": "string",
    "limit": "float64", "limit_low": "float64", "cold_limit": "float64", "cold_max_temp_c": "float64",
    "unit": "string", "standard": "string", "clause": "string", "limit_status": "string",
    "limit_source": "string", "note": "string",
}


@dataclass(frozen=True)
class BackgroundRule:
    """GB 12348-2008 §5.9 表7 as data: raw difference D > ``none_above`` → no correction; D <
    ``invalid_below`` → no valid result; otherwise round D half-up and look up ``bands``
    [(lowest rounded D dB, correction dB)]."""

    invalid_below: float
    none_above: float
    bands: tuple[tuple[int, float], ...]
    clause: str = ""


@dataclass(frozen=True)
class RateLimit:
    """A height-based maximum emission rate for one stack (GB 16297-1996 §7, 附录B)."""

    parameter: str
    height_m: float
    above_buildings: bool
    rate_kg_h: float
    rule: str
    limit: Limit

    def as_dict(self) -> dict[str, Any]:
        return {"parameter": self.parameter, "name": self.limit.name, "height_m": self.height_m,
                "above_buildings": self.above_buildings, "rate_kg_h": self.rate_kg_h, "rule": self.rule,
                "standard": self.limit.standard, "clause": self.limit.clause, "status": self.limit.status,
                "source": self.limit.source, "reason": self.limit.reason}


def rate_from_table(table: Iterable[tuple[float, float]], height_m: float, above_buildings: bool = True,
                    *, low_stack_factor: float = 0.5, building_factor: float = 0.5) -> tuple[float, str]:
    """Maximum emission rate (kg/h) for a stack of ``height_m`` m from a (height m, rate kg/h) table.

    GB 16297-1996: between tabulated heights ``Q = Qa + (Qb − Qa)(h − ha)/(hb − ha)`` (§7.3); above the
    table ``Q = Qtop·(h/htop)²``; below it ``Q = Qlow·(h/hlow)²`` (附录B) and, for a new stack lower than
    15 m, that result × ``low_stack_factor`` (0.5, §7.4); a stack not ≥ 5 m above every building within
    200 m: × ``building_factor`` (0.5, §7.1). Both halvings apply together when both conditions hold
    (each clause is stated on its own) — the rate is then a quarter of the extrapolated value.
    Returns (rate, a sentence naming the rule(s) applied).
    """
    pairs = sorted(table)
    hs = np.array([h for h, _ in pairs], dtype=float)
    qs = np.array([q for _, q in pairs], dtype=float)
    h = float(height_m)
    if not math.isfinite(h) or h <= 0:
        raise ValueError(f"stack height must be a positive number of metres, got {height_m!r}")
    if h > hs[-1]:
        q = qs[-1] * (h / hs[-1]) ** 2
        rule = f"extrapolated above the table: {qs[-1]:g}·({h:g}/{hs[-1]:g})² (GB 16297-1996 附录B)"
    elif h < hs[0]:
        q = qs[0] * (h / hs[0]) ** 2
        rule = f"extrapolated below the table: {qs[0]:g}·({h:g}/{hs[0]:g})² (GB 16297-1996 附录B)"
        if h < LOW_STACK_M:
            q *= low_stack_factor
            rule += f", ×{low_stack_factor:g} for a stack under {LOW_STACK_M:g} m (§7.4)"
    else:
        i = int(np.searchsorted(hs, h))
        if hs[i] == h:
            q = float(qs[i])
            rule = f"tabulated at {h:g} m"
        else:
            ha, hb, qa, qb = hs[i - 1], hs[i], qs[i - 1], qs[i]
            q = qa + (qb - qa) * (h - ha) / (hb - ha)
            rule = f"interpolated between {ha:g} m ({qa:g}) and {hb:g} m ({qb:g}) (GB 16297-1996 §7.3)"
    if not above_buildings:
        q *= building_factor
        rule += f", ×{building_factor:g}: not ≥ 5 m above buildings within 200 m (§7.1)"
    return round(float(q), 9), rule


def _stricter(base: Limit, base_value: float | None, override: Limit) -> bool:
    """True when ``override`` is stricter than ``base`` (lower upper bound or narrower range)."""
    if override.low is not None or base.low is not None:
        lo_b = base.low if base.low is not None else -math.inf
        lo_o = override.low if override.low is not None else -math.inf
        hi_b = base_value if base_value is not None else math.inf
        hi_o = override.value if override.value is not None else math.inf
        return lo_o >= lo_b and hi_o <= hi_b and (lo_o, hi_o) != (lo_b, hi_b)
    return override.value is not None and (base_value is None or override.value < base_value)


class Catalogue:
    """All loaded limits and rules. Build with :func:`load_catalogue`."""

    def __init__(self, standards: list[StandardFile], overrides: Iterable[OverrideFile] = (), *,
                 air_standard: str = AIR_STANDARD, air_region: str = AIR_REGION):
        self.standards = {f.standard: f for f in resolve_inherit(list(standards))}
        self.overrides = list(overrides)
        self.air_standard = air_standard
        self.air_region = air_region
        self.limits: list[Limit] = [lim for f in self.standards.values() for lim in f.limits]
        self.rules: dict[str, Rule] = {}
        for f in self.standards.values():
            for r in f.rules:
                self.rules[r.name] = r
        self.override_limits: list[Limit] = [lim for o in self.overrides for lim in o.limits]
        names: dict[str, str] = {}
        for lim in self.limits:
            names.setdefault(lim.parameter.lower(), lim.parameter)
            if lim.name:
                names.setdefault(lim.name.lower(), lim.parameter)
                names.setdefault(lim.name.split(" ")[0].lower(), lim.parameter)
        names.update({"so2": "a21026", "nox": "a21002", "particulate": "a34013", "dust": "a34013",
                      "nmhc": "a24088", "benzene": "a25002", "toluene": "a25003", "xylene": "a25005",
                      "cod": "w01018", "nh3-n": "w21003", "tp": "w21011", "tn": "w21001", "ph": "w01001",
                      "bod5": "w01017", "ss": "w01012"})
        self._names = names

    # look-ups ---------------------------------------------------------------------------------------
    def rule(self, name: str) -> Rule:
        try:
            return self.rules[name]
        except KeyError:
            raise KeyError(f"no rule {name!r} in the limits catalogue; known: {', '.join(self.rules)}") from None

    def parameter_code(self, name_or_code: str) -> str:
        """``SO2``/``二氧化硫``/``a21026`` → ``a21026``."""
        key = name_or_code.strip().lower()
        if key in self._names:
            return self._names[key]
        raise KeyError(f"unknown pollutant {name_or_code!r}; known codes: "
                       f"{', '.join(sorted({lim.parameter for lim in self.limits}))}")

    def find(self, *, standard: str | None = None, parameter: str | None = None, check: str | None = None,
             context: Mapping[str, Any] | None = None, on: dt.date | None = None) -> list[Limit]:
        return [lim for lim in self.limits
                if (standard is None or lim.standard == standard)
                and (parameter is None or lim.parameter == parameter)
                and (check is None or lim.check == check)
                and (context is None or lim.matches(context))
                and lim.effective(on, (context or {}).get("built"))]

    def frame(self, standard: str | None = None, parameter: str | None = None,
              include_overrides: bool = True) -> pd.DataFrame:
        """Everything loaded, one row per limit value, with its source and status (``limits show``)."""
        rows = []
        code = self._names.get(parameter.strip().lower(), parameter) if parameter else None
        for lim in self.limits + (self.override_limits if include_overrides else []):
            if standard and lim.standard != standard:
                continue
            if code and lim.parameter != code:
                continue
            value = (f"{lim.low:g}–{lim.value:g}" if lim.low is not None
                     else ", ".join(f"{h:g}m:{q:g}" for h, q in lim.rate_table) if lim.rate_table
                     else f"{lim.value:g}" + (f" ({lim.cold_value:g} ≤ {lim.cold_max_temp_c:g} °C)"
                                               if lim.cold_value is not None else ""))
            applies = {**lim.applies_to, **{f"target.{k}": v for k, v in lim.target.items()}}
            rows.append({"standard": lim.standard, "clause": lim.clause, "parameter": lim.parameter,
                         "name": lim.name, "check": lim.check, "averaging": lim.averaging,
                         "applies_to": ", ".join(f"{k}={v}" for k, v in applies.items()),
                         "value": value, "unit": lim.unit, "status": lim.status,
                         "source": lim.source + (f" — {lim.reason}" if lim.reason else ""),
                         "effective_from": lim.effective_from, "effective_to": lim.effective_to})
        return pd.DataFrame(rows)

    def stack_rate(self, pollutant: str, height_m: float, above_buildings: bool = True,
                   standard: str | None = None) -> RateLimit:
        """Height-based rate limit for ``pollutant`` (code or name) under the air standard (DB 50/418-2016
        其他区域 by default), applying GB 16297-1996 §7 interpolation, extrapolation and halving."""
        lim = self.rate_entry(pollutant, standard)
        q, rule = rate_from_table(lim.rate_table, height_m, above_buildings,
                                  low_stack_factor=self._factor("rate_halved_below_15m"),
                                  building_factor=self._factor("rate_halved_not_above_buildings"))
        return RateLimit(lim.parameter, float(height_m), above_buildings, q, rule, lim)

    def rate_entry(self, pollutant: str, standard: str | None = None) -> Limit:
        """The height-based rate table (a :class:`Limit` with ``rate_table``) of ``pollutant`` under the air
        standard (DB 50/418-2016 其他区域 by default)."""
        code = self.parameter_code(pollutant)
        std = standard or self.air_standard
        ctx = {"kind": "stack", "region": self.air_region, "grade": AIR_GRADE, "built": None}
        found = [lim for lim in self.find(standard=std, parameter=code, check="rate", context=ctx)
                 if lim.rate_table]
        if not found:
            raise KeyError(f"{std} has no height-based emission rate for {pollutant!r} ({code})")
        return found[0]

    def equivalent_stack(self, pollutant: str, heights: list[float], distances: list[float] | None = None,
                         above_buildings: bool = True) -> dict[str, Any]:
        """GB 16297-1996 §7.2 附录A for stacks of ``heights`` (m): whether they combine (each distance — to the
        previous equivalent stack — below the sum of heights) and the rate limit at the equivalent height
        √((h1² + h2²)/2), applied pairwise in order (``envmon limits rate --height H1 --height H2``)."""
        if len(heights) < 2:
            raise ValueError("an equivalent stack needs at least two stack heights")
        if distances is not None and len(distances) != len(heights) - 1:
            raise ValueError(f"give {len(heights) - 1} distance(s) for {len(heights)} stacks")
        h2, joined = float(heights[0]) ** 2, [float(heights[0])]
        for i, h in enumerate(heights[1:]):
            if distances is not None and not distances[i] < math.sqrt(h2) + h:
                break
            h2 = (h2 + float(h) ** 2) / 2
            joined.append(float(h))
        combined = len(joined) >= 2
        h_eq = math.sqrt(h2) if combined else float(heights[0])
        r = self.stack_rate(pollutant, h_eq, above_buildings)
        return {**r.as_dict(), "combined": combined, "heights_m": [float(h) for h in heights],
                "joined_heights_m": joined, "distances_m": distances, "equivalent_height_m": round(h_eq, 3),
                "clause": f"{r.limit.clause}; GB 16297-1996 §7.2 附录A 等效排气筒",
                "rule": (f"equivalent stack of {len(joined)} (h = √((h1² + h2²)/2) = {h_eq:.2f} m): {r.rule}"
                         if combined else f"not combined: distance ≥ sum of heights (§7.2); {r.rule}")}

    def rate_factor(self, rule_name: str) -> float:
        """The halving factor of GB 16297-1996 §7.1 / §7.4 (rules ``rate_halved_*``)."""
        return self._factor(rule_name)

    def _factor(self, rule_name: str) -> float:
        r = self.rules.get(rule_name)
        return float(r.value) if r is not None and r.value is not None else 0.5

    def lmax_allowance(self, noise_type: str) -> float:
        """dB(A) by which night Lmax may exceed the night Leq limit (GB 12348-2008 4.1.2/4.1.3)."""
        if noise_type not in ("frequent", "sporadic"):
            raise ValueError(f"noise type must be 'frequent' or 'sporadic', got {noise_type!r}")
        return float(self.rule(f"lmax_allowance_{noise_type}").value)

    def background_rule(self) -> BackgroundRule:
        """GB 12348-2008 §5.9 表7: thresholds on the raw difference and the bands on the rounded one."""
        r = self.rule("background_correction")
        return BackgroundRule(invalid_below=float(r.extra["invalid_below"]), none_above=float(r.extra["none_above"]),
                              bands=tuple(sorted((int(a), float(b)) for a, b in r.extra["bands"])),
                              clause=r.clause)

    def indoor_reduction(self) -> float:
        """dB(A) subtracted from 表1 when the boundary is closer than 1 m to a noise-sensitive building and
        the noise is measured indoors (GB 12348-2008 4.1.5)."""
        return float(self.rule("indoor_reduction").value)

    def noise_limit(self, zone_class: int, period: str) -> Limit:
        check = {"day": "leq_day", "night": "leq_night"}.get(period)
        if check is None:
            raise ValueError(f"period must be 'day' or 'night', got {period!r}")
        found = self.find(standard=NOISE_STANDARD, check=check, context={"kind": "noise", "zone_class": zone_class})
        if not found:
            raise KeyError(f"{NOISE_STANDARD} has no {period} limit for zone class {zone_class!r}")
        return found[0]

    # per-point resolution ----------------------------------------------------------------------------
    def point_context(self, point: Any, registry: Any = None) -> tuple[str | None, dict[str, Any]]:
        """(standard id, applies_to context) for a registry point; (None, {}) for kinds without limits.

        ``built`` (the point's build date, None when unknown) is in every context; ``special_area`` (the
        zone's GB 37822 designation) in the in-site VOCs one."""
        kind = point.kind
        built = getattr(point, "built", None)
        if kind in ("stack", "fugitive"):
            return self.air_standard, {"kind": kind, "region": self.air_region, "grade": AIR_GRADE, "built": built}
        if kind == "insite_vocs":
            zone = getattr(registry, "zones", {}).get(point.zone) if registry is not None else None
            return INSITE_STANDARD, {"kind": kind, "built": built,
                                     "special_area": bool(getattr(zone, "vocs_special_area", False))}
        if kind == "noise":
            return NOISE_STANDARD, {"kind": kind, "zone_class": point.zone_class, "built": built}
        if kind in ("wastewater", "plant_effluent"):
            if point.standard not in self.standards:
                raise LimitsError(f"point {point.id}: standard {point.standard!r} is not in the limits catalogue "
                                  f"(known: {', '.join(self.standards)})")
            return point.standard, {"kind": kind, "grade": str(point.grade), "built": built}
        if kind == "ambient_air":
            return AMBIENT_STANDARD, {"kind": kind, "air_class": "2"}
        if kind == "groundwater":
            return GROUNDWATER_STANDARD, {"kind": kind, "gw_class": "III"}
        if kind == "soil":
            return SOIL_STANDARD, {"kind": kind, "land_class": str(getattr(point, "land_class", 2))}
        return None, {}

    def _overrides_for(self, point: Any, parameter: str, check: str, on: dt.date | None) -> list[Limit]:
        ids = {"point": point.id, "enterprise": point.enterprise or "", "zone": point.zone}
        return [o for o in self.override_limits
                if o.parameter == parameter and o.check == check and o.effective(on)
                and all(ids.get(k) == v for k, v in o.target.items())
                and (not o.applies_to or o.matches({"kind": point.kind, **self.point_context(point)[1]}))]

    def point_limits(self, registry: Any, on: dt.date | None = None) -> pd.DataFrame:
        """One row per (point, parameter, check): the limit that applies, after overrides.

        Stack rates are resolved from the point's ``height_m``/``above_buildings`` (rule in ``note``); noise
        points get a derived ``lmax_night`` row (night limit + 10/15 dB(A) by ``noise_type``). When an
        override is stricter its value, document and clause are reported (status ``override``, the replaced
        value in ``note``); when it is looser the standard stays and ``note`` says so.
        """
        rows: list[dict[str, Any]] = []
        for point in registry:
            std, ctx = self.point_context(point, registry)
            if std is None:
                continue
            base = self.find(standard=std, context=ctx, on=on)
            seen: set[tuple[str, str]] = set()
            for lim in base:
                key = (lim.parameter, lim.check)
                if key in seen:   # first match wins; files are sorted, own entries precede inherited ones
                    continue
                seen.add(key)
                value, note = lim.value, ""
                if ctx.get("built") is None and ("built" in lim.applies_to or lim.existing_before):
                    note = ("no 'built' date in the registry: taken as "
                            + ("built from " + str(lim.applies_to["built"].from_) if "built" in lim.applies_to
                               else f"an existing source (bound from {lim.existing_from})"))
                if lim.check == "rate":
                    value, note = rate_from_table(lim.rate_table, point.height_m, point.above_buildings,
                                                  low_stack_factor=self._factor("rate_halved_below_15m"),
                                                  building_factor=self._factor("rate_halved_not_above_buildings"))
                    note = f"rate limit for {point.height_m:g} m: {note}"
                if kind_is_noise(point) and getattr(point, "indoor", False):
                    lim = self._indoor(lim)
                    value = lim.value
                rows.append(self._row(point, lim, value, note, on))
                if lim.check == "leq_night":
                    allowance = self.lmax_allowance(point.noise_type)
                    rule = self.rule(f"lmax_allowance_{point.noise_type}")
                    rows.append(self._row(point, Limit(
                        standard=lim.standard, parameter="LMx", check="lmax_night", averaging="night",
                        unit=lim.unit, value=lim.value + allowance, status=lim.status,
                        source=f"{lim.source}; {rule.clause}", clause=f"{lim.clause} + {allowance:g} dB(A) "
                        f"({point.noise_type} noise, {rule.clause})", origin=lim.origin), lim.value + allowance,
                        "", on))
            # override entries that add a limit the standard does not have for this point
            for o in self.override_limits:
                if (o.parameter, o.check) in seen or not o.effective(on):
                    continue
                ids = {"point": point.id, "enterprise": point.enterprise or "", "zone": point.zone}
                if o.target and all(ids.get(k) == v for k, v in o.target.items()) \
                        and (not o.applies_to or o.matches({"kind": point.kind, **ctx})):
                    seen.add((o.parameter, o.check))
                    rows.append(self._limit_row(point, o, o.value, f"set by {o.standard} (no standard limit)"))
        frame = pd.DataFrame(rows, columns=list(POINT_LIMIT_COLUMNS))
        return frame.astype(POINT_LIMIT_COLUMNS)

    def _indoor(self, lim: Limit) -> Limit:
        """GB 12348-2008 4.1.5: the 表1 value − 10 dB(A) for a point measured indoors."""
        reduction = self.indoor_reduction()
        return replace(lim, value=lim.value - reduction,
                       clause=f"{lim.clause} − {reduction:g} dB(A) (室内测量, 4.1.5)")

    def _row(self, point: Any, lim: Limit, value: float | None, note: str, on: dt.date | None) -> dict[str, Any]:
        applied, applied_value = lim, value
        for o in self._overrides_for(point, lim.parameter, lim.check, on):
            if _stricter(lim if applied is lim else applied, applied_value, o):
                note = (note + "; " if note else "") + (
                    f"{o.standard} stricter than {lim.standard} {lim.clause} ({_fmt(lim, value)})")
                applied, applied_value = o, o.value
            else:
                note = (note + "; " if note else "") + (
                    f"{o.standard} ({_fmt(o, o.value)}) not stricter, {lim.standard} applies")
        return self._limit_row(point, applied, applied_value, note)

    @staticmethod
    def _limit_row(point: Any, lim: Limit, value: float | None, note: str) -> dict[str, Any]:
        source = lim.source + (f"; provisional: {lim.reason}" if lim.status == "provisional" and lim.reason
                               else "")
        return {"point": point.id, "zone": point.zone, "enterprise": point.enterprise, "kind": point.kind,
                "parameter": lim.parameter, "check": lim.check, "averaging": lim.averaging,
                "limit": value, "limit_low": lim.low, "cold_limit": lim.cold_value,
                "cold_max_temp_c": lim.cold_max_temp_c, "unit": lim.unit, "standard": lim.standard,
                "clause": lim.clause, "limit_status": lim.status, "limit_source": source, "note": note}


def kind_is_noise(point: Any) -> bool:
    return getattr(point, "kind", None) == "noise"


def _fmt(lim: Limit, value: float | None) -> str:
    if lim.low is not None:
        return f"{lim.low:g}–{value:g} {lim.unit}"
    return f"{value:g} {lim.unit}" if value is not None else "no value"


def load_catalogue(override: str | Path | None = None, directory: str | Path = DATA_DIR) -> Catalogue:
    """Load the packaged standards and, when given, the local override file.

    Parameters
    ----------
    override : path or None
        Local limit override (EIA approval / permit values); the deployment's is
        ``Settings.limits_override`` (``$ENVMON_LIMITS_OVERRIDE``), passed in by the caller.
    directory : path
        Folder of the standards' YAML files (the packaged ``limits/data``).
    """
    overrides: list[OverrideFile] = []
    if override:
        overrides.append(load_override(override))
    return Catalogue(load_standards(directory), overrides)
