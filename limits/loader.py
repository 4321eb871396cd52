"""Read limit files (``limits/data/*.yaml`` and a local override file) into :class:`Limit` and :class:`Rule`.

The grammar is documented in ``limits/README.md``. Every error is a :class:`LimitsError` whose message
names the file, the entry and the reason, e.g.::

    gb8978-1996.yaml: limits[3] (w21003): values: 2 values for 3 grades
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from monitoring.datafile import read_yaml

#: How sure a value is. ``provisional`` = taken from another standard until the official table is read;
#: ``override`` = from a local EIA approval / discharge permit.
STATUSES = ("text", "quoted", "unconfirmed", "provisional", "override")
#: What a limit is compared with (the ``check`` column of the assessments frame).
CHECKS = ("concentration", "rate", "boundary", "single_reading", "leq_day", "leq_night", "lmax_night",
          "daily_mean", "ph_range")
AVERAGINGS = ("1h", "1d", "day", "night", "single", "event")
#: The averaging period each check implies when an override entry does not say.
DEFAULT_AVERAGING = {"concentration": "1h", "rate": "1h", "boundary": "1h", "single_reading": "single",
                     "leq_day": "day", "leq_night": "night", "lmax_night": "night", "daily_mean": "1d",
                     "ph_range": "1d"}

DATA_DIR = Path(__file__).resolve().parent / "data"


class LimitsError(ValueError):
    """A limit file is malformed; the message names the file, the entry and the reason."""


@dataclass(frozen=True)
class Limit:
    """One limit value with its provenance.

    ``value`` is the upper limit; ``low`` is the lower bound of a range (pH) else ``None``;
    ``rate_table`` holds (height m, rate kg/h) pairs for height-based emission rates (GB 16297 表2);
    ``cold_value`` applies instead of ``value`` when the water temperature is ≤ ``cold_max_temp_c`` °C
    (GB 18918-2002 表1 NH₃-N bracket values).
    """

    standard: str
    parameter: str
    check: str
    averaging: str
    unit: str
    value: float | None
    status: str
    source: str
    clause: str = ""
    name: str = ""
    title: str = ""
    low: float | None = None
    rate_table: tuple[tuple[float, float], ...] | None = None
    cold_value: float | None = None
    cold_max_temp_c: float | None = None
    applies_to: Mapping[str, Any] = field(default_factory=dict)
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    reason: str = ""                       # why the status is what it is (provisional / override)
    origin: str = ""                       # file and entry the value was read from
    target: Mapping[str, str] = field(default_factory=dict)  # override only: point / enterprise / zone

    def effective(self, on: dt.date | None) -> bool:
        if on is None:
            return True
        return ((self.effective_from is None or self.effective_from <= on)
                and (self.effective_to is None or on < self.effective_to))

    def matches(self, context: Mapping[str, Any]) -> bool:
        """True when every ``applies_to`` key is in ``context`` with an equal value (lists: membership)."""
        for key, want in self.applies_to.items():
            if key not in context:
                return False
            have = str(context[key])
            wants = [str(w) for w in want] if isinstance(want, (list, tuple)) else [str(want)]
            if have not in wants:
                return False
        return True


@dataclass(frozen=True)
class Rule:
    """A non-tabular rule with its source (rate halving, Lmax allowance, storage days, …)."""

    name: str
    standard: str
    value: Any = None
    unit: str = ""
    clause: str = ""
    status: str = "text"
    source: str = ""
    text: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""


@dataclass(frozen=True)
class StandardFile:
    """One parsed file: its header, its limits and rules, and an optional ``inherit`` clause."""

    standard: str
    title: str
    path: str
    limits: tuple[Limit, ...]
    rules: tuple[Rule, ...]
    inherit: Mapping[str, Any] | None = None
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    status: str = "text"
    source: str = ""
    notes: str = ""


@dataclass(frozen=True)
class OverrideFile:
    """A local override (EIA approval or permit): stricter values merged on top of the standards."""

    document: str
    path: str
    limits: tuple[Limit, ...]
    kind: str = ""
    issued: dt.date | None = None


# ---------------------------------------------------------------------------------------------------
def _read_yaml(path: Path) -> dict:
    raw = read_yaml(path, LimitsError, "limits file", name=path.name)
    if not isinstance(raw, dict):
        raise LimitsError(f"{path.name}: top level must be a mapping")
    return raw


def _date(value: Any, where: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise LimitsError(f"{where}: not an ISO date: {value!r}") from None


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LimitsError(f"{where}: expected a number, got {value!r}")
    if value < 0:
        raise LimitsError(f"{where}: a limit cannot be negative ({value})")
    return float(value)


def _status(value: Any, where: str) -> str:
    if value not in STATUSES:
        raise LimitsError(f"{where}: status must be one of {', '.join(STATUSES)}, got {value!r}")
    return str(value)


def _check_fields(lim: Limit, where: str) -> Limit:
    if lim.check not in CHECKS:
        raise LimitsError(f"{where}: check must be one of {', '.join(CHECKS)}, got {lim.check!r}")
    if lim.averaging not in AVERAGINGS:
        raise LimitsError(f"{where}: averaging must be one of {', '.join(AVERAGINGS)}, got {lim.averaging!r}")
    if not lim.parameter:
        raise LimitsError(f"{where}: parameter missing")
    if not lim.unit:
        raise LimitsError(f"{where}: unit missing")
    if lim.value is None and lim.rate_table is None:
        raise LimitsError(f"{where}: needs a value, a range or a rate table")
    if lim.low is not None and lim.value is not None and lim.low >= lim.value:
        raise LimitsError(f"{where}: range low {lim.low} is not below high {lim.value}")
    return lim


def _rate_table(raw: Any, where: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, dict) or len(raw) < 2:
        raise LimitsError(f"{where}: rate must map ≥ 2 stack heights (m) to rates (kg/h)")
    pairs = sorted((_number(h, f"{where} height"), _number(q, f"{where} at {h} m")) for h, q in raw.items())
    qs = [q for _, q in pairs]
    if any(b < a for a, b in pairwise(qs)):
        raise LimitsError(f"{where}: rates must not fall with height")
    return tuple(pairs)


def _value_or_range(raw: Any, where: str) -> tuple[float | None, float | None]:
    """``12`` → (None, 12.0); ``[6, 9]`` → (6.0, 9.0)."""
    if isinstance(raw, (list, tuple)):
        if len(raw) != 2:
            raise LimitsError(f"{where}: a range is [low, high], got {raw!r}")
        return _number(raw[0], where), _number(raw[1], where)
    return None, _number(raw, where)


def parse_standard(raw: dict, path: str | Path = "<limits>") -> StandardFile:
    """Validate one standard file's mapping and expand its compact forms into :class:`Limit` entries."""
    name = Path(path).name
    std = raw.get("standard")
    if not std:
        raise LimitsError(f"{name}: 'standard' (the standard id) is required")
    title = str(raw.get("title", ""))
    file_status = _status(raw.get("status", "text"), f"{name}: status")
    file_source = str(raw.get("source", ""))
    eff_from = _date(raw.get("effective_from"), f"{name}: effective_from")
    eff_to = _date(raw.get("effective_to"), f"{name}: effective_to")
    defaults = dict(raw.get("defaults") or {})
    base = dict(standard=str(std), title=title, effective_from=eff_from, effective_to=eff_to)
    limits: list[Limit] = []

    def common(entry: dict, where: str) -> dict:
        merged = {**defaults, **entry}
        applies = {**(defaults.get("applies_to") or {}), **(entry.get("applies_to") or {})}
        return dict(
            base,
            parameter=str(merged.get("parameter") or merged.get("code") or ""),
            name=str(merged.get("name", "")),
            clause=str(merged.get("clause", "")),
            averaging=str(merged.get("averaging", "")),
            unit=str(merged.get("unit", "")),
            check=str(merged.get("check", "")),
            status=_status(merged.get("status", file_status), f"{where}: status"),
            source=str(merged.get("source", file_source)),
            applies_to=applies,
            effective_from=_date(merged.get("effective_from"), where) or eff_from,
            effective_to=_date(merged.get("effective_to"), where) or eff_to,
        )

    # compact air table (GB 16297 表2 style): one row per pollutant → concentration, rate, boundary
    for i, p in enumerate(raw.get("pollutants") or []):
        where = f"{name}: pollutants[{i}] ({p.get('code', '?') if isinstance(p, dict) else '?'})"
        if not isinstance(p, dict):
            raise LimitsError(f"{where}: must be a mapping")
        c = common(p, where)
        if "concentration" in p:
            limits.append(_check_fields(Limit(**{**c, "check": "concentration", "unit": "mg/m3",
                                                 "applies_to": {**c["applies_to"], "kind": "stack"}},
                                              value=_number(p["concentration"], f"{where}: concentration"),
                                              origin=where), where))
        if "rate" in p:
            limits.append(_check_fields(Limit(**{**c, "check": "rate", "unit": "kg/h",
                                                 "applies_to": {**c["applies_to"], "kind": "stack"}},
                                              value=None, rate_table=_rate_table(p["rate"], f"{where}: rate"),
                                              origin=where), where))
        if "boundary" in p:
            limits.append(_check_fields(Limit(**{**c, "check": "boundary", "unit": "mg/m3",
                                                 "clause": c["clause"].replace("表2", "表2 无组织排放监控浓度限值")
                                                 if c["clause"] else "无组织排放监控浓度限值",
                                                 "applies_to": {**c["applies_to"], "kind": "fugitive"}},
                                              value=_number(p["boundary"], f"{name}: {where}: boundary"),
                                              origin=where), where))

    # generic list; ``values`` per grade when the file declares ``grades``
    grades = [str(g) for g in raw.get("grades") or []]
    for i, e in enumerate(raw.get("limits") or []):
        label = e.get("parameter") or defaults.get("parameter") or "?" if isinstance(e, dict) else "?"
        where = f"{name}: limits[{i}] ({label})"
        if not isinstance(e, dict):
            raise LimitsError(f"{where}: must be a mapping")
        c = common(e, where)
        if "values" in e:
            if not grades:
                raise LimitsError(f"{where}: 'values' needs a file-level 'grades' list")
            vals = e["values"]
            if not isinstance(vals, list) or len(vals) != len(grades):
                raise LimitsError(f"{where}: values: {len(vals) if isinstance(vals, list) else '?'} values "
                                  f"for {len(grades)} grades")
            colds = e.get("cold_values")
            if colds is not None and (not isinstance(colds, list) or len(colds) != len(grades)):
                raise LimitsError(f"{where}: cold_values must have one value per grade")
            for g, v, cold in zip(grades, vals, colds or [None] * len(grades)):
                if v is None:  # "–" in the table: no limit for this grade
                    continue
                low, high = _value_or_range(v, f"{where} grade {g}")
                limits.append(_check_fields(Limit(
                    **{**c, "applies_to": {**c["applies_to"], "grade": g}}, value=high, low=low,
                    cold_value=None if cold is None else _number(cold, f"{where} cold grade {g}"),
                    cold_max_temp_c=e.get("cold_max_temp_c"), origin=f"{where} grade {g}"), where))
        else:
            if "value" not in e and "range" not in e and "rate" not in e:
                raise LimitsError(f"{where}: needs value, range or rate")
            low, high = _value_or_range(e.get("range", e.get("value")), where) \
                if ("value" in e or "range" in e) else (None, None)
            limits.append(_check_fields(Limit(
                **c, value=high, low=low,
                rate_table=_rate_table(e["rate"], f"{where}: rate") if "rate" in e else None,
                cold_value=e.get("cold_value"), cold_max_temp_c=e.get("cold_max_temp_c"),
                reason=str(e.get("reason", "")), origin=where), where))

    rules: list[Rule] = []
    for i, r in enumerate(raw.get("rules") or []):
        where = f"{name}: rules[{i}]"
        if not isinstance(r, dict) or not r.get("name"):
            raise LimitsError(f"{where}: a rule is a mapping with a 'name'")
        known = {"name", "standard", "value", "unit", "clause", "status", "source", "text"}
        rules.append(Rule(name=str(r["name"]), standard=str(r.get("standard", std)), value=r.get("value"),
                          unit=str(r.get("unit", "")), clause=str(r.get("clause", "")),
                          status=_status(r.get("status", file_status), f"{where}: status"),
                          source=str(r.get("source", file_source)), text=str(r.get("text", "")).strip(),
                          extra={k: v for k, v in r.items() if k not in known}, origin=where))
    inherit = raw.get("inherit")
    if inherit is not None and (not isinstance(inherit, dict) or not inherit.get("standard")):
        raise LimitsError(f"{name}: inherit: needs at least 'standard'")
    return StandardFile(standard=str(std), title=title, path=str(path), limits=tuple(limits),
                        rules=tuple(rules), inherit=inherit, effective_from=eff_from, effective_to=eff_to,
                        status=file_status, source=file_source, notes=str(raw.get("notes", "")).strip())


