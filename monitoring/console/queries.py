"""Read models of the console pages, computed in SQL from the incident store.

Every assessment window the evaluation applied is in ``incident_window`` (verdict, value, limit per
series and window; see :mod:`monitoring.incidents`). The overview and the point page read their
status from there — the same judgement that opens incidents — so the console needs no InfluxDB query
for them. A day is the local (Asia/Shanghai) calendar day, converted to its UTC bounds for the query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import Index, and_, func, select

from monitoring.config import LOCAL_TZ
from monitoring.db import session_scope
from monitoring.incidents import Incident, IncidentSeries, IncidentWindow

#: the overview reads one day of windows across all series: an index on the window start keeps that
#: a range scan on a month of data (declared here, owned by the console's read model)
WINDOW_START_INDEX = Index("ix_incident_window_start", IncidentWindow.window_start)

STATUS_ZH = {"exceeded": "超标", "compliant": "达标", "no_data": "无数据", "offline": "无在线监测"}


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)
    return start, start + timedelta(days=1)


def today_local(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(LOCAL_TZ).date()


@dataclass
class EnterpriseStatus:
    code: str
    name: str
    status: str                     # exceeded | compliant | no_data | offline
    windows: int = 0
    valid: int = 0
    exceeding: int = 0

    @property
    def status_zh(self) -> str:
        return STATUS_ZH[self.status]


@dataclass
class ZoneOverview:
    id: str
    name: str
    enterprises: list[EnterpriseStatus] = field(default_factory=list)
    windows: int = 0
    valid: int = 0

    @property
    def capture_pct(self) -> float | None:
        return 100.0 * self.valid / self.windows if self.windows else None


def overview(sql_url: str, registry, day: date) -> tuple[list[ZoneOverview], dict[int, int]]:
    """Each zone's enterprises with the day's status, and open incidents by severity."""
    t0, t1 = local_day_bounds(day)
    with session_scope(sql_url) as s:
        rows = s.execute(
            select(IncidentSeries.zone, IncidentSeries.enterprise, IncidentWindow.verdict, func.count())
            .join(IncidentWindow, IncidentWindow.series_id == IncidentSeries.id)
            .where(IncidentWindow.window_start >= t0, IncidentWindow.window_start < t1)
            .group_by(IncidentSeries.zone, IncidentSeries.enterprise, IncidentWindow.verdict)).all()
        by_severity = dict(s.execute(select(Incident.severity, func.count()).where(Incident.status != "closed")
                                     .group_by(Incident.severity)).all())
    counts: dict[tuple[str | None, str | None], dict[str, int]] = {}
    for zone, ent, verdict, n in rows:
        counts.setdefault((zone, ent), {})[verdict] = n
    online_enterprises = {p.enterprise for p in registry.points.values() if p.online and p.enterprise}
    zones: list[ZoneOverview] = []
    for z in registry.zones.values():
        zo = ZoneOverview(z.id, z.name_zh)
        for e in registry.enterprises_of(z.id):
            c = counts.get((z.id, e.code), {})
            total, valid = sum(c.values()), c.get("compliant", 0) + c.get("exceeds", 0)
            if c.get("exceeds"):
                status = "exceeded"
            elif valid:
                status = "compliant"
            elif e.code in online_enterprises or total:
                status = "no_data"
            else:
                status = "offline"
            zo.enterprises.append(EnterpriseStatus(e.code, e.name, status, total, valid, c.get("exceeds", 0)))
            zo.windows += total
            zo.valid += valid
        for (zone, ent), c in counts.items():   # zone-level points (ambient air, surface water)
            if zone == z.id and ent is None:
                zo.windows += sum(c.values())
                zo.valid += c.get("compliant", 0) + c.get("exceeds", 0)
        zones.append(zo)
    return zones, {int(k): int(v) for k, v in by_severity.items()}


def point_windows(sql_url: str, point: str, since: datetime, until: datetime) -> pd.DataFrame:
    """Windows of every series of ``point`` in ``[since, until)``: the point page's table and chart."""
    cols = ["parameter", "standard", "clause", "check", "window_start", "window_end", "verdict", "value",
            "limit", "limit_low", "unit", "averaging", "limit_status", "reason"]
    with session_scope(sql_url) as s:
        rows = s.execute(
            select(IncidentSeries.parameter, IncidentSeries.standard, IncidentSeries.clause, IncidentSeries.check,
                   IncidentWindow.window_start, IncidentWindow.window_end, IncidentWindow.verdict,
                   IncidentWindow.value, IncidentWindow.limit, IncidentWindow.limit_low, IncidentWindow.unit,
                   IncidentWindow.averaging, IncidentWindow.limit_status, IncidentWindow.reason)
            .join(IncidentWindow, and_(IncidentWindow.series_id == IncidentSeries.id,
                                       IncidentWindow.window_start >= since, IncidentWindow.window_start < until))
            .where(IncidentSeries.point == point)
            .order_by(IncidentSeries.parameter, IncidentWindow.window_start)).all()
    df = pd.DataFrame(rows, columns=cols)
    for c in ("window_start", "window_end"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


def _aware(v: datetime) -> datetime:
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def point_summary(sql_url: str, point: str, since: datetime, until: datetime, recent_hours: int = 24,
                  recent_rows: int = 200) -> dict:
    """The point page's figures over ``[since, until)`` without building a frame (a page is read often):
    per series (parameter × check) the window count, exceeding / invalid / no-data windows and the last
    window; valid windows per local day (capture); the windows of the last ``recent_hours``, newest first.
    """
    from collections import Counter

    verdicts: Counter = Counter()
    last: dict[tuple[str, str], tuple] = {}
    by_day: dict[date, list[int]] = {}
    recent: list[dict] = []
    recent_since = until - timedelta(hours=recent_hours)
    with session_scope(sql_url) as s:
        rows = s.execute(
            select(IncidentSeries.parameter, IncidentSeries.check, IncidentWindow.window_start,
                   IncidentWindow.verdict, IncidentWindow.value, IncidentWindow.limit, IncidentWindow.unit,
                   IncidentSeries.standard, IncidentSeries.clause, IncidentWindow.limit_status,
                   IncidentWindow.reason)
            .join(IncidentWindow, and_(IncidentWindow.series_id == IncidentSeries.id,
                                       IncidentWindow.window_start >= since, IncidentWindow.window_start < until))
            .where(IncidentSeries.point == point)).all()
    for param, check, start, verdict, value, limit, unit, standard, clause, status, reason in rows:
        start = _aware(start)
        key = (param, check)
        verdicts[(param, check, verdict)] += 1
        if key not in last or start > last[key][0]:
            last[key] = (start, value, limit, unit, standard, clause, status)
        day = by_day.setdefault(start.astimezone(LOCAL_TZ).date(), [0, 0])
        day[1] += 1
        day[0] += verdict in ("compliant", "exceeds")
        if start >= recent_since:
            recent.append({"window_start": start, "parameter": param, "check": check, "value": value,
                           "limit": limit, "verdict": verdict, "reason": reason})
    series = []
    for (param, check), (start, value, limit, unit, standard, clause, status) in sorted(last.items()):
        n = sum(v for (p, c, _), v in verdicts.items() if (p, c) == (param, check))
        series.append({"parameter": param, "check": check, "n": n,
                       "exceeds": verdicts[(param, check, "exceeds")], "invalid": verdicts[(param, check, "invalid")],
                       "no_data": verdicts[(param, check, "no_data")], "limit": limit, "unit": unit,
                       "standard": standard, "clause": clause, "limit_status": status, "last_value": value,
                       "last_at": start})
    recent.sort(key=lambda r: r["window_start"], reverse=True)
    return {"series": series, "capture": [(d, v, n) for d, (v, n) in sorted(by_day.items())],
            "recent": recent[:recent_rows]}


def series_windows(sql_url: str, incident_id: int, margin: timedelta = timedelta(hours=24)) -> pd.DataFrame:
    """The windows of an incident's series from ``margin`` before its start to ``margin`` after its end."""
    with session_scope(sql_url) as s:
        inc = s.get(Incident, incident_id)
        if inc is None:
            return pd.DataFrame()
        start = inc.started_at or inc.created_at
        end = inc.cleared_at or inc.cut_at or inc.last_exceed_at or inc.updated_at
        rows = s.execute(select(IncidentWindow.window_start, IncidentWindow.window_end, IncidentWindow.verdict,
                                IncidentWindow.value, IncidentWindow.limit, IncidentWindow.unit)
                         .where(IncidentWindow.series_id == inc.series_id,
                                IncidentWindow.window_start >= start - margin,
                                IncidentWindow.window_start < end + margin)
                         .order_by(IncidentWindow.window_start)).all()
    df = pd.DataFrame(rows, columns=["window_start", "window_end", "verdict", "value", "limit", "unit"])
    for c in ("window_start", "window_end"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


# ---------------------------------------------------------------------------------------------------
# raw evidence of one point: the last packets in the spool, its quarantined items
# ---------------------------------------------------------------------------------------------------
_PW = __import__("re").compile(r"PW=[^;&]*")
TAIL_BYTES = 256 * 1024


def _tail_lines(path, limit_bytes: int = TAIL_BYTES) -> list[str]:
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - limit_bytes))
        data = fh.read()
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[1:] if size > limit_bytes else lines


