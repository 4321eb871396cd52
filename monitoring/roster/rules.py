"""The 双随机、一公开 rules file: every ratio, count, cap and threshold of the draw is configuration.

National rules set floors and provinces/cities set the figures (Chongqing: 渝环办〔2025〕24号), so the
county keeps them in ``monitoring/data/roster_rules.yaml`` (or ``$ENVMON_ROSTER_RULES``). The file's
``source`` says where its figures come from; its SHA-256 (over the file bytes) goes into every draw record.

Grammar (YAML; unknown keys are an error)::

    version: 1
    source: <text: the plan / notice the figures come from>
    schedule: "0 8 1 1,4,7,10 *"          # cron (Asia/Shanghai) of the scheduled draw; quarterly default
    period: quarter                       # the draw round; only calendar quarters are supported
    categories:                           # one entry per registry category: special, key, ordinary
      <category>:
        floor: {ratio: 0.25, per: quarter}        # ceil(ratio × enterprises in scope) per quarter/year
             | {count: 3, per: quarter|year}      # a fixed number (pro-rated to a zone's share)
             | {per_inspector: 1, per: year}      # count × active inspectors (pro-rated to a zone)
        cap: {times: 1, per: quarter|year}        # at most this many inspections in the window
    exempt_firms:                         # 正面清单 / 承诺免检: off-site unless approved
      flags: [positive_list, commitment_exempt]
      onsite_approvals:
        - {enterprise: JK-015, period: 2026-Q4, approved_by: <name>, reason: <text>}
    teams:
      size: 2                             # inspectors per task, at least 2
      max_tasks_per_inspector: 6          # per round
      recusal: true                       # exclude conflicts of interest (回避) before the draw
      no_repeat_consecutive_rounds: true  # nobody on the same enterprise in two consecutive rounds
      field_match: true                   # first member drawn among inspectors of a needed field
    special_supervision:                  # evidence that makes an enterprise 特殊监管对象
      lookback_days: 365
      enforcement_case_last_year: true
      substantiated_complaints: 3         # ≥ this many in the look-back window
      exceedance_incidents: 3             # ≥ this many ("repeated")
      low_capture_pct: 75                 # data capture below this (persistently low)
      credit_ratings: [警示, 不良]         # these ratings put a firm under special supervision
    risk_weights:                         # weight = min(max, base + Σ coefficient × evidence)
      base: 1.0
      per_exceedance: 1.0
      per_data_missing: 0.5
      per_substantiated_complaint: 0.5
      capture_target_pct: 90
      per_capture_shortfall_pct: 0.1      # per percentage point of capture below the target
      max: 10.0
    publication:
      working_days: 20                    # results public within this many working days

Floors for a yearly basis are spread over the rest of the year: the quarter draws
``ceil((yearly target − done earlier this year) / quarters left)``, so the yearly floor is met by Q4
whenever the caps leave enough eligible enterprises.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitoring.config import load_settings
from monitoring.roster.period import Period
from sensors.datafile import parse_yaml

CATEGORIES: tuple[str, ...] = ("special", "key", "ordinary")   # draw order of the strata
CATEGORY_ZH = {"special": "特殊监管对象", "key": "重点排污单位", "ordinary": "一般排污单位"}
Per = Literal["quarter", "year"]


class RulesError(ValueError):
    """The rules file is malformed; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Floor(_Model):
    """Minimum inspections of a category: exactly one of ratio, count, per_inspector."""

    ratio: float | None = Field(None, gt=0, le=1, description="share of the category's enterprises")
    count: int | None = Field(None, ge=0, description="number of enterprises")
    per_inspector: float | None = Field(None, gt=0, description="enterprises per active inspector")
    per: Per

    @model_validator(mode="after")
    def _exactly_one(self) -> Floor:
        given = [k for k in ("ratio", "count", "per_inspector") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of ratio, count, per_inspector (got {given or 'none'})")
        return self

    def describe(self) -> str:
        what = (f"≥ {self.ratio:.0%}" if self.ratio is not None else
                f"≥ {self.count}" if self.count is not None else f"≥ {self.per_inspector:g} × 在岗执法人员")
        return f"{what} / {'季度' if self.per == 'quarter' else '年'}"


class Cap(_Model):
    times: int = Field(ge=1)
    per: Per


class CategoryRule(_Model):
    floor: Floor
    cap: Cap


class OnsiteApproval(_Model):
    enterprise: str
    period: str
    approved_by: str
    reason: str

    @model_validator(mode="after")
    def _period(self) -> OnsiteApproval:
        Period.parse(self.period)
        return self


class ExemptFirms(_Model):
    flags: list[Literal["positive_list", "commitment_exempt"]] = ["positive_list", "commitment_exempt"]
    onsite_approvals: list[OnsiteApproval] = []


class Teams(_Model):
    size: int = Field(2, ge=2, description="inspectors per task (national rule: at least 2)")
    max_tasks_per_inspector: int = Field(6, ge=1)
    recusal: bool = True
    no_repeat_consecutive_rounds: bool = True
    field_match: bool = True

    @model_validator(mode="after")
    def _recusal_is_law(self) -> Teams:
        if not self.recusal:
            raise ValueError("recusal (回避) cannot be switched off")
        return self


class SpecialSupervision(_Model):
    lookback_days: int = Field(365, ge=1)
    enforcement_case_last_year: bool = True
    substantiated_complaints: int = Field(3, ge=1)
    exceedance_incidents: int = Field(3, ge=1)
    low_capture_pct: float = Field(75.0, ge=0, le=100)
    credit_ratings: list[str] = ["警示", "不良"]


class RiskWeights(_Model):
    base: float = Field(1.0, gt=0)
    per_exceedance: float = Field(1.0, ge=0)
    per_data_missing: float = Field(0.5, ge=0)
    per_substantiated_complaint: float = Field(0.5, ge=0)
    capture_target_pct: float = Field(90.0, ge=0, le=100)
    per_capture_shortfall_pct: float = Field(0.1, ge=0)
    max: float = Field(10.0, gt=0)

    def formula(self) -> str:
        return (f"w = min({self.max:g}, {self.base:g} + {self.per_exceedance:g}·n_exceedance + "
                f"{self.per_data_missing:g}·n_data_missing + {self.per_substantiated_complaint:g}·"
                f"n_substantiated_complaints + {self.per_capture_shortfall_pct:g}·max(0, "
                f"{self.capture_target_pct:g} − capture_pct))")


class Publication(_Model):
    working_days: int = Field(20, ge=1)


class Rules(_Model):
    version: int = 1
    source: str = Field(min_length=1)
    schedule: str = "0 8 1 1,4,7,10 *"
    period: Literal["quarter"] = "quarter"
    categories: dict[Literal["special", "key", "ordinary"], CategoryRule]
    exempt_firms: ExemptFirms = ExemptFirms()
    teams: Teams = Teams()
    special_supervision: SpecialSupervision = SpecialSupervision()
    risk_weights: RiskWeights = RiskWeights()
    publication: Publication = Publication()

    @model_validator(mode="after")
    def _schedule(self) -> Rules:
        try:
            from croniter import croniter  # deferred: optional (comes with Airflow)
        except ImportError:  # pragma: no cover - croniter comes with Airflow
            return self
        if not croniter.is_valid(self.schedule):
            raise ValueError(f"schedule: {self.schedule!r} is not a valid cron expression")
        return self

    @model_validator(mode="after")
    def _all_categories(self) -> Rules:
        missing = [c for c in CATEGORIES if c not in self.categories]
        if missing:
            raise ValueError(f"categories: missing {', '.join(missing)}")
        return self

    def onsite_approved(self, enterprise: str, period: Period) -> OnsiteApproval | None:
        for a in self.exempt_firms.onsite_approvals:
            if a.enterprise == enterprise and Period.parse(a.period) == period:
                return a
        return None


def stratum_quota(rule: CategoryRule, *, period: Period, in_scope: int, in_county: int,
                  active_inspectors: int, done_this_year: int) -> int:
    """How many enterprises of one category this round must draw (before clipping to the eligible).

    ``in_scope`` enterprises of the category in the drawn scope (a zone or the county), ``in_county``
    in the whole county (for pro-rating counts), ``done_this_year`` inspections of the category in the
    scope in earlier rounds of the same year (yearly floors are spread over the quarters left).
    """
    f = rule.floor
    if in_scope == 0:
        return 0
    share = in_scope / in_county if in_county else 1.0
    if f.ratio is not None:
        target = math.ceil(f.ratio * in_scope - 1e-9)
    elif f.count is not None:
        target = math.ceil(f.count * share - 1e-9)
    else:
        target = math.ceil(f.per_inspector * active_inspectors * share - 1e-9)
    if f.per == "year":
        remaining = max(0, target - done_this_year)
        target = math.ceil(remaining / period.quarters_left_in_year)
    return max(0, target)


def _describe(loc: tuple) -> str:
    return ".".join(str(x) for x in loc) or "(top level)"


def parse_rules(raw: object, source: str = "<rules>") -> Rules:
    if not isinstance(raw, dict):
        raise RulesError(f"{source}: top level must be a mapping (see monitoring.roster.rules)")
    try:
        return Rules.model_validate(raw)
    except ValidationError as exc:
        raise RulesError("\n".join(f"{source}: {_describe(tuple(e['loc']))}: {e['msg']}"
                                   for e in exc.errors())) from None


class RulesFile:
    """The parsed rules plus the exact bytes they came from (hashed into every draw record)."""

    def __init__(self, rules: Rules, text: str, path: str):
        self.rules = rules
        self.text = text
        self.path = path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @classmethod
    def from_text(cls, text: str, path: str = "<rules>") -> RulesFile:
        raw = parse_yaml(text, RulesError, str(path))
        return cls(parse_rules(raw, source=Path(path).name), text, path)


def load_rules(path: str | Path | None = None) -> RulesFile:
    """Load and validate the rules file (default: the settings' ``roster_rules_path``)."""
    if path is None:
        path = load_settings().roster_rules_path
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RulesError(f"{path}: no such rules file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RulesError(f"{path}: not UTF-8 ({exc})") from None
    return RulesFile.from_text(text, str(path))
