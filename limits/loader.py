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
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from sensors.datafile import read_yaml

#: How sure a value is. ``provisional`` = taken from another standard until the official table is read;
#: ``override`` = from a local EIA approval / discharge permit.
STATUSES = ("text", "quoted", "unconfirmed", "provisional", "override")
#: The statuses as a person reads them (alerts, reports, console, CLI): one wording everywhere.
STATUS_ZH: dict[str, str] = {"text": "标准原文", "quoted": "转引值", "unconfirmed": "待核实", "provisional": "暂定值",
                             "override": "地方核定值（环评批复/排污许可）"}
#: What a limit is compared with (the ``check`` column of the assessments frame).
CHECKS = ("concentration", "rate", "boundary", "single_reading", "leq_day", "leq_night", "lmax_night",
          "daily_mean", "ph_range",
          # issue #14: GB 3095-2012 ambient means, GB/T 14848-2017 class III, GB 36600-2018 screening /
          # control, safety alarm levels (GB/T 50493-2019 一级/二级)
          "ambient_1h", "ambient_24h", "ambient_8h", "ambient_year", "class_iii", "screening", "control",
          "alarm_1", "alarm_2")
#: Every ``check`` of the assessments frame as a person reads it (reports, console): the limits' checks
#: above and the hazardous-waste ledger's (:mod:`monitoring.compliance`); one wording everywhere.
CHECK_ZH: dict[str, str] = {
    "concentration": "排放浓度", "rate": "排放速率", "boundary": "厂界浓度", "single_reading": "任意一次浓度",
    "leq_day": "昼间等效声级", "leq_night": "夜间等效声级", "lmax_night": "夜间最大声级",
    "daily_mean": "日均浓度", "ph_range": "pH 范围",
    "ambient_1h": "1小时平均", "ambient_24h": "24小时平均", "ambient_8h": "8小时平均", "ambient_year": "年平均",
    "class_iii": "Ⅲ类限值", "screening": "筛选值", "control": "管制值", "alarm_1": "一级报警", "alarm_2": "二级报警",
    "storage_days": "贮存期限", "temporary_stock": "临时贮存量", "declaration": "申报", "manifest": "转移联单",
    "licence": "经营许可证"}
AVERAGINGS = ("1h", "1d", "day", "night", "single", "event", "8h", "1y")
#: The averaging period each check implies when an override entry does not say.
DEFAULT_AVERAGING = {"concentration": "1h", "rate": "1h", "boundary": "1h", "single_reading": "single",
                     "leq_day": "day", "leq_night": "night", "lmax_night": "night", "daily_mean": "1d",
                     "ph_range": "1d", "ambient_1h": "1h", "ambient_24h": "1d", "ambient_8h": "8h",
                     "ambient_year": "1y", "class_iii": "single", "screening": "single", "control": "single",
                     "alarm_1": "single", "alarm_2": "single"}

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
    existing_before: dt.date | None = None  # sources built before this date are "existing" …
    existing_from: dt.date | None = None    # … and bound only from this date (file ``existing_sources``)

    def starts(self, built: dt.date | None = None) -> dt.date | None:
        """The date the limit binds a source built on ``built`` (None = unknown: taken as existing, the
        later date, so that a source is never judged before the standard binds it)."""
        if self.existing_before is not None and (built is None or built < self.existing_before):
            return self.existing_from
        return self.effective_from

    def effective(self, on: dt.date | None, built: dt.date | None = None) -> bool:
        if on is None:
            return True
        start = self.starts(built)
        return (start is None or start <= on) and (self.effective_to is None or on < self.effective_to)

    def matches(self, context: Mapping[str, Any]) -> bool:
        """True when every ``applies_to`` key is in ``context`` with an equal value (lists: membership).

        ``built`` conditions compare dates: ``{before: D}`` matches a point built before D, ``{from: D}`` one
        built on or after D; a point without a ``built`` date (context value None) matches ``from`` only."""
        for key, want in self.applies_to.items():
            if key not in context:
                return False
            if key == "built":
                built = context[key]
                if getattr(want, "before", None) is not None:
                    if built is None or not built < want.before:
                        return False
                elif built is not None and built < want.from_:
                    return False
                continue
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


