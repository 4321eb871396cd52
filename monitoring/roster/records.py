"""Draw records: run a draw from the configured directories and append its replayable record.

A record holds everything the draw depended on — the seed, :data:`~monitoring.roster.draw.ALGORITHM`,
the rules file text and its SHA-256, canonical snapshots of the target directory, the inspector
directory and the history (earlier rounds) with their SHA-256, the exclusions with reasons, who ran it
and when — plus the roster. ``record_sha256`` is the SHA-256 of the canonical JSON of all of that and
``previous_sha256`` chains it to the record drawn before it (append-only log).

The record is stored in the SQL store (``roster_draw`` / ``roster_task``) and as
``$ENVMON_DATA_DIR/rosters/<record_id>.json``.
"""

from __future__ import annotations

import getpass
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from monitoring.complaints import complaints_frame
from monitoring.config import LOCAL_TZ, Settings
from monitoring.db import serialize_writers, session_scope
from monitoring.ingest import store_from_settings
from monitoring.registry import Registry, load_registry
from monitoring.roster import tables
from monitoring.roster.directories import (
    InspectorDirectory,
    build_target_directory,
    load_enforcement_history,
    load_evidence,
    load_inspectors,
    sha256_of,
    target_from_snapshot,
    target_snapshot,
)
from monitoring.roster.draw import ALGORITHM, DrawResult, draw
from monitoring.roster.period import Period
from monitoring.roster.rules import CATEGORIES, RulesFile, load_rules


class RosterError(ValueError):
    """A roster request that cannot be done (period already drawn, unknown record, …)."""


def default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


@dataclass
class DrawInputs:
    """Everything the pure draw needs, as canonical data (what goes into the record)."""

    target: list[dict]
    inspectors: dict
    history: list[dict]
    county_counts: dict[str, int]
    evidence_window: tuple[str, str]

    def hashes(self, rules: RulesFile) -> dict[str, str]:
        return {"target_directory": sha256_of(self.target), "inspector_directory": sha256_of(self.inspectors),
                "history": sha256_of(self.history), "rules": rules.sha256}


def collect_inputs(settings: Settings, session, *, registry: Registry, rules: RulesFile,
                   inspectors: InspectorDirectory, period: Period, zone: str | None, as_of: datetime,
                   exclude_records: set[str] = frozenset()) -> DrawInputs:
    """Build the directories as they stand at ``as_of`` (evidence recorded before it)."""
    lookback = timedelta(days=rules.rules.special_supervision.lookback_days)
    # capture evidence from InfluxDB when one is configured (ENVMON_INFLUX_URL; `envmon up` sets it)
    store = store_from_settings(settings) if settings.influx_url else None
    incidents, capture = load_evidence(settings, as_of - lookback, as_of, store=store)
    complaints = complaints_frame(settings.sql_url, recorded_before=as_of)
    county = build_target_directory(registry, rules.rules, period=period, as_of=as_of, incidents=incidents,
                                    capture=capture, complaints=complaints,
                                    enforcement=load_enforcement_history(settings.enforcement_history_path))
    counts = {c: int((county["category"] == c).sum()) for c in CATEGORIES}
    target = county[county["zone"] == zone] if zone else county
    history = tables.history_rows(session, period, before=as_of, exclude_records=exclude_records)
    return DrawInputs(target=target_snapshot(target), inspectors=inspectors.snapshot(), history=history,
                      county_counts=counts,
                      evidence_window=((as_of - lookback).astimezone(UTC).isoformat(), as_of.astimezone(UTC).isoformat()))


def run_pure_draw(inputs: DrawInputs, rules: RulesFile, period: Period, seed: int) -> DrawResult:
    return draw(target=target_from_snapshot(inputs.target),
                inspectors=InspectorDirectory.from_snapshot(inputs.inspectors), history=inputs.history,
                rules=rules.rules, period=period, seed=seed, county_counts=inputs.county_counts)


def _scope_overlaps(a: str, b: str) -> bool:
    return a == "county" or b == "county" or a == b


def record_body_sha(record: dict) -> str:
    return sha256_of({k: v for k, v in record.items() if k != "record_sha256"})


