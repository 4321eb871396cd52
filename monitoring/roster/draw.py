"""The draw: which enterprises are inspected and which inspectors go (双随机).

Algorithm ``envmon-double-random/1`` — the result depends only on (seed, target directory,
inspector directory, history, rules, period):

1. Inputs are canonical: target rows sorted by enterprise code, inspectors sorted by id.
   ``rng = numpy.random.Generator(numpy.random.PCG64(seed))``; every random number below comes from
   this one stream, in the order written here.
2. Enterprise eligibility: an enterprise whose inspections in the cap window (the quarter or year of
   the period, from ``history``) already reach its category's ``cap.times`` is excluded (recorded).
3. Strata in the order special, key, ordinary. For each stratum: eligible codes sorted; quota ``q``
   from :func:`monitoring.roster.rules.stratum_quota`, clipped to the eligible count (a shortfall is a
   warning). ``u = rng.random(n_eligible)`` is drawn even when ``q`` is 0 or covers everyone.
   Weighted sampling without replacement by Efraimidis–Spirakis (A-Res): key ``k_i = u_i^(1/w_i)``,
   computed as ``log(u_i)/w_i`` (same order, no underflow); the ``q`` largest keys are drawn
   (ties: smaller code first). Weights from :func:`risk_weights` (formula in the rules file and the
   record).
4. Tasks sorted by enterprise code. For each task: candidates = active inspectors (sorted by id)
   minus conflicts of interest with that enterprise (回避), minus the inspectors who inspected it in the
   previous round, minus those already at ``max_tasks_per_inspector`` this round; every exclusion is
   recorded with its reason. Fewer than ``teams.size`` candidates → :class:`InfeasibleDraw`.
   ``u = rng.random(n_candidates)``; key ``log(u_i) × (1 + load_i)`` (Efraimidis–Spirakis with weight
   ``1/(1 + load_i)``, load = tasks already given this round, which spreads the work). The first member
   is the best key among candidates whose fields meet one of the enterprise's fields (``field_match``;
   if none, the best key overall, with a note), then the best remaining keys fill the team.
5. Mode: off-site (非现场) for positive-list / commitment-exempt firms unless the rules file holds an
   on-site approval for that enterprise and period; else on-site (现场).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from monitoring.roster.directories import InspectorDirectory
from monitoring.roster.period import Period
from monitoring.roster.rules import CATEGORIES, Rules, stratum_quota

ALGORITHM = "envmon-double-random/1 (PCG64; Efraimidis-Spirakis A-Res, keys log(u)/w)"

#: history row fields (one per task of an earlier, non-superseded round)
HISTORY_FIELDS = ("period", "enterprise", "zone", "category", "inspectors")


class InfeasibleDraw(ValueError):
    """The rules cannot be met with these directories (e.g. fewer than 2 eligible inspectors)."""


@dataclass
class Task:
    enterprise: str
    name: str
    zone: str
    category: str
    mode: str                       # onsite | offsite
    weight: float
    inspectors: list[str]
    special_reasons: str = ""
    mode_reason: str = ""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Exclusion:
    kind: str                       # enterprise | inspector
    who: str                        # enterprise code or inspector id
    enterprise: str | None
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class DrawResult:
    tasks: list[Task]
    exclusions: list[Exclusion]
    quotas: dict[str, dict]
    weights: dict[str, float]
    warnings: list[str]

    def as_dict(self) -> dict:
        return {"tasks": [t.as_dict() for t in self.tasks],
                "exclusions": [e.as_dict() for e in self.exclusions],
                "quotas": self.quotas, "weights": self.weights, "warnings": self.warnings}


def risk_weights(target: pd.DataFrame, rules: Rules) -> pd.Series:
    """Risk weight per enterprise code (vectorised over the directory); formula :meth:`RiskWeights.formula`."""
    rw = rules.risk_weights

    def col(name: str) -> np.ndarray:
        return target[name].to_numpy(dtype="float64", na_value=np.nan)

    shortfall = np.nan_to_num(np.clip(rw.capture_target_pct - col("capture_pct"), 0, None), nan=0.0)
    w = (rw.base + rw.per_exceedance * col("exceedance_incidents") + rw.per_data_missing * col("data_missing_incidents")
         + rw.per_substantiated_complaint * col("substantiated_complaints") + rw.per_capture_shortfall_pct * shortfall)
    return pd.Series(np.round(np.minimum(w, rw.max), 9), index=target["code"].to_numpy())


def _cap_window_periods(period: Period, per: str) -> set[str]:
    if per == "quarter":
        return {str(period)}
    return {f"{period.year}-Q{q}" for q in range(1, 5)}


def _es_order(u: np.ndarray, log_weight_scale: np.ndarray, labels: list[str]) -> list[int]:
    """Indices by descending Efraimidis–Spirakis key ``log(u) · scale`` (scale = 1/w); ties by label."""
    with np.errstate(divide="ignore"):
        keys = np.log(u) * log_weight_scale
    return sorted(range(len(labels)), key=lambda i: (-keys[i], labels[i]))


def draw(*, target: pd.DataFrame, inspectors: InspectorDirectory, history: Iterable[dict], rules: Rules,
         period: Period, seed: int, county_counts: dict[str, int] | None = None) -> DrawResult:
    """Run algorithm :data:`ALGORITHM`. Pure: no I/O, no clock; the same inputs give the same roster.

    ``history``: rows with :data:`HISTORY_FIELDS` for earlier rounds (same year and the previous
    quarter are enough). ``county_counts``: enterprises per category in the whole county, used to
    pro-rate count/per-inspector floors when ``target`` is one zone (default: ``target``'s own counts).
    """
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    rng = np.random.Generator(np.random.PCG64(seed))
    target = target.sort_values("code", kind="stable").reset_index(drop=True)
    weights = risk_weights(target, rules).to_dict()
    ents = {r["code"]: r for r in target.to_dict(orient="records")}     # a directory: ~100 rows
    hist = [dict(zip(HISTORY_FIELDS, (h[f] for f in HISTORY_FIELDS))) for h in history]
    active = inspectors.active()
    exclusions: list[Exclusion] = []
    warnings: list[str] = []
    counts = county_counts or {c: sum(e["category"] == c for e in ents.values()) for c in CATEGORIES}

    # 2. caps
    eligible: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for code, e in ents.items():
        cap = rules.categories[e["category"]].cap
        window = _cap_window_periods(period, cap.per)
        n = sum(1 for h in hist if h["enterprise"] == code and h["period"] in window)
        if n >= cap.times:
            label = "本季度" if cap.per == "quarter" else f"{period.year}年"
            exclusions.append(Exclusion("enterprise", code, code, f"{label}已抽查{n}次，达到上限{cap.times}次"))
        else:
            eligible[e["category"]].append(code)

    # 3. strata
    quotas: dict[str, dict] = {}
    drawn: list[str] = []
    this_year = {f"{period.year}-Q{q}" for q in range(1, period.quarter)}
    for cat in CATEGORIES:
        rule = rules.categories[cat]
        members = {c for c, e in ents.items() if e["category"] == cat}
        codes = eligible[cat]
        done_year = sum(1 for h in hist if h["category"] == cat and h["period"] in this_year
                        and h["enterprise"] in members)
        q = stratum_quota(rule, period=period, in_scope=len(members), in_county=int(counts.get(cat, len(members))),
                          active_inspectors=len(active), done_this_year=done_year)
        quotas[cat] = {"floor": rule.floor.describe(), "enterprises": len(members), "eligible": len(codes),
                       "done_earlier_this_year": done_year, "required": q, "drawn": min(q, len(codes))}
        if q > len(codes):
            warnings.append(f"{cat}: 需抽取{q}家，但上限后仅{len(codes)}家可抽")
        u = rng.random(len(codes))
        w = np.array([weights[c] for c in codes], dtype="float64")
        order = _es_order(u, 1.0 / w, codes)
        drawn.extend(codes[i] for i in order[:min(q, len(codes))])

    # 4. teams
    prev = str(period.previous())
    prev_teams: dict[str, set[str]] = {}
    for h in hist:
        if h["period"] == prev:
            prev_teams.setdefault(h["enterprise"], set()).update(h["inspectors"])
    for ins in inspectors.inspectors.values():
        if not ins.active:
            exclusions.append(Exclusion("inspector", ins.id, None, "不在岗（名录库标记为非在岗）"))
    load: dict[str, int] = {i.id: 0 for i in active}
    tasks: list[Task] = []
    size = rules.teams.size
    for code in sorted(drawn):
        ent = ents[code]
        conflicts = inspectors.conflicts_of(code)
        candidates = []
        for ins in active:
            if ins.id in conflicts:
                exclusions.append(Exclusion("inspector", ins.id, code, f"回避：{conflicts[ins.id]}"))
            elif rules.teams.no_repeat_consecutive_rounds and ins.id in prev_teams.get(code, ()):
                exclusions.append(Exclusion("inspector", ins.id, code, f"上一轮（{prev}）已检查该企业"))
            elif load[ins.id] >= rules.teams.max_tasks_per_inspector:
                exclusions.append(Exclusion("inspector", ins.id, code,
                                            f"本轮任务已达上限{rules.teams.max_tasks_per_inspector}项"))
            else:
                candidates.append(ins)
        if len(candidates) < size:
            raise InfeasibleDraw(f"{period} {code}: only {len(candidates)} eligible inspector(s) after "
                                 f"recusal, rotation and load caps; a team needs {size}")
        ids = [c.id for c in candidates]
        u = rng.random(len(candidates))
        scale = np.array([1.0 + load[i] for i in ids])
        order = _es_order(u, scale, ids)
        needed = set(filter(None, str(ent["fields"]).split(",")))
        notes: list[str] = []
        first = order[0]
        if rules.teams.field_match and needed:
            matching = [i for i in order if needed & set(candidates[i].fields)]
            if matching:
                first = matching[0]
            else:
                notes.append(f"无可抽的{'/'.join(sorted(needed))}领域执法人员，按综合执法组队")
        team = [first] + [i for i in order if i != first][: size - 1]
        team_ids = sorted(ids[i] for i in team)
        for i in team_ids:
            load[i] += 1
        flagged = [f for f in rules.exempt_firms.flags if bool(ent[f])]
        mode, mode_reason = "onsite", ""
        if flagged:
            approval = rules.onsite_approved(code, period)
            names = {"positive_list": "正面清单", "commitment_exempt": "承诺免检"}
            label = "、".join(names[f] for f in flagged)
            if approval:
                mode_reason = f"{label}企业，现场检查经{approval.approved_by}批准：{approval.reason}"
            else:
                mode, mode_reason = "offsite", f"{label}企业，非现场检查（未批准现场检查）"
        tasks.append(Task(enterprise=code, name=str(ent["name"]), zone=str(ent["zone"]),
                          category=str(ent["category"]), mode=mode, weight=float(weights[code]),
                          inspectors=team_ids, special_reasons=str(ent["special_reasons"]),
                          mode_reason=mode_reason, notes=notes))
    return DrawResult(tasks=tasks, exclusions=exclusions, quotas=quotas,
                      weights={k: float(v) for k, v in weights.items()}, warnings=warnings)