def _value_or_range(raw: Any, where: str) -> tuple[float | None, float | None]:
    """``12`` → (None, 12.0); ``[6, 9]`` → (6.0, 9.0)."""
    if isinstance(raw, (list, tuple)):
        if len(raw) != 2:
            raise LimitsError(f"{where}: a range is [low, high], got {raw!r}")
        return _number(raw[0], where), _number(raw[1], where)
    return None, _number(raw, where)


# ---------------------------------------------------------------------------------------------------
# The standard-file grammar as pydantic models (limits/README.md "Standard file grammar")
# ---------------------------------------------------------------------------------------------------
Number = Annotated[StrictFloat, Field(ge=0, description="a limit value (never negative)")]
Range = tuple[Number, Number]
#: ``applies_to`` keys a limit may be conditioned on (the point context built by the catalogue).
APPLIES_KEYS = ("kind", "grade", "zone_class", "region", "special_area", "built",
                # issue #14: GB 3095 air class, GB/T 14848 groundwater class, GB 36600 land class, safety sensor
                "air_class", "gw_class", "land_class", "sensor")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_of(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


class BuiltCondition(_Model):
    """``built: {before: 2006-01-01}`` / ``built: {from: 2006-01-01}``: when the plant or source was built
    (registry ``built``). A point without a ``built`` date is taken as built after every such date (a new
    source, the stricter current rule) and the note says so."""

    before: dt.date | None = None
    from_: dt.date | None = Field(None, alias="from")

    def __str__(self) -> str:
        return f"before {self.before}" if self.before is not None else f"from {self.from_}"

    @model_validator(mode="after")
    def _one_bound(self) -> BuiltCondition:
        if (self.before is None) == (self.from_ is None):
            raise ValueError("give exactly one of 'before' or 'from' (an ISO date)")
        return self


class _Common(_Model):
    """Fields every entry may carry (merged with the file's ``defaults``)."""

    name: str = ""
    clause: str = ""
    averaging: str = ""
    unit: str = ""
    check: str = ""
    status: str | None = None
    source: str | None = None
    reason: str = ""
    applies_to: dict[str, Any] = Field(default_factory=dict)
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None

    @field_validator("status")
    @classmethod
    def _status_known(cls, v: str | None) -> str | None:
        return None if v is None else _one_of(v, STATUSES, "status")

    @field_validator("applies_to")
    @classmethod
    def _applies_known(cls, v: dict[str, Any]) -> dict[str, Any]:
        unknown = [k for k in v if k not in APPLIES_KEYS]
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(APPLIES_KEYS)}")
        if "built" in v and not isinstance(v["built"], BuiltCondition):
            v = {**v, "built": BuiltCondition.model_validate(v["built"])}
        return v


class PollutantRow(_Common):
    """Compact air table row (GB 16297 表2 style) → concentration, rate and boundary limits."""

    code: str = Field(min_length=1)
    concentration: Number | None = None
    boundary: Number | None = None
    rate: dict[Number, Number] | None = None

    @field_validator("rate")
    @classmethod
    def _rate_rises(cls, v: dict[float, float] | None) -> dict[float, float] | None:
        if v is None:
            return v
        if len(v) < 2:
            raise ValueError("rate must map ≥ 2 stack heights (m) to rates (kg/h)")
        qs = [q for _, q in sorted(v.items())]
        if any(b < a for a, b in pairwise(qs)):
            raise ValueError("rates must not fall with height")
        return v


class LimitEntry(_Common):
    """One ``limits:`` entry: ``value`` | ``range`` | ``values`` (one per grade) | ``rate``."""

    parameter: str = Field(min_length=1)
    value: Number | None = None
    range: Range | None = None
    values: list[Number | Range | None] | None = None
    cold_value: Number | None = None
    cold_values: list[Number | None] | None = None
    cold_max_temp_c: float | None = None
    rate: dict[Number, Number] | None = None

    _rate_rises = field_validator("rate")(PollutantRow._rate_rises.__func__)

    @model_validator(mode="after")
    def _checked(self) -> LimitEntry:
        _one_of(self.check, CHECKS, "check")
        _one_of(self.averaging, AVERAGINGS, "averaging")
        if not self.unit:
            raise ValueError("unit missing")
        given = [k for k in ("value", "range", "values", "rate") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"needs exactly one of value, range, values or rate (got {given or 'none'})")
        if self.range is not None and self.range[0] >= self.range[1]:
            raise ValueError(f"range low {self.range[0]} is not below high {self.range[1]}")
        return self