def _last_lines(spool_dir, zone: str, mn: str | None, limit: int, files: int) -> list[str]:
    """The newest spool lines of device ``mn`` (open, ready and consumed segments), newest first, raw."""
    from pathlib import Path
    if not mn:
        return []
    root = Path(spool_dir)
    paths = [p for p in root.glob(f"**/{zone}/*") if p.is_file()] if root.exists() else []
    paths.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    needle = f"MN={mn};"
    out: list[str] = []
    for p in paths[:files]:
        for line in reversed(_tail_lines(p)):
            if needle in line:
                out.append(line.strip())
                if len(out) >= limit:
                    return out
    return out


@dataclass
class PacketReading:
    """One value of a packet as the point page lists it, with its HJ 212 data flag (HJ 212-2017 表6)."""

    code: str
    field: str
    value: str
    flag: str
    flag_zh: str
    counts: bool            # the flag makes the value valid evidence (sensors.schema.VALID_FLAGS: N, T)


@dataclass
class DecodedPacket:
    raw: str                          # password masked
    data_time: datetime | None
    cn: str | None
    readings: list[PacketReading] = field(default_factory=list)
    error: str | None = None          # why the line does not decode (it is quarantined for that reason)

    @property
    def flags(self) -> list[str]:
        return sorted({r.flag for r in self.readings})