def load_standard(path: str | Path) -> StandardFile:
    path = Path(path)
    return parse_standard(_read_yaml(path), path)


def load_standards(directory: str | Path = DATA_DIR) -> list[StandardFile]:
    """Every ``*.yaml`` in ``directory`` (the packaged catalogue by default), sorted by file name."""
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise LimitsError(f"{directory}: no limit files (*.yaml)")
    out = [load_standard(p) for p in files]
    seen: dict[str, str] = {}
    for f in out:
        if f.standard in seen:
            raise LimitsError(f"{Path(f.path).name}: standard {f.standard!r} already defined in {seen[f.standard]}")
        seen[f.standard] = Path(f.path).name
    return out


def resolve_inherit(files: list[StandardFile]) -> list[StandardFile]:
    """Copy the limits of the standard named in ``inherit`` into the inheriting file.

    The copies carry the inheriting standard's id, the ``inherit`` clause text, ``applies_to`` merged
    with the inherit's, and status/reason from ``inherit`` (normally ``provisional`` with the reason).
    A limit the inheriting file defines itself (same parameter, check and applies_to) wins over the copy.
    """
    by_id = {f.standard: f for f in files}
    out = []
    for f in files:
        if not f.inherit:
            out.append(f)
            continue
        parent = by_id.get(str(f.inherit["standard"]))
        if parent is None:
            raise LimitsError(f"{Path(f.path).name}: inherit: unknown standard {f.inherit['standard']!r}")
        extra_applies = dict(f.inherit.get("applies_to") or {})
        own = {(lim.parameter, lim.check, tuple(sorted((k, str(v)) for k, v in lim.applies_to.items())))
               for lim in f.limits}
        copies = []
        for lim in parent.limits:
            applies = {**lim.applies_to, **extra_applies}
            key = (lim.parameter, lim.check, tuple(sorted((k, str(v)) for k, v in applies.items())))
            if key in own:
                continue
            copies.append(replace(
                lim, standard=f.standard, title=f.title, applies_to=applies,
                clause=str(f.inherit.get("clause", lim.clause)),
                status=_status(f.inherit.get("status", "provisional"), f"{Path(f.path).name}: inherit"),
                reason=str(f.inherit.get("reason", "")).strip(),
                source=f"{lim.source} (via {f.standard} inherit)",
                effective_from=f.effective_from, effective_to=f.effective_to,
                origin=f"{Path(f.path).name}: inherit ← {lim.origin}"))
        out.append(replace(f, limits=tuple(copies) + f.limits))
    return out


