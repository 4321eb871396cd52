"""HJ 212 packets → the canonical readings batch (:mod:`monitoring.schema`).

One reading per pollutant value field (``-Rtd``, ``-Avg``, ``-Min``, ``-Max``, ``-Cou``, ``-Zs*``,
``-Data``, ``-DayData``, ``-NightData``; HJ 212-2017 §6.6 / Appendix C). ``-Flag`` of the same pollutant
becomes ``flag`` (``N`` when absent); the period follows the command (:data:`monitoring.schema.CN_PERIOD`);
``time`` is the packet ``DataTime`` (UTC+8) converted to UTC. Everything that cannot become a reading
comes back as a :class:`Rejected` with the reason — nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from monitoring.schema import CN_PERIOD, IDENTITY, conform, empty_readings
from sensors.hj212.codes import VALUE_FIELDS, unit_for
from sensors.hj212.packet import Packet, Rejected, decode_lines, packet_values

__all__ = ["Rejected", "decode_lines", "packet_values", "packets_to_readings", "spool_lines_to_readings"]


def packets_to_readings(packets: Iterable[Packet], registry, batch: str
                        ) -> tuple[pd.DataFrame, list[Rejected]]:
    """Canonical readings of ``packets`` (conformed to ``READINGS_COLUMNS``) and what was rejected.

    ``registry.by_mn`` maps the MN to its monitoring point (zone, enterprise, kind). Rejected: unknown
    MN, a command that carries no periodic values, an unknown pollutant code (no canonical unit), a
    non-numeric value (the packet's other values still go on), and an earlier reading superseded by a
    later one with the same identity but a different value or flag (a device re-sending corrected
    data). Exact re-sends (same value and flag) are merged.
    """
    by_mn = registry.by_mn
    cols: dict[str, list] = {c: [] for c in ("time", "zone", "enterprise", "point", "kind", "parameter",
                                             "statistic", "period", "raw", "unit", "flag")}
    idx: list[int] = []
    raws: dict[int, bytes] = {}
    rejected: list[Rejected] = []
    for i, pkt in enumerate(packets):
        values = list(packet_values(pkt))
        if not values:
            continue  # commands without values (1062, 9014, heartbeats) carry no readings
        point = by_mn.get(pkt.mn)
        if point is None:
            rejected.append(Rejected(i, f"unknown MN {pkt.mn} (not an online point of the registry)",
                                     pkt.raw))
            continue
        period = CN_PERIOD.get(pkt.cn)
        if period is None:
            rejected.append(Rejected(i, f"CN={pkt.cn} carries no periodic values "
                                        f"(expected one of {', '.join(CN_PERIOD)})", pkt.raw))
            continue
        raws[i] = pkt.raw
        t = pkt.data_time  # parse_packet guarantees it for packets with values
        for code, fld, raw, flag in values:
            statistic = VALUE_FIELDS[fld]
            unit = unit_for(code, statistic)
            if unit is None:
                rejected.append(Rejected(i, f"MN {pkt.mn}: {code}-{fld}: unknown pollutant code or no "
                                            f"canonical unit for this field", pkt.raw))
                continue
            cols["time"].append(t)
            cols["zone"].append(point.zone)
            cols["enterprise"].append(point.enterprise)
            cols["point"].append(point.id)
            cols["kind"].append(point.kind)
            cols["parameter"].append(code)
            cols["statistic"].append(statistic)
            cols["period"].append(period)
            cols["raw"].append(raw)
            cols["unit"].append(unit)
            cols["flag"].append(flag)
            idx.append(i)
    if not idx:
        return empty_readings(), rejected

    frame = pd.DataFrame({k: v for k, v in cols.items() if k != "time"})
    frame["time"] = pd.to_datetime(pd.Series(cols["time"], dtype=object), utc=True)
    frame["value"] = pd.to_numeric(frame["raw"], errors="coerce").astype("float64")
    frame["pkt"] = idx
    bad = frame["value"].isna() | ~np.isfinite(frame["value"].to_numpy())
    for r in frame.loc[bad, ["pkt", "point", "parameter", "statistic", "raw"]].itertuples(index=False):
        rejected.append(Rejected(r.pkt, f"{r.point}: {r.parameter}-{r.statistic}: non-numeric value "
                                       f"{r.raw!r}", raws[r.pkt]))
    frame = frame.loc[~bad]
    # re-sent packets: identical readings merge; a later different value supersedes (and is reported)
    frame = frame.drop_duplicates(subset=IDENTITY + ["value", "flag"], keep="last")
    superseded = frame.duplicated(subset=IDENTITY, keep="last")
    for r in frame.loc[superseded, ["pkt", "point", "parameter", "statistic", "time"]].itertuples(
            index=False):
        rejected.append(Rejected(r.pkt, f"{r.point}: {r.parameter}-{r.statistic} at {r.time.isoformat()} "
                                       "superseded by a later packet with the same identity", raws[r.pkt]))
    frame = frame.loc[~superseded]
    frame["qualifier"] = pd.NA
    frame["source"] = "hj212"
    frame["batch"] = batch
    out = conform(frame.drop(columns=["raw", "pkt"]))
    rejected.sort(key=lambda r: r.index)
    return out.reset_index(drop=True), rejected


def spool_lines_to_readings(lines: Iterable[tuple[object, int, bytes]], registry, batch: str,
                            reassembly_timeout_s: float = float("inf")) -> tuple[pd.DataFrame, list[Rejected]]:
    """Readings from spooled packets, e.g. ``Spool.read_segments(spool.claim(zone, batch))``.

    ``lines`` yields ``(file, line number, raw packet)``. Split packets are joined across lines (and
    segments); sets still incomplete at the end are rejected. Every rejection's reason starts with
    ``<file name>: line N:`` so it can be traced back to the segment kept under ``consumed/``.
    """
    from pathlib import Path

    from sensors.hj212.packet import PacketError, Reassembler, parse_packet

    asm = Reassembler(timeout_s=reassembly_timeout_s)
    where: dict[tuple[str, str | None], str] = {}
    packets: list[Packet] = []
    origin: list[str] = []
    rejected: list[Rejected] = []
    for path, n, raw in lines:
        loc = f"{Path(str(path)).name}: line {n}"
        try:
            pkt = parse_packet(raw)
            if pkt.pnum is not None:
                where.setdefault(pkt.key, loc)
            whole = asm.feed(pkt)
        except PacketError as exc:
            rejected.append(Rejected(n, f"{loc}: {exc}", raw))
            continue
        if whole is not None:
            packets.append(whole)
            origin.append(where.pop(whole.key, loc))
    for inc in asm.flush():
        loc = where.pop((inc.mn, inc.qn), "?")
        rejected.append(Rejected(0, f"{loc}: {inc.reason}", b"\r\n".join(inc.parts)))
    frame, bad = packets_to_readings(packets, registry, batch)
    rejected += [Rejected(r.index, f"{origin[r.index]}: {r.reason}", r.raw) for r in bad]
    return frame, rejected
