"""Safety alarm thresholds: first level (一级, warning) and second level (二级, act now) per sensor.

Sources, in order of precedence for a sensor point:

1. the plant's safety plan (``monitoring/data/safety_plans.yaml`` or ``$ENVMON_SAFETY_PLANS``): entries
   targeting the point or its enterprise **replace** the shipped value of that (parameter, level) —
   GB/T 50493-2019 gives maxima ("≤ 25 % LEL"), GB 15577-2018 leaves dust-collector settings to the
   plant; the applied row then has status ``override`` and the plan document as its source;
2. the limits catalogue: checks ``alarm_1``/``alarm_2`` with ``applies_to: {kind: safety, sensor: …}``
   (``limits/data/gbt50493-2019.yaml``, ``confined-space.yaml``, ``gb15577-2018.yaml``), each value with
   the status the reference gives (all ``unconfirmed`` today).

A threshold is an upper setting (alarm when the reading is **at or above** it — GB/T 50493 speaks of
alarm *settings* that the concentration reaches) or a range (O₂ 19.5–23.5 % vol: alarm when the reading
is outside it). :func:`levels` evaluates a vector of readings at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.config import PACKAGE_DATA
from sensors.datafile import read_yaml

SAFETY_PLANS_FILE = PACKAGE_DATA / "safety_plans.yaml"
LEVEL_CHECKS = {1: "alarm_1", 2: "alarm_2"}
LEVEL_NAMES_ZH = {1: "一级报警", 2: "二级报警"}

THRESHOLD_COLUMNS: dict[str, str] = {
    "point": "string", "zone": "string", "enterprise": "string", "sensor": "string",
    "parameter": "string", "level": "int64", "value": "float64", "low": "float64", "unit": "string",
    "standard": "string", "clause": "string", "status": "string", "source": "string",
}


class SafetyPlanError(ValueError):
    """The safety-plan file is malformed; the message names file, entry and reason."""


@dataclass(frozen=True)
class PlanThreshold:
    document: str
    target: dict[str, str]
    parameter: str
    level: int
    value: float | None
    low: float | None
    unit: str
    clause: str
    where: str


def load_safety_plans(path: str | Path | None = None) -> list[PlanThreshold]:
    """Read the plants' safety-plan thresholds (see the file's header for the grammar)."""
    path = Path(path) if path else SAFETY_PLANS_FILE
    raw = read_yaml(path, SafetyPlanError, "safety plan file")
    if not isinstance(raw, dict) or not isinstance(raw.get("plans", []), list):
        raise SafetyPlanError(f"{path.name}: top level must be a mapping with a 'plans' list")
    out: list[PlanThreshold] = []
    for i, plan in enumerate(raw.get("plans") or []):
        where = f"{path.name}: plans[{i}]"
        if not isinstance(plan, dict) or not plan.get("document"):
            raise SafetyPlanError(f"{where}: needs 'document' (the plan's number or title)")
        target = plan.get("target") or {}
        if not isinstance(target, dict) or len(target) != 1 or next(iter(target)) not in ("enterprise", "point"):
            raise SafetyPlanError(f"{where}: target must name exactly one of enterprise, point")
        for j, t in enumerate(plan.get("thresholds") or []):
            w = f"{where}.thresholds[{j}]"
            if not isinstance(t, dict) or not t.get("parameter"):
                raise SafetyPlanError(f"{w}: needs 'parameter'")
            level = t.get("level")
            if level not in (1, 2):
                raise SafetyPlanError(f"{w}: level must be 1 or 2, got {level!r}")
            low = value = None
            if "range" in t:
                rng = t["range"]
                if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(x, (int, float)) for x in rng)
                        and rng[0] < rng[1]):
                    raise SafetyPlanError(f"{w}: range must be [low, high] with low < high")
                low, value = float(rng[0]), float(rng[1])
            elif isinstance(t.get("value"), (int, float)) and not isinstance(t.get("value"), bool):
                value = float(t["value"])
            else:
                raise SafetyPlanError(f"{w}: needs a numeric 'value' or a 'range'")
            if not t.get("unit"):
                raise SafetyPlanError(f"{w}: unit missing")
            out.append(PlanThreshold(str(plan["document"]), {k: str(v) for k, v in target.items()},
                                     str(t["parameter"]), int(level), value, low, str(t["unit"]),
                                     str(t.get("clause", "")), w))
    return out


def threshold_table(registry: Any, catalogue: Any, plans: list[PlanThreshold] | None = None) -> pd.DataFrame:
    """One row per (safety point, parameter, level) with the applied threshold and its provenance."""
    plans = load_safety_plans() if plans is None else plans
    rows: list[dict[str, Any]] = []
    for p in registry.points_of(kind="safety"):
        ctx = {"kind": "safety", "sensor": p.sensor}
        for parameter in p.parameters:
            for level, check in LEVEL_CHECKS.items():
                mine = [t for t in plans if t.parameter == parameter and t.level == level
                        and (t.target.get("point") == p.id or t.target.get("enterprise") == (p.enterprise or "\0"))]
                mine.sort(key=lambda t: "point" not in t.target)      # a point's own entry beats its plant's
                if mine:
                    t = mine[0]
                    rows.append({"point": p.id, "zone": p.zone, "enterprise": p.enterprise, "sensor": p.sensor,
                                     "parameter": parameter, "level": level, "value": t.value, "low": t.low, "unit": t.unit,
                                     "standard": t.document, "clause": t.clause, "status": "override",
                                     "source": f"{t.document} ({t.where})"})
                    continue
                found = catalogue.find(parameter=parameter, check=check, context=ctx)
                if not found:
                    continue
                lim = found[0]
                rows.append({"point": p.id, "zone": p.zone, "enterprise": p.enterprise, "sensor": p.sensor,
                                 "parameter": parameter, "level": level, "value": lim.value, "low": lim.low, "unit": lim.unit,
                                 "standard": lim.standard, "clause": lim.clause, "status": lim.status,
                                 "source": lim.source + (f" — {lim.reason}" if lim.reason else "")})
    frame = pd.DataFrame(rows, columns=list(THRESHOLD_COLUMNS))
    return frame.astype(THRESHOLD_COLUMNS)


def levels(values: np.ndarray, upper1: np.ndarray, low1: np.ndarray, upper2: np.ndarray,
           low2: np.ndarray) -> np.ndarray:
    """Alarm level 0/1/2 of each reading (vectorised). NaN thresholds mean "no such level".

    Upper setting: level reached when value ≥ setting. Range (``low`` given): reached when the value is
    below ``low`` or above the upper bound (O₂ 19.5–23.5 % vol).
    """
    v = np.asarray(values, dtype=float)

    def reached(upper: np.ndarray, low: np.ndarray) -> np.ndarray:
        upper = np.asarray(upper, dtype=float)
        low = np.asarray(low, dtype=float)
        is_range = ~np.isnan(low)
        over_upper = np.where(is_range, v > upper, v >= upper)
        under = is_range & (v < low)
        return np.nan_to_num(over_upper, nan=False).astype(bool) | under

    with np.errstate(invalid="ignore"):
        l2 = reached(upper2, low2)
        l1 = reached(upper1, low1)
    return np.where(l2, 2, np.where(l1, 1, 0)).astype("int64")


class Thresholds:
    """Threshold look-up by (point, parameter) for vectorised evaluation; build once per process."""

    def __init__(self, table: pd.DataFrame):
        self.table = table
        wide: dict[tuple[str, str], dict[str, float]] = {}
        for r in table.itertuples(index=False):
            d = wide.setdefault((r.point, r.parameter), {"u1": np.nan, "l1": np.nan, "u2": np.nan, "l2": np.nan})
            d[f"u{r.level}"] = r.value if r.value is not None else np.nan
            d[f"l{r.level}"] = r.low if r.low is not None and not pd.isna(r.low) else np.nan
        self._wide = wide
        self.rows = {(r.point, r.parameter, int(r.level)): r._asdict() for r in table.itertuples(index=False)}

    @classmethod
    def load(cls, registry: Any, catalogue: Any = None, plans_path: str | Path | None = None) -> Thresholds:
        if catalogue is None:
            from limits.catalogue import load_catalogue
            catalogue = load_catalogue()
        if plans_path is None:
            from monitoring.config import load_settings
            plans_path = getattr(load_settings(), "safety_plans_path", None)
        return cls(threshold_table(registry, catalogue, load_safety_plans(plans_path)))

    def watched(self, point: str, parameter: str) -> bool:
        return (point, parameter) in self._wide

    def evaluate(self, points: np.ndarray, parameters: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Level 0/1/2 for each (point, parameter, value); 0 where no threshold is configured."""
        nan4 = {"u1": np.nan, "l1": np.nan, "u2": np.nan, "l2": np.nan}
        cols = [self._wide.get((p, q), nan4) for p, q in zip(points, parameters)]
        if not cols:
            return np.zeros(0, dtype="int64")
        return levels(values, np.array([c["u1"] for c in cols]), np.array([c["l1"] for c in cols]),
                      np.array([c["u2"] for c in cols]), np.array([c["l2"] for c in cols]))

    def describe(self, point: str, parameter: str, level: int) -> dict[str, Any] | None:
        """The applied threshold row (value, low, unit, standard, clause, status, source) or ``None``."""
        return self.rows.get((point, parameter, int(level)))
