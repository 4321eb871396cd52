"""Trust: the data version of a report, and issuing preliminary/final versions with change lists.

Data version
    A SHA-256 over everything the report's numbers come from, in a canonical serialisation:
    ``readings`` — the per-hour aggregates InfluxDB computed from every reading of the scope (count, flag-N
    count, sum, min, max and the count of each HJ 212 flag per point × parameter × period × hour; noise
    energy sums), so a changed, added, re-flagged or deleted reading changes it; ``limits`` — every limit
    row applied (value, status, source, clause); ``ledger``, ``incidents`` (id, status, last update),
    ``complaints``, ``inspections`` and ``quarantine`` counts. Each component's hash is kept in
    ``summary.json`` so a reissue can say *what* changed (readings, limits, …).

Issuing
    ``DIR/<month>/<scope>/`` holds the current version; every issued version is also kept, never
    overwritten, under ``DIR/<month>/<scope>/versions/v<N>/`` with ``issue.json`` listing them all. A new
    version is issued when the data version changes (late data, a changed limit, a closed incident) or the
    status moves from preliminary to final; otherwise the current version stands (the command says so).
    A reissue carries a change list: every points.csv figure that changed (old → new), the headline
    figures, the status and the data components that changed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.reports.gather import MonthData

VERSIONS_DIR = "versions"
ISSUE_FILE = "issue.json"


def frame_digest(frame: pd.DataFrame, sort_by: list[str] | None = None, float_digits: int = 6) -> str:
    """SHA-256 of a frame's content, independent of row order (sorted by ``sort_by``) and index."""
    h = hashlib.sha256()
    if frame is None or frame.empty:
        return h.hexdigest()
    f = frame.copy()
    cols = sorted(f.columns)
    f = f[cols]
    for c in cols:
        if pd.api.types.is_float_dtype(f[c]):
            f[c] = f[c].round(float_digits)
        elif pd.api.types.is_datetime64_any_dtype(f[c]):
            f[c] = f[c].astype("int64")
        elif isinstance(f[c].dtype, pd.StringDtype):   # already strings: the same hashes without a copy
            f[c] = f[c].fillna("<NA>")
        else:
            f[c] = f[c].astype("string").fillna("<NA>")
    keys = [c for c in (sort_by or cols) if c in f]
    # the order of a stable sort by ``keys``, from sorted integer codes (np.lexsort) — the same rows in the same
    # order as ``sort_values(keys, kind="stable")``, without comparing strings (the county's 415k hours: ~4x faster)
    codes = [pd.factorize(f[k], sort=True, use_na_sentinel=False)[0] for k in reversed(keys)]
    f = f.take(np.lexsort(codes)).reset_index(drop=True) if codes else f.reset_index(drop=True)
    h.update(",".join(cols).encode())
    h.update(pd.util.hash_pandas_object(f, index=False).to_numpy().tobytes())
    return h.hexdigest()


def data_components(data: MonthData) -> dict[str, str]:
    inc = data.incidents
    inc = inc[["id", "status", "updated_at"]] if not inc.empty else inc
    return {
        "readings": frame_digest(pd.concat([data.hourly.assign(_bg=False), data.background.assign(_bg=True)],
                                           ignore_index=True) if not data.background.empty else data.hourly,
                                 ["point", "parameter", "period", "window_start"]),
        "limits": frame_digest(data.limits, ["point", "parameter", "check"]),
        "ledger": frame_digest(data.ledger, ["date", "store", "waste_code"]),
        "incidents": frame_digest(inc, ["id"]),
        "complaints": frame_digest(data.complaints),
        "inspections": frame_digest(data.inspections),
        "quarantine": frame_digest(data.quarantine),
        # issue #14: samples outside the month (soil's year, the wells' trend history) can change the report
        "samples": frame_digest(pd.concat([f[["point", "parameter", "check", "window_start", "value", "verdict"]]
                                           for f in (data.gw_trend, data.soil) if not f.empty], ignore_index=True)
                                if not (data.gw_trend.empty and data.soil.empty) else pd.DataFrame()),
    }


def data_version(components: dict[str, str]) -> str:
    h = hashlib.sha256()
    for k in sorted(components):
        h.update(f"{k}={components[k]}\n".encode())
    return h.hexdigest()


COMPONENT_ZH = {"readings": "监测数据", "limits": "限值", "ledger": "危废台账", "incidents": "事件",
                "complaints": "投诉", "inspections": "双随机检查", "quarantine": "隔离数据",
                "samples": "地下水/土壤样品"}

#: points.csv columns compared between versions (key → compared)
POINT_KEYS = ["point", "parameter", "check", "window"]
POINT_COMPARED = ["judged", "over", "max_value", "limit", "limit_status", "max_multiple", "capture_pct"]


