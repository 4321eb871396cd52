"""Replay a draw record and say exactly what differs (``envmon roster verify RECORD``).

Checks, in order (every failed check adds lines to :attr:`Verification.differences`):

1. the record's own hash (``record_sha256`` over the canonical JSON of the rest) — an edited record;
2. the JSON file against the SQL store copy, when both exist;
3. the recorded input hashes against the snapshots the record carries (directories, history, rules text);
4. the replay: :func:`monitoring.roster.draw.draw` from the record's snapshots, rules text and seed must
   give the recorded roster, quotas, weights and exclusions — a changed seed or roster shows here;
5. the sources as they stand now: the rules file, the inspector directory file, the target directory
   rebuilt as of the draw time (evidence recorded before it) and the history of earlier rounds, each
   hashed and compared with the record, with the entries that changed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitoring.config import Settings
from monitoring.db import session_scope
from monitoring.registry import Registry, load_registry
from monitoring.roster import tables
from monitoring.roster.directories import InspectorDirectory, load_inspectors, sha256_of
from monitoring.roster.period import Period
from monitoring.roster.records import (
    DrawInputs,
    RosterError,
    collect_inputs,
    load_record,
    record_body_sha,
    run_pure_draw,
)
from monitoring.roster.rules import RulesError, RulesFile, load_rules

MAX_LINES_PER_SECTION = 40


@dataclass
class Verification:
    record_id: str
    differences: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def _short(v: Any, n: int = 60) -> str:
    s = repr(v) if not isinstance(v, str) else v
    return s if len(s) <= n else s[: n - 1] + "…"


def diff_values(a: Any, b: Any, path: str = "", out: list[str] | None = None) -> list[str]:
    """Leaf differences between two JSON values: ``path: old → new``."""
    out = [] if out is None else out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}" if path else str(k)
            if k not in a:
                out.append(f"{p}: (absent) → {_short(b[k])}")
            elif k not in b:
                out.append(f"{p}: {_short(a[k])} → (absent)")
            else:
                diff_values(a[k], b[k], p, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff_values(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: {_short(a)} → {_short(b)}")
    return out


def diff_rows(old: list[dict], new: list[dict], key: str | tuple[str, ...]) -> list[str]:
    """Row-level differences keyed by ``key``: added, removed, and changed fields."""
    def k(r: dict) -> str:
        return "/".join(str(r.get(x)) for x in ((key,) if isinstance(key, str) else key))
    a, b = {k(r): r for r in old}, {k(r): r for r in new}
    out = [f"{x}: removed" for x in sorted(set(a) - set(b))] + [f"{x}: added" for x in sorted(set(b) - set(a))]
    for x in sorted(set(a) & set(b)):
        for col in sorted(set(a[x]) | set(b[x])):
            if a[x].get(col) != b[x].get(col):
                out.append(f"{x}: {col} {_short(a[x].get(col))} → {_short(b[x].get(col))}")
    if len(old) != len(a) or len(new) != len(b):       # duplicate keys: fall back to a positional diff
        out += diff_values(old, new)
    return out


def _section(v: Verification, title: str, lines: list[str]) -> None:
    if lines:
        v.differences.append(title)
        v.differences += [f"  {x}" for x in lines[:MAX_LINES_PER_SECTION]]
        if len(lines) > MAX_LINES_PER_SECTION:
            v.differences.append(f"  … and {len(lines) - MAX_LINES_PER_SECTION} more")


def verify_record(settings: Settings, ref: str, registry: Registry | None = None) -> Verification:
    """Run every check on the record named by ``ref`` (a record id or a path to its JSON file)."""
    file_rec, sql_rec, rid = load_record(settings, ref)
    rec = file_rec if file_rec is not None else sql_rec
    v = Verification(rid)
    required = ("seed", "period", "rules", "inputs", "hashes", "result", "drawn_at", "record_sha256")
    missing = [k for k in required if k not in rec]
    if missing:
        raise RosterError(f"{ref}: not a draw record (missing {', '.join(missing)})")

    # 1. record hash
    v.checked.append("record hash")
    recomputed = record_body_sha(rec)
    if recomputed != rec["record_sha256"]:
        _section(v, "record altered after the draw (record_sha256 does not match its content):",
                 [f"recorded {rec['record_sha256']}", f"recomputed {recomputed}"])

    # 2. file vs SQL copy
    if file_rec is not None and sql_rec is not None:
        v.checked.append("file vs SQL store")
        _section(v, "JSON file differs from the SQL store copy (file → store):", diff_values(file_rec, sql_rec))
    elif sql_rec is None:
        v.differences.append(f"record {rid} is not in the SQL store (checked the file only)")

    # 3. recorded hashes vs the snapshots carried
    v.checked.append("input hashes")
    inputs = rec["inputs"]
    carried = {"target_directory": sha256_of(inputs["target_directory"]),
               "inspector_directory": sha256_of(inputs["inspector_directory"]),
               "history": sha256_of(inputs["history"]),
               "rules": RulesFile(None, rec["rules"]["text"], "").sha256}  # type: ignore[arg-type]
    _section(v, "snapshots in the record do not match their recorded hashes:",
             [f"{k}: recorded {rec['hashes'].get(k)} ≠ content {h}" for k, h in carried.items()
              if rec["hashes"].get(k) != h])

    # 4. replay
    v.checked.append("replay")
    period = Period.parse(rec["period"])
    try:
        rules = RulesFile.from_text(rec["rules"]["text"], rec["rules"].get("path", "<record>"))
        di = DrawInputs(target=inputs["target_directory"], inspectors=inputs["inspector_directory"],
                        history=inputs["history"], county_counts=inputs.get("county_counts", {}),
                        evidence_window=tuple(rec.get("sources", {}).get("evidence_window_utc", ("", ""))))
        replay = run_pure_draw(di, rules, period, int(rec["seed"])).as_dict()
    except (RulesError, ValueError, KeyError, TypeError) as exc:
        _section(v, "replay failed:", [f"{type(exc).__name__}: {exc}"])
    else:
        recorded = rec["result"]
        lines = diff_rows(recorded["tasks"], replay["tasks"], "enterprise")
        lines = [f"task {x}" for x in lines]
        for part in ("quotas", "weights", "warnings"):
            lines += diff_values(recorded.get(part), replay.get(part), part)
        lines += [f"exclusions: {x}" for x in diff_rows(recorded.get("exclusions", []), replay["exclusions"],
                                                        ("kind", "who", "enterprise"))]
        _section(v, f"replay with seed {rec['seed']} differs from the recorded roster (recorded → replayed):",
                 lines)

    # 5. sources as they stand now
    _check_sources(settings, rec, v, period, registry or load_registry(settings.registry_path))
    return v


def _check_sources(settings: Settings, rec: dict, v: Verification, period: Period, registry: Registry) -> None:
    v.checked.append("rules file")
    try:
        current_rules = load_rules(settings.roster_rules_path)
    except RulesError as exc:
        _section(v, "rules file cannot be read now:", [str(exc)])
        current_rules = None
    if current_rules is not None and current_rules.sha256 != rec["hashes"]["rules"]:
        old = rec["rules"]["text"].splitlines()
        new = current_rules.text.splitlines()
        udiff = [x for x in difflib.unified_diff(old, new, "recorded", "current", lineterm="", n=0)
                 if not x.startswith(("---", "+++", "@@"))]
        _section(v, f"rules file changed since the draw ({settings.roster_rules_path}: "
                    f"{rec['hashes']['rules'][:12]}… → {current_rules.sha256[:12]}…):", udiff)

    v.checked.append("inspector directory")
    try:
        directory = load_inspectors(settings.inspectors_path, enterprises=set(registry.enterprises))
    except ValueError as exc:
        _section(v, "inspector directory cannot be read now:", [str(exc)])
        directory = None
    if directory is not None and directory.sha256() != rec["hashes"]["inspector_directory"]:
        old, new = rec["inputs"]["inspector_directory"], directory.snapshot()
        lines = [f"inspector {x}" for x in diff_rows(old["inspectors"], new["inspectors"], "id")]
        lines += [f"conflict {x}" for x in diff_rows(old["conflicts"], new["conflicts"],
                                                     ("inspector", "enterprise"))]
        _section(v, f"inspector directory changed since the draw ({settings.inspectors_path}):", lines)

    v.checked.append("target directory and history")
    drawn_at = datetime.fromisoformat(rec["drawn_at"])
    zone = None if rec.get("scope", "county") == "county" else rec["scope"]
    if current_rules is None:
        return
    with session_scope(settings.sql_url) as s:
        now_inputs = collect_inputs(settings, s, registry=registry,
                                    rules=RulesFile.from_text(rec["rules"]["text"]),
                                    inspectors=InspectorDirectory.from_snapshot(rec["inputs"]["inspector_directory"]),
                                    period=period, zone=zone, as_of=drawn_at,
                                    exclude_records=set(rec.get("supersedes", [])) | {rec["record_id"]})
        known = {r.record_sha256 for r in s.query(tables.DrawRow)}
    if sha256_of(now_inputs.target) != rec["hashes"]["target_directory"]:
        _section(v, "target directory rebuilt as of the draw differs from the one drawn from "
                    "(recorded → now):", diff_rows(rec["inputs"]["target_directory"], now_inputs.target, "code"))
    if sha256_of(now_inputs.history) != rec["hashes"]["history"]:
        _section(v, "history of earlier rounds differs (recorded → now):",
                 diff_rows(rec["inputs"]["history"], now_inputs.history, ("period", "enterprise")))
    prev = rec.get("previous_sha256")
    if prev and known and prev not in known:
        v.differences.append(f"chain: previous record {prev[:12]}… is not in the SQL store")
