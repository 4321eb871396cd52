"""Security events → incidents of their own kind (``security``), which the bureau sees with the others.

The receiver (:mod:`sensors.receiver`, which may not import ``monitoring``) writes one JSON line per
event to ``$ENVMON_DATA_DIR/security/receiver-<local date>.jsonl`` — today the PW lockout: 5 wrong
device passwords for one MN, or from one peer address, within 10 minutes. :func:`import_security_events`
turns each event into an incident (``kind = "security"``, series ``(point or "receiver", "PW",
"HJ 212-2017", "PW lockout", "pw_lockout")``), once: an event already imported (same series, same
start time) is skipped, so the import can run on every evaluation and from ``envmon incidents list``.

A security incident is a one-off: it opens (``status = "open"``, not ``active``) and waits for a person
to acknowledge and close it; it never blocks the next one of the same series. It names the MN, the
point, the peer address and how long the lock lasts — never the passwords tried (the receiver does not
keep them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from monitoring.db import session_scope
from monitoring.incidents import ChangeSet, Incident, IncidentChange, IncidentEvent, IncidentSeries
from monitoring.incidents.views import _view
from sensors.quarantine import read_records

SECURITY_KIND = "security"
STANDARD = "HJ 212-2017"
CLAUSE = "PW lockout (5 wrong PWs in 10 min → 15 min lock)"
CHECK = "pw_lockout"


def security_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "security"


def import_security_events(db_url: str, data_dir: Path, *, now: datetime | None = None) -> ChangeSet:
    """Open one ``security`` incident per security event not imported yet; returns the openings."""
    now = now or datetime.now(UTC)
    events = [e for e in read_records(security_dir(data_dir)) if e.get("kind") == "pw_lockout"]
    changes = ChangeSet()
    if not events:
        return changes
    with session_scope(db_url) as session:
        for e in events:
            at = datetime.fromisoformat(e["time"]).astimezone(UTC)
            point = e.get("point") if str(e.get("key", "")).startswith("MN ") else "receiver"
            parameter = "PW" if point != "receiver" else f"PW {e.get('key', '')}"[:64]
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
            seen = session.scalars(select(Incident.id).where(Incident.series_id == series.id,
                                                             Incident.started_at == at)).first()
            if seen is not None:
                continue
            until = datetime.fromisoformat(e["locked_until"]) if e.get("locked_until") else None
            inc = Incident(series_id=series.id, kind=SECURITY_KIND, status="open", active=False, severity=2,
                           started_at=at, confirmed_at=at, cleared_at=until, created_at=now, updated_at=now,
                           exceed_seconds=0.0, window_count=0, escalation_level=0)
            session.add(inc)
            session.flush()
            summary = f"{e.get('reason')}; MN {e.get('mn')}, 来源地址 {e.get('peer')}（口令错误锁定，疑似暴力破解）"
            ev = IncidentEvent(incident_id=inc.id, at=now, actor="receiver", action="open", data_time=at,
                               note=summary, detail=None)
            session.add(ev)
            session.flush()
            changes.changes.append(IncidentChange("open", _view(inc, series), summary, ev.id))
    return changes