@dataclass
class Decision:
    """What to do with a scope's report: ``issue`` version ``number`` (with ``changes``) or keep ``current``."""

    action: str                        # "issue" | "unchanged"
    number: int
    previous: dict[str, Any] | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _fmt(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return None
    if isinstance(v, (np.floating, float)):
        return round(float(v), 4)
    if isinstance(v, np.integer):
        return int(v)
    return v


def points_changes(old: pd.DataFrame, new: pd.DataFrame) -> list[dict[str, Any]]:
    """Every compared points.csv figure that differs: {what, field, old, new}."""
    keys = [k for k in POINT_KEYS if k in new.columns and k in old.columns]
    if not keys:
        return []
    o = old.set_index(keys)
    n = new.set_index(keys)
    out: list[dict[str, Any]] = []
    for key in n.index.union(o.index):
        parts = key if isinstance(key, tuple) else (key,)
        label = " ".join(str(k) for k in parts)
        ids = {k: str(v) for k, v in zip(keys, parts, strict=True)}   # for the Chinese wording (content)
        if key not in o.index:
            out.append({"what": label, "field": "row", "old": None, "new": "新增", **ids})
            continue
        if key not in n.index:
            out.append({"what": label, "field": "row", "old": "存在", "new": None, **ids})
            continue
        ro, rn = o.loc[key], n.loc[key]
        if isinstance(ro, pd.DataFrame):
            ro = ro.iloc[0]
        if isinstance(rn, pd.DataFrame):
            rn = rn.iloc[0]
        for c in POINT_COMPARED:
            if c not in n.columns or c not in o.columns:
                continue
            a, b = ro[c], rn[c]
            if pd.isna(a) and pd.isna(b):
                continue
            try:
                same = not pd.isna(a) and not pd.isna(b) and np.isclose(float(a), float(b), rtol=1e-9, atol=1e-9)
            except (TypeError, ValueError):
                same = str(a) == str(b)
            if not same:
                out.append({"what": label, "field": c, "old": _fmt(a), "new": _fmt(b), **ids})
    return out


def decide(scope_dir: Path, summary: dict[str, Any], points: pd.DataFrame) -> Decision:
    """Compare the new report (``summary`` without version fields, ``points``) with the current version."""
    issue = read_json(scope_dir / ISSUE_FILE) or {"versions": []}
    versions = issue.get("versions", [])
    if not versions:
        return Decision("issue", 1)
    last = versions[-1]
    previous = read_json(scope_dir / VERSIONS_DIR / f"v{last['version']}" / "summary.json")
    if last.get("data_version") == summary["data_version"] and last.get("status") == summary["status"]:
        return Decision("unchanged", int(last["version"]), previous)
    changes: list[dict[str, Any]] = []
    if last.get("status") != summary["status"]:
        changes.append({"what": "报告状态", "field": "status", "old": last.get("status"), "new": summary["status"]})
    if previous:
        old_c = previous.get("data_components", {})
        for k, v in summary["data_components"].items():
            if old_c.get(k) != v:
                changes.append({"what": f"数据组成: {COMPONENT_ZH.get(k, k)}", "field": k,
                                "old": (old_c.get(k) or "")[:12], "new": v[:12]})
        for k, v in summary.get("headline", {}).items():
            ov = previous.get("headline", {}).get(k)
            if isinstance(v, dict) or isinstance(ov, dict):   # per pollutant (emission_kg): one change each
                v, ov = v if isinstance(v, dict) else {}, ov if isinstance(ov, dict) else {}
                changes += [{"what": "总体指标", "field": f"{k}.{sub}", "old": _fmt(ov.get(sub)),
                             "new": _fmt(v.get(sub))}
                            for sub in sorted(set(v) | set(ov)) if _fmt(ov.get(sub)) != _fmt(v.get(sub))]
            elif _fmt(ov) != _fmt(v):
                changes.append({"what": "总体指标", "field": k, "old": _fmt(ov), "new": _fmt(v)})
    old_points = scope_dir / VERSIONS_DIR / f"v{last['version']}" / "points.csv"
    if old_points.exists():
        changes += points_changes(pd.read_csv(old_points), points)
    return Decision("issue", int(last["version"]) + 1, previous, changes)


def keep_version(scope_dir: Path, number: int, files: list[Path], entry: dict[str, Any]) -> Path:
    """Copy the issued files to ``versions/v<number>/`` and append ``entry`` to ``issue.json``."""
    target = scope_dir / VERSIONS_DIR / f"v{number}"
    if target.exists():
        raise FileExistsError(f"{target}: version {number} was already issued; versions are never overwritten")
    from monitoring.reports.writers import PRIVATE, _replace, report_dir

    report_dir(scope_dir, target, PRIVATE)
    for f in files:
        shutil.copy2(f, target / f.name)           # copies the 0600 mode too
    issue = read_json(scope_dir / ISSUE_FILE) or {"versions": []}
    issue["versions"].append(entry)
    _replace(scope_dir / ISSUE_FILE, json.dumps(issue, ensure_ascii=False, indent=2), PRIVATE)
    return target


def issued_entry(number: int, summary: dict[str, Any], issued_at: datetime, n_changes: int) -> dict[str, Any]:
    return {"version": number, "status": summary["status"], "data_version": summary["data_version"],
            "issued_at": issued_at.isoformat(), "changes": n_changes}