class RuleEntry(BaseModel):
    """A non-tabular rule; keys beyond the known ones are kept in ``Rule.extra`` (e.g. ``bands``, ``due``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(min_length=1)
    standard: str | None = None
    value: Any = None
    unit: str = ""
    clause: str = ""
    status: str | None = None
    source: str | None = None
    text: str = ""

    _status_known = field_validator("status")(_Common._status_known.__func__)


class InheritSpec(_Model):
    """``inherit:``: copy every limit of another standard (provisionally), see README "Inheritance"."""

    standard: str = Field(min_length=1)
    clause: str | None = None
    applies_to: dict[str, Any] = Field(default_factory=dict)
    status: str = "provisional"
    reason: str = ""

    _status_known = field_validator("status")(_Common._status_known.__func__)


class ExistingSources(_Model):
    """``existing_sources: {built_before: D, effective_from: D2}``: the standard binds sources built before
    D (existing ones) only from D2 (e.g. GB 37822-2019: new 2019-07-01, existing 2020-07-01)."""

    built_before: dt.date
    effective_from: dt.date


class StandardDoc(_Model):
    """A whole standard file before expansion."""

    standard: str = Field(min_length=1)
    title: str = ""
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    existing_sources: ExistingSources | None = None
    status: str = "text"
    source: str = ""
    notes: str = ""
    defaults: dict[str, Any] = Field(default_factory=dict)
    grades: list[str] = Field(default_factory=list)
    pollutants: list[dict[str, Any]] = Field(default_factory=list)
    limits: list[dict[str, Any]] = Field(default_factory=list)
    rules: list[dict[str, Any]] = Field(default_factory=list)
    inherit: InheritSpec | None = None

    _status_known = field_validator("status")(_Common._status_known.__func__)

    @field_validator("grades", mode="before")
    @classmethod
    def _grades_text(cls, v: Any) -> Any:
        return [str(g) for g in v] if isinstance(v, list) else v


def _errors(exc: ValidationError, where: str) -> LimitsError:
    """One line per pydantic error: ``file: entry: field: reason`` (pydantic's "Value error, " dropped)."""
    lines = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {loc}: {msg}" if loc else f"{where}: {msg}")
    return LimitsError("\n".join(lines))


def _validate(model: type[BaseModel], raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise LimitsError(f"{where}: must be a mapping")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _errors(exc, where) from None


def _merge(defaults: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` under ``entry``; ``applies_to`` merged key by key."""
    applies = {**(defaults.get("applies_to") or {}), **(entry.get("applies_to") or {})}
    return {**defaults, **entry, "applies_to": applies}


def parse_standard(raw: dict, path: str | Path = "<limits>") -> StandardFile:
    """Validate one standard file (pydantic models above) and expand its compact forms into :class:`Limit`."""
    name = Path(path).name
    if not isinstance(raw, dict) or not raw.get("standard"):
        raise LimitsError(f"{name}: 'standard' (the standard id) is required")
    doc: StandardDoc = _validate(StandardDoc, raw, name)
    existing = doc.existing_sources
    base = {"standard": doc.standard, "title": doc.title,
                "existing_before": existing.built_before if existing else None,
                "existing_from": existing.effective_from if existing else None}

    def common(entry: _Common) -> dict[str, Any]:
        return dict(base, name=entry.name, clause=entry.clause, averaging=entry.averaging, unit=entry.unit,
                    check=entry.check, status=entry.status or doc.status, source=entry.source or doc.source,
                    applies_to=dict(entry.applies_to), reason=entry.reason.strip(),
                    effective_from=entry.effective_from or doc.effective_from,
                    effective_to=entry.effective_to or doc.effective_to)

    limits: list[Limit] = []
    # compact air table (GB 16297 表2 style): one row per pollutant → concentration, rate, boundary
    for i, raw_row in enumerate(doc.pollutants):
        code = raw_row.get("code", "?") if isinstance(raw_row, dict) else "?"
        where = f"{name}: pollutants[{i}] ({code})"
        row: PollutantRow = _validate(PollutantRow, _merge(doc.defaults, raw_row), where)
        c = common(row)
        c["parameter"] = row.code
        stack = {**c["applies_to"], "kind": "stack"}
        if row.concentration is not None:
            limits.append(_check_fields(Limit(**{**c, "check": "concentration", "unit": "mg/m3",
                                                 "applies_to": stack}, value=row.concentration, origin=where), where))
        if row.rate is not None:
            limits.append(_check_fields(Limit(**{**c, "check": "rate", "unit": "kg/h", "applies_to": stack},
                                              value=None, rate_table=tuple(sorted(row.rate.items())),
                                              origin=where), where))
        if row.boundary is not None:
            clause = (c["clause"].replace("表2", "表2 无组织排放监控浓度限值") if c["clause"]
                      else "无组织排放监控浓度限值")
            limits.append(_check_fields(Limit(**{**c, "check": "boundary", "unit": "mg/m3", "clause": clause,
                                                 "applies_to": {**c["applies_to"], "kind": "fugitive"}},
                                              value=row.boundary, origin=where), where))

    # generic list; ``values`` per grade when the file declares ``grades``
    for i, raw_entry in enumerate(doc.limits):
        label = (raw_entry.get("parameter") or doc.defaults.get("parameter") or "?"
                 if isinstance(raw_entry, dict) else "?")
        where = f"{name}: limits[{i}] ({label})"
        e: LimitEntry = _validate(LimitEntry, _merge(doc.defaults, raw_entry), where)
        c = common(e)
        c["parameter"] = e.parameter
        if e.values is not None:
            if not doc.grades:
                raise LimitsError(f"{where}: 'values' needs a file-level 'grades' list")
            if len(e.values) != len(doc.grades):
                raise LimitsError(f"{where}: values: {len(e.values)} values for {len(doc.grades)} grades")
            if e.cold_values is not None and len(e.cold_values) != len(doc.grades):
                raise LimitsError(f"{where}: cold_values must have one value per grade")
            for g, v, cold in zip(doc.grades, e.values, e.cold_values or [None] * len(doc.grades)):
                if v is None:  # "–" in the table: no limit for this grade
                    continue
                low, high = (v if isinstance(v, tuple) else (None, v))
                if low is not None and low >= high:
                    raise LimitsError(f"{where} grade {g}: range low {low} is not below high {high}")
                limits.append(_check_fields(Limit(
                    **{**c, "applies_to": {**c["applies_to"], "grade": g}}, value=high, low=low,
                    cold_value=cold, cold_max_temp_c=e.cold_max_temp_c, origin=f"{where} grade {g}"), where))
        else:
            low, high = e.range if e.range is not None else (None, e.value)
            limits.append(_check_fields(Limit(
                **c, value=high, low=low,
                rate_table=tuple(sorted(e.rate.items())) if e.rate is not None else None,
                cold_value=e.cold_value, cold_max_temp_c=e.cold_max_temp_c, origin=where), where))

    rules: list[Rule] = []
    known = set(RuleEntry.model_fields)
    for i, raw_rule in enumerate(doc.rules):
        where = f"{name}: rules[{i}]"
        if not isinstance(raw_rule, dict) or not raw_rule.get("name"):
            raise LimitsError(f"{where}: a rule is a mapping with a 'name'")
        r: RuleEntry = _validate(RuleEntry, raw_rule, where)
        rules.append(Rule(name=r.name, standard=r.standard or doc.standard, value=r.value, unit=r.unit,
                          clause=r.clause, status=r.status or doc.status, source=r.source or doc.source,
                          text=r.text.strip(), extra={k: v for k, v in raw_rule.items() if k not in known},
                          origin=where))
    inherit = doc.inherit.model_dump(exclude_none=True) if doc.inherit else None
    return StandardFile(standard=doc.standard, title=doc.title, path=str(path), limits=tuple(limits),
                        rules=tuple(rules), inherit=inherit, effective_from=doc.effective_from,
                        effective_to=doc.effective_to, status=doc.status, source=doc.source,
                        notes=doc.notes.strip())


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