def decoded_packets(spool_dir, zone: str, mn: str | None, limit: int = 10, files: int = 6) -> list[DecodedPacket]:
    """The newest packets of device ``mn`` decoded by the HJ 212 codec (:func:`sensors.hj212.packet.parse_packet`,
    CRC checked before the password is masked): per value its field (Rtd, Avg …) and data flag (N
    normal, F stopped, M maintenance, S manual, D fault, C calibration, T above range, B communication;
    a value without ``-Flag`` is N). A line that does not decode keeps the codec's reason."""
    from sensors.hj212.codes import DEFAULT_DATA_FLAG
    from sensors.hj212.packet import PacketError, packet_values, parse_packet
    from sensors.schema import DATA_FLAGS_ZH, VALID_FLAGS

    out: list[DecodedPacket] = []
    for line in _last_lines(spool_dir, zone, mn, limit, files):
        masked = _PW.sub("PW=******", line)
        try:
            pkt = parse_packet(line.encode("utf-8"))
        except (PacketError, UnicodeEncodeError) as exc:
            out.append(DecodedPacket(masked, None, None, error=str(exc)))
            continue
        readings = []
        for code, fld, raw, flag in packet_values(pkt):
            flag = flag or DEFAULT_DATA_FLAG
            readings.append(PacketReading(code, fld, raw, flag, DATA_FLAGS_ZH.get(flag, "未知标记"),
                                          flag in VALID_FLAGS))
        out.append(DecodedPacket(masked, pkt.data_time, pkt.cn, readings))
    return out


def quarantined(quarantine_dir, zone: str, point: str, mn: str | None, limit: int = 20,
                files: int = 10) -> list[dict]:
    """The newest quarantined items of one point (by the row's ``point`` or the packet's MN), newest
    first: ``origin``, ``stage``, ``reason`` and the raw text with ``PW`` masked."""
    import json
    from pathlib import Path
    folder = Path(quarantine_dir) / zone
    if not folder.exists():
        return []
    paths = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    out: list[dict] = []
    for p in paths[:files]:
        for line in reversed(_tail_lines(p)):
            try:
                item = json.loads(line)
            except ValueError:
                continue
            row = item.get("row") or {}
            raw = item.get("raw") or ""
            if row.get("point") == point or (mn and f"MN={mn};" in raw):
                out.append({"origin": item.get("origin", ""), "stage": item.get("stage", ""),
                            "reason": item.get("reason", ""), "raw": _PW.sub("PW=******", raw)[:300],
                            "row": {k: v for k, v in row.items() if k in ("time", "parameter", "value", "unit",
                                                                           "flag")}})
                if len(out) >= limit:
                    return out
    return out
