"""HJ 212 packets → the canonical readings batch (:mod:`sensors.schema`).

One reading per pollutant value field (``-Rtd``, ``-Avg``, ``-Min``, ``-Max``, ``-Cou``, ``-Zs*``,
``-Data``, ``-DayData``, ``-NightData``; HJ 212-2017 §6.6 / Appendix C). ``-Flag`` of the same pollutant
becomes ``flag`` (``N`` when absent); the period follows the command (:data:`sensors.schema.CN_PERIOD`);
``time`` is the packet ``DataTime`` (UTC+8) converted to UTC. Everything that cannot become a reading
comes back as a :class:`Rejected` with the reason — nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sensors.hj212.codes import VALUE_FIELDS, unit_for
from sensors.hj212.packet import (
    Packet,
    PacketError,
    Reassembler,
    Rejected,
    decode_lines,
    packet_values,
    parse_packet,
)
from sensors.schema import CN_PERIOD, conform, empty_readings, identity_key
from sensors.site import SiteRegistry

__all__ = ["Rejected", "decode_lines", "packet_values", "packets_to_readings", "spool_lines_to_readings"]


def packets_to_readings(packets: Iterable[Packet], registry: SiteRegistry, batch: str,
                        origins: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[Rejected]]:
    """Canonical readings of ``packets`` (conformed to ``READINGS_COLUMNS``) and what was rejected.

    ``registry.by_mn`` maps the MN to its monitoring point (zone, enterprise, kind). Rejected: unknown
    MN, a command that carries no periodic values, an unknown pollutant code (no canonical unit), a
    non-numeric value (the packet's other values still go on), and an earlier reading superseded by a
    later one with the same identity but a different value or flag (a device re-sending corrected
    data). Exact re-sends (same value and flag) are merged. ``origins[i]`` (e.g. ``segment:line``) becomes
    the ``origin`` of packet ``i``'s readings.
    """
    rows, raws, rejected = packet_rows(enumerate(packets), registry)
    if not rows["pkt"]:
        return empty_readings(), rejected
    return readings_frame(rows_frame(rows), raws, rejected, batch, origins)


def packet_rows(indexed: Iterable[tuple[int, Packet]], registry
                ) -> tuple[dict[str, list], dict[int, bytes], list[Rejected]]:
    """One row per value field of each ``(index, packet)`` (columns of :func:`readings_frame`, ``time``
    as aware datetimes), the bytes of the packets that gave rows, and the packets rejected whole
    (unknown MN, a command without periodic values) or in part (a field without a canonical unit)."""
    by_mn = registry.by_mn
    rows: dict[str, list] = {c: [] for c in ("time", "zone", "enterprise", "point", "kind", "parameter",
                                             "statistic", "period", "raw", "unit", "flag", "pkt")}
    raws: dict[int, bytes] = {}
    rejected: list[Rejected] = []
    for i, pkt in indexed:
        values = list(packet_values(pkt))
        if not values:
            continue  # commands without values (1062, 9014, heartbeats) carry no readings
        point = by_mn.get(pkt.mn)
        if point is None:
            rejected.append(Rejected(i, unknown_mn_reason(pkt.mn), pkt.raw))
            continue
        period = CN_PERIOD.get(pkt.cn)
        if period is None:
            rejected.append(Rejected(i, unknown_cn_reason(pkt.cn), pkt.raw))
            continue
        raws[i] = pkt.raw
        t = pkt.data_time  # parse_packet guarantees it for packets with values
        for code, fld, raw, flag in values:
            statistic = VALUE_FIELDS[fld]
            unit = unit_for(code, statistic)
            if unit is None:
                rejected.append(Rejected(i, unknown_unit_reason(pkt.mn, code, fld), pkt.raw))
                continue
            rows["time"].append(t)
            rows["zone"].append(point.zone)
            rows["enterprise"].append(point.enterprise)
            rows["point"].append(point.id)
            rows["kind"].append(point.kind)
            rows["parameter"].append(code)
            rows["statistic"].append(statistic)
            rows["period"].append(period)
            rows["raw"].append(raw)
            rows["unit"].append(unit)
            rows["flag"].append(flag)
            rows["pkt"].append(i)
    return rows, raws, rejected


def rows_frame(rows: dict[str, list]) -> pd.DataFrame:
    """The rows of :func:`packet_rows` as a frame (``time`` to UTC)."""
    frame = pd.DataFrame({k: v for k, v in rows.items() if k != "time"})
    frame["time"] = pd.to_datetime(pd.Series(rows["time"], dtype=object), utc=True).astype("datetime64[ns, UTC]")
    return frame


def unknown_mn_reason(mn: str) -> str:
    return f"unknown MN {mn} (not an online point of the registry)"


def unknown_cn_reason(cn: str) -> str:
    return f"CN={cn} carries no periodic values (expected one of {', '.join(CN_PERIOD)})"


def unknown_unit_reason(mn: str, code: str, fld: str) -> str:
    return f"MN {mn}: {code}-{fld}: unknown pollutant code or no canonical unit for this field"


def readings_frame(frame: pd.DataFrame, raws: Mapping[int, bytes], rejected: list[Rejected], batch: str,
                   origins: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[Rejected]]:
    """Value rows of decoded packets → canonical readings, and every rejection sorted by packet.

    ``frame``: one row per value field in packet order, columns ``time`` (UTC) ``zone`` ``enterprise``
    ``point`` ``kind`` ``parameter`` ``statistic`` ``period`` ``unit`` ``flag``, ``pkt`` (the packet's
    index) and ``raw`` (the value as sent, text); optionally ``value`` when the caller parsed the text
    already (then ``raw`` is only read where ``value`` is not a finite number). ``raws`` maps a packet
    index to its bytes; ``rejected``: what the caller rejected already (kept before this step's
    rejections of the same packet). Shared by :func:`packets_to_readings` and the bulk decoder
    (:mod:`sensors.hj212.bulk`), so both give the same readings and the same reasons.
    """
    if "value" not in frame:
        frame["value"] = pd.to_numeric(frame["raw"], errors="coerce").astype("float64")
    bad = frame["value"].isna() | ~np.isfinite(frame["value"].to_numpy())
    for r in frame.loc[bad, ["pkt", "point", "parameter", "statistic", "raw"]].itertuples(index=False):
        rejected.append(Rejected(r.pkt, f"{r.point}: {r.parameter}-{r.statistic}: non-numeric value "
                                       f"{r.raw!r}", raws[r.pkt]))
    frame = frame.loc[~bad]
    # re-sent packets: identical readings merge; a later different value supersedes (and is reported).
    # The identity is factorised once for both steps (what drop_duplicates and duplicated did each).
    key = identity_key(frame)
    same = pd.DataFrame({"k": key, "v": frame["value"].to_numpy(), "f": frame["flag"].to_numpy(dtype=object)}
                        ).duplicated(keep="last").to_numpy()
    frame, key = frame.loc[~same], key[~same]
    superseded = pd.Series(key).duplicated(keep="last").to_numpy()
    for r in frame.loc[superseded, ["pkt", "point", "parameter", "statistic", "time"]].itertuples(
            index=False):
        rejected.append(Rejected(r.pkt, f"{r.point}: {r.parameter}-{r.statistic} at {r.time.isoformat()} "
                                       "superseded by a later packet with the same identity", raws[r.pkt]))
    frame = frame.loc[~superseded]
    frame["qualifier"] = pd.NA
    frame["source"] = "hj212"
    frame["batch"] = batch
    if origins is not None:
        frame["origin"] = np.asarray(origins, dtype=object)[frame["pkt"].to_numpy(dtype=np.int64)]
    out = conform(frame.drop(columns=["raw", "pkt"]))
    rejected.sort(key=lambda r: r.index)
    return out.reset_index(drop=True), rejected


def spool_lines_to_readings(lines: Iterable[tuple[object, int, bytes]], registry: SiteRegistry, batch: str,
                            reassembly_timeout_s: float = float("inf")) -> tuple[pd.DataFrame, list[Rejected]]:
    """Readings from spooled packets, e.g. ``Spool.read_segments(spool.claim(zone, batch))``.

    ``lines`` yields ``(file, line number, raw packet)``. Split packets are joined across lines (and
    segments); sets still incomplete at the end are rejected. Every rejection's reason starts with
    ``<file name>: line N:`` so it can be traced back to the segment kept under ``consumed/``.
    """
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
