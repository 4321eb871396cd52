"""Regenerating a monthly report from the console: an operator's request, run in the background, recorded.

The report code is :func:`monitoring.reports.build_monthly` (the same call as ``envmon report monthly
--publish`` and the ``monthly_report`` DAG): it recomputes the month from InfluxDB and the SQL store and
issues a **new version only when the data version or the status changed** (late data, a changed limit,
a closed incident, preliminary → final), keeping every issued version under ``versions/v<N>/``
(:mod:`monitoring.reports.versions`); otherwise the current version stands and the record says so.

Scopes as the console lists them: ``county`` (the five clusters and the county, as the CLI without
``--zone``), a zone id (that cluster), ``<zone>/<enterprise>`` (that enterprise alone).

Record: ``$ENVMON_DATA_DIR/reports/regenerations.jsonl``, one JSON line per event (``requested`` with who
and when, ``started``, ``done`` with each scope's outcome, ``failed`` with the reason), appended under an
exclusive ``flock`` and fsynced; the reports page shows the latest state of each request. A request for a
month and scope already queued or running is refused (also from another worker process: the check and
the append happen under the lock). Builds run one at a time per process (one worker thread): a build
is CPU-heavy (PDF rendering) and the console must stay responsive.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitoring.config import Settings
from monitoring.console.reports_index import MONTH, SCOPE

log = logging.getLogger("envmon.console.reports")
LOG_NAME = "regenerations.jsonl"
STATE_ZH = {"requested": "已请求（排队）", "started": "生成中", "done": "已完成", "failed": "失败",
            "interrupted": "中断（未完成，可重新生成）"}
#: a request still queued or running after this long was cut off (the server stopped during the build)
STALE = timedelta(hours=1)

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-regen")
_futures: dict[str, Any] = {}
_futures_lock = threading.Lock()


class RegenerationError(ValueError):
    """A request that cannot be queued (bad month or scope, already queued or running)."""


def log_path(settings: Settings) -> Path:
    return settings.reports_dir / LOG_NAME


@contextmanager
def _locked(settings: Settings):
    path = log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _append(fd: int, entry: dict[str, Any]) -> None:
    os.write(fd, (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
    os.fsync(fd)


def _record(settings: Settings, entry: dict[str, Any]) -> None:
    with _locked(settings) as fd:
        _append(fd, entry)


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def history(settings: Settings, limit: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
    """Requests, newest first, each with its latest state (``state``, ``state_zh``) and outcome; one still
    queued or running after :data:`STALE` is ``interrupted`` (its process stopped) and blocks nothing."""
    now = now or datetime.now(UTC)
    merged: dict[str, dict[str, Any]] = {}
    for e in _read(log_path(settings)):
        req = merged.setdefault(e.get("id", ""), {})
        req.update({k: v for k, v in e.items() if k != "event"})
        req["state"] = e.get("event")
        req[f"{e.get('event')}_at"] = e.get("at")
    out = sorted(merged.values(), key=lambda r: r.get("requested_at") or "", reverse=True)[:limit]
    for r in out:
        if r.get("state") in ("requested", "started"):
            try:
                if now - datetime.fromisoformat(r["requested_at"]) > STALE:
                    r["state"] = "interrupted"
            except (KeyError, TypeError, ValueError):
                r["state"] = "interrupted"
        r["state_zh"] = STATE_ZH.get(r.get("state", ""), r.get("state", ""))
    return out


def scope_arguments(scope: str) -> dict[str, str | None]:
    """``build_monthly`` keyword arguments for a console scope."""
    if scope == "county":
        return {"zone": None, "enterprise": None}
    if "/" in scope:
        return {"zone": None, "enterprise": scope.split("/", 1)[1]}
    return {"zone": scope, "enterprise": None}


def request(settings: Settings, month: str, scope: str, by: str, now: datetime | None = None) -> str:
    """Queue a regeneration of ``month`` / ``scope`` requested by ``by``; returns the request id."""
    if not MONTH.match(month) or not SCOPE.match(scope):
        raise RegenerationError(f"月份或范围无效：{month} {scope}")
    now = now or datetime.now(UTC)
    rid = uuid.uuid4().hex[:12]
    with _locked(settings) as fd:
        busy = [r for r in history(settings, limit=10_000, now=now) if r.get("month") == month and r.get("scope") == scope
                and r.get("state") in ("requested", "started")]
        if busy:
            raise RegenerationError(f"{month} {scope} 的报告已在生成队列中（请求人 {busy[0].get('by')}）。")
        _append(fd, {"id": rid, "event": "requested", "at": now.isoformat(), "requested_at": now.isoformat(),
                     "month": month, "scope": scope, "by": by})
    with _futures_lock:
        _futures[rid] = _executor.submit(_run, settings, rid, month, scope)
    return rid


def _run(settings: Settings, rid: str, month: str, scope: str) -> None:
    from monitoring.reports import build_monthly

    _record(settings, {"id": rid, "event": "started", "at": datetime.now(UTC).isoformat()})
    try:
        result = build_monthly(settings, month, publish=True, workers=1, **scope_arguments(scope))
    except Exception as exc:          # recorded and shown: the operator must see why
        log.exception("report regeneration %s %s failed", month, scope)
        _record(settings, {"id": rid, "event": "failed", "at": datetime.now(UTC).isoformat(),
                           "error": f"{type(exc).__name__}: {exc}"[:500]})
        return
    outcomes = [{"scope": r.scope.key, "action": r.action, "version": r.version, "status": r.status,
                 "changes": r.changes} for r in result.results]
    _record(settings, {"id": rid, "event": "done", "at": datetime.now(UTC).isoformat(), "outcomes": outcomes})


def wait(rid: str, timeout: float | None = None) -> None:
    """Block until request ``rid`` of this process has finished (tests, the CLI)."""
    with _futures_lock:
        fut = _futures.get(rid)
    if fut is not None:
        fut.result(timeout=timeout)