def run_draw(settings: Settings, period: str | Period, *, zone: str | None = None, seed: int | None = None,
             by: str | None = None, replace_reason: str | None = None, now: datetime | None = None,
             registry: Registry | None = None, late_reason: str | None = None) -> dict[str, Any]:
    """Draw one round, store the record (SQL + JSON file) and return it.

    ``late_reason``: why a draw is made after its scheduled date (a manual trigger); kept in the record
    as ``late_draw_reason``.

    Refuses when a non-superseded record of the same period overlaps the scope, unless
    ``replace_reason`` is given (and none of the replaced tasks has a result yet).
    """
    settings.ensure_dirs()
    period = period if isinstance(period, Period) else Period.parse(period)
    registry = registry or load_registry(settings.registry_path)
    zone_id = registry.find_zone(zone).id if zone else None
    scope = zone_id or "county"
    rules = load_rules(settings.roster_rules_path)
    directory = load_inspectors(settings.inspectors_path, enterprises=set(registry.enterprises))
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if seed is None:
        seed = secrets.randbelow(2**63)
    if not 0 <= seed < 2**63:
        raise RosterError("seed must be an integer in [0, 2^63)")
    by = by or default_user()

    with session_scope(settings.sql_url) as s:
        serialize_writers(s, "roster_draw")        # concurrent draws: one wins, the others see its record
        clashing = [r for r in tables.active_draws(s, period) if _scope_overlaps(r.scope, scope)]
        if clashing and not replace_reason:
            ids = ", ".join(r.record_id for r in clashing)
            raise RosterError(f"{period} ({scope}) is already drawn: {ids}. Draws are append-only; "
                              f"give --replace REASON to supersede it.")
        if clashing:
            ids = [r.record_id for r in clashing]
            with_results = s.scalars(select(tables.ResultRow.task_id)
                                     .join(tables.TaskRow, tables.TaskRow.task_id == tables.ResultRow.task_id)
                                     .where(tables.TaskRow.record_id.in_(ids))).all()
            if with_results:
                raise RosterError(f"cannot replace {', '.join(ids)}: results already recorded for "
                                  f"{', '.join(sorted(with_results))}")
        tables.sync_inspectors(s, directory, now)
        inspectors = tables.inspectors_from_store(s, source=str(settings.inspectors_path))
        excluded = {r.record_id for r in clashing}
        inputs = collect_inputs(settings, s, registry=registry, rules=rules, inspectors=inspectors,
                                period=period, zone=zone_id, as_of=now, exclude_records=excluded)
        result = run_pure_draw(inputs, rules, period, seed)

        n = (s.scalar(select(func.count()).select_from(tables.DrawRow).where(tables.DrawRow.period == str(period)))
             or 0) + 1
        record_id = f"{period}-{scope}-{n}"
        task_ids: dict[str, str] = {}
        for t in result.tasks:
            tid = f"{period}-{t.enterprise}"
            if s.get(tables.TaskRow, tid) is not None:
                tid = f"{tid}-{n}"
            task_ids[t.enterprise] = tid
        record: dict[str, Any] = {
            "record_id": record_id, "period": str(period), "scope": scope, "seed": seed,
            "algorithm": ALGORITHM, "drawn_at": now.isoformat(), "drawn_by": by,
            "supersedes": sorted(excluded), "supersede_reason": replace_reason,
            "rules": {"path": str(settings.roster_rules_path), "sha256": rules.sha256, "text": rules.text,
                      "source": rules.rules.source},
            "sources": {"registry": str(settings.registry_path), "inspectors": str(settings.inspectors_path),
                        "evidence_window_utc": list(inputs.evidence_window)},
            "hashes": inputs.hashes(rules),
            "inputs": {"target_directory": inputs.target, "inspector_directory": inputs.inspectors,
                       "history": inputs.history, "county_counts": inputs.county_counts},
            "risk_weight_formula": rules.rules.risk_weights.formula(),
            "result": result.as_dict(),
            "task_ids": task_ids,
            "previous_sha256": tables.last_record_sha(s),
        }
        if late_reason:
            record["late_draw_reason"] = late_reason
        record = json.loads(json.dumps(record, ensure_ascii=False))   # exactly what the file will hold
        record["record_sha256"] = record_body_sha(record)
        s.add(tables.DrawRow(record_id=record_id, period=str(period), scope=scope, seed=seed, algorithm=ALGORITHM,
                            drawn_at=now, drawn_by=by, rules_sha256=rules.sha256,
                            target_sha256=record["hashes"]["target_directory"],
                            inspectors_sha256=record["hashes"]["inspector_directory"],
                            history_sha256=record["hashes"]["history"], previous_sha256=record["previous_sha256"],
                            record_sha256=record["record_sha256"],
                            record_json=json.dumps(record, ensure_ascii=False, sort_keys=True),
                            replaces=",".join(sorted(excluded))))
        s.flush()
        for t in result.tasks:
            s.add(tables.TaskRow(task_id=task_ids[t.enterprise], record_id=record_id, period=str(period),
                                enterprise=t.enterprise, zone=t.zone, category=t.category, mode=t.mode,
                                inspectors=t.inspectors))
        for rid in sorted(excluded):
            s.add(tables.SupersessionRow(record_id=rid, superseded_by=record_id, reason=replace_reason, at=now))
    path = record_path(settings, record_id)
    path.write_text(json.dumps(record, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return record


def record_path(settings: Settings, record_id: str) -> Path:
    return settings.rosters_dir / f"{record_id}.json"


def load_record(settings: Settings, ref: str) -> tuple[dict | None, dict | None, str]:
    """(record from the file, record from the SQL store, record id) for a path or a record id."""
    p = Path(ref)
    file_rec = None
    if p.suffix == ".json" and p.exists():
        try:
            file_rec = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RosterError(f"{p}: not valid JSON: {exc}") from None
        rid = str(file_rec.get("record_id", p.stem))
    else:
        rid = ref
        fp = record_path(settings, rid)
        if fp.exists():
            try:
                file_rec = json.loads(fp.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise RosterError(f"{fp}: not valid JSON: {exc}") from None
    with session_scope(settings.sql_url) as s:
        row = s.get(tables.DrawRow, rid)
        sql_rec = tables.record_json(row) if row else None
    if file_rec is None and sql_rec is None:
        raise RosterError(f"no draw record {ref!r} (neither a JSON file nor a record id in the SQL store)")
    return file_rec, sql_rec, rid


def local_time(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S %Z")
