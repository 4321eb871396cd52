"""Security events → incidents of their own kind (``security``), which the bureau sees with the others.

The receiver (:mod:`sensors.receiver`, which may not import ``monitoring``) writes one JSON line per
event to ``$ENVMON_DATA_DIR/security/receiver-<local date>.jsonl`` — today the PW lockout: 5 wrong
device passwords for one MN, or from one peer address, within 10 minutes. :func:`import_security_events`
turns each event into an incident (``kind = "security"``, series ``(point or "receiver", "PW",
"HJ 212-2017", "PW lockout", "pw_lockout")``), once: an event already imported (same series, same
start time) is skipped, so the import can run on every evaluation and from ``envmon incidents list``.

One incident per lockout **episode**, so the bureau gets one message per attack, not one per lock: a
lockout that shares the MN or the peer address of a security incident still open (not closed by a
person) whose last lockout was at most :data:`EPISODE_GAP` earlier joins it as an ``update`` event —
the MN and the address locked by the same guesses, or the next lock of an attacker who waits out the
15 minutes. Updates go out in the incident's digest (at most one per digest interval); only the
``open`` of an episode is sent at once (:func:`monitoring.alerting._apply`, every run of the deadman
and of the evaluation).

A security incident opens (``status = "open"``, not ``active``: never escalated by the silence rule)
and waits for a person to acknowledge and close it. It names the MN, the point, the peer address and
how long the lock lasts — never the passwords tried (the receiver does not keep them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitoring.db import session_scope
from monitoring.incidents import ChangeSet, Incident, IncidentChange, IncidentEvent, IncidentSeries
from monitoring.incidents.views import _view
from sensors.quarantine import read_records

SECURITY_KIND = "security"
STANDARD = "HJ 212-2017"
CLAUSE = "PW lockout (5 wrong PWs in 10 min → 15 min lock)"
CHECK = "pw_lockout"
#: A lockout this soon after the last one of an open security incident with the same MN or address
#: belongs to that incident's episode (an attacker waiting out the 15-minute lock comes back within it).
EPISODE_GAP = timedelta(hours=1)


def security_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "security"


@dataclass
class _Episode:
    """An open security incident: the MNs and addresses locked in it, its last lockout, what it holds."""

    incident: Incident
    series: IncidentSeries
    mns: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    last: datetime | None = None

    def takes(self, mn: str | None, address: str | None, at: datetime) -> bool:
        shares = (mn is not None and mn in self.mns) or (address is not None and address in self.addresses)
        return shares and self.last is not None and at - self.last <= EPISODE_GAP

    def add(self, mn: str | None, address: str | None, at: datetime) -> None:
        self.mns.update([mn] if mn else [])
        self.addresses.update([address] if address else [])
        self.last = max(self.last or at, at)


def _lockout_id(e: dict[str, Any]) -> str:
    return f"{e.get('time')} {e.get('key')}"


def _address(peer: str | None) -> str | None:
    return peer.rsplit(":", 1)[0] if peer else None


def import_security_events(db_url: str, data_dir: Path, *, now: datetime | None = None) -> ChangeSet:
    """Turn security events not imported yet into incidents: an ``open`` for the first lockout of an
    episode, an ``update`` for each further one (module docstring). Returns the changes."""
    now = now or datetime.now(UTC)
    events = sorted((e for e in read_records(security_dir(data_dir)) if e.get("kind") == "pw_lockout"),
                    key=lambda e: e["time"])
    changes = ChangeSet()
    if not events:
        return changes
    with session_scope(db_url) as session:
        episodes: list[_Episode] = []
        imported: set[str] = set()
        rows = session.execute(select(Incident, IncidentSeries).join(
            IncidentSeries, IncidentSeries.id == Incident.series_id).where(Incident.kind == SECURITY_KIND)).all()
        by_id = {}
        legacy = set()           # imported by a version without event details: known by series and start
        for inc, series in rows:
            ep = _Episode(inc, series)
            by_id[inc.id] = ep
            legacy.add((series.point, series.parameter, _aware(inc.started_at)))
            if inc.status != "closed":
                episodes.append(ep)
        for ev in session.scalars(select(IncidentEvent).where(IncidentEvent.incident_id.in_(list(by_id)),
                                                              IncidentEvent.detail.is_not(None))):
            detail = json.loads(ev.detail or "{}")
            if "lockout" not in detail:
                continue
            imported.add(detail["lockout"][1])
            by_id[ev.incident_id].add(detail.get("mn", [None, None])[1], detail.get("address", [None, None])[1],
                                      _aware(ev.data_time) or _aware(ev.at))
        for e in events:
            if _lockout_id(e) in imported or _series_key(e) in legacy:
                continue
            imported.add(_lockout_id(e))
            changes.changes.append(_import_one(session, e, episodes, now))
    return changes


def _series_key(e: dict[str, Any]) -> tuple[str, str, datetime]:
    point = e.get("point") if str(e.get("key", "")).startswith("MN ") else "receiver"
    parameter = "PW" if point != "receiver" else f"PW {e.get('key', '')}"[:64]
    return point, parameter, datetime.fromisoformat(e["time"]).astimezone(UTC)


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _import_one(session, e: dict[str, Any], episodes: list[_Episode], now: datetime) -> IncidentChange:
    at = datetime.fromisoformat(e["time"]).astimezone(UTC)
    mn, address = e.get("mn"), _address(e.get("peer"))
    until = datetime.fromisoformat(e["locked_until"]).astimezone(UTC) if e.get("locked_until") else None
    summary = f"{e.get('reason')}; MN {mn}, 来源地址 {e.get('peer')}（口令错误锁定，疑似暴力破解）"
    detail = json.dumps({"lockout": [None, _lockout_id(e)], "mn": [None, mn], "address": [None, address]},
                        ensure_ascii=False)
    episode = next((ep for ep in episodes if ep.takes(mn, address, at)), None)
    if episode is not None:                         # the same attack: one more lock in its incident
        inc, series = episode.incident, episode.series
        if until is not None and (inc.cleared_at is None or _aware(inc.cleared_at) < until):
            inc.cleared_at = until
        inc.updated_at = now
        ev = IncidentEvent(incident_id=inc.id, at=now, actor="receiver", action="update", data_time=at,
                           note=summary, detail=detail)
        session.add(ev)
        session.flush()
        episode.add(mn, address, at)
        return IncidentChange("update", _view(inc, series), summary, ev.id)

    point, parameter, _ = _series_key(e)
    series = session.scalars(select(IncidentSeries).where(
        IncidentSeries.point == point, IncidentSeries.parameter == parameter,
        IncidentSeries.standard == STANDARD, IncidentSeries.clause == CLAUSE,
        IncidentSeries.check == CHECK)).first()
    if series is None:
        series = IncidentSeries(kind=SECURITY_KIND, point=point, parameter=parameter, standard=STANDARD,
                                clause=CLAUSE, check=CHECK, zone=e.get("zone"),
                                enterprise=e.get("enterprise"), has_exceeded=False)
        session.add(series)
        session.flush()
    inc = Incident(series_id=series.id, kind=SECURITY_KIND, status="open", active=False, severity=2,
                   started_at=at, confirmed_at=at, cleared_at=until, created_at=now, updated_at=now,
                   exceed_seconds=0.0, window_count=0, escalation_level=0)
    session.add(inc)
    session.flush()
    ev = IncidentEvent(incident_id=inc.id, at=now, actor="receiver", action="open", data_time=at,
                       note=summary, detail=detail)
    session.add(ev)
    session.flush()
    episode = _Episode(inc, series)
    episode.add(mn, address, at)
    episodes.append(episode)
    return IncidentChange("open", _view(inc, series), summary, ev.id)