TARGET_KEYS = ("point", "enterprise", "zone")


def parse_override(raw: dict, path: str | Path = "<override>") -> OverrideFile:
    """Validate a local override file (EIA approval / permit values), see README "Override files"."""
    name = Path(path).name
    doc = raw.get("document")
    if not doc:
        raise LimitsError(f"{name}: 'document' (the approval or permit number) is required")
    limits = []
    for i, e in enumerate(raw.get("limits") or []):
        where = f"{name}: limits[{i}] ({e.get('parameter', '?') if isinstance(e, dict) else '?'})"
        if not isinstance(e, dict):
            raise LimitsError(f"{where}: must be a mapping")
        target = e.get("target") or {}
        if not isinstance(target, dict) or any(k not in TARGET_KEYS for k in target):
            raise LimitsError(f"{where}: target may only name {', '.join(TARGET_KEYS)}")
        if "value" not in e and "range" not in e:
            raise LimitsError(f"{where}: needs value or range")
        low, high = _value_or_range(e.get("range", e.get("value")), where)
        limits.append(_check_fields(Limit(
            standard=str(doc), title=str(raw.get("title", "")), parameter=str(e.get("parameter", "")),
            check=str(e.get("check", "")),
            averaging=str(e.get("averaging") or DEFAULT_AVERAGING.get(str(e.get("check")), "")),
            unit=str(e.get("unit", "")),
            value=high, low=low, status="override",
            source=str(e.get("source", f"{doc} ({raw.get('kind', 'override')})")),
            clause=str(e.get("clause", "")), applies_to=dict(e.get("applies_to") or {}),
            effective_from=_date(e.get("effective_from", raw.get("issued")), where),
            effective_to=_date(e.get("effective_to"), where),
            target={k: str(v) for k, v in target.items()}, origin=where), where))
    return OverrideFile(document=str(doc), path=str(path), limits=tuple(limits), kind=str(raw.get("kind", "")),
                        issued=_date(raw.get("issued"), f"{name}: issued"))


def load_override(path: str | Path) -> OverrideFile:
    path = Path(path)
    return parse_override(_read_yaml(path), path)
