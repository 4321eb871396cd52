"""Bulk HJ 212 decoding: a spool segment's packets → readings columns at once.

:func:`decode_packets` gives the same readings, the same rejections with the same reasons and the same
order as :func:`sensors.hj212.packet.parse_packet` + :class:`~sensors.hj212.packet.Reassembler` +
:func:`sensors.hj212.readings.packets_to_readings` on the same lines, without building a
:class:`~sensors.hj212.packet.Packet` per packet:

1. **framing, vectorised** over all lines (one numpy buffer): ``##``, the 4-digit length field equal to
   the data segment length (≤ 1024 bytes, HJ 212-2017 §6.3.1), a 4-hex-digit CRC equal to the
   Appendix-A CRC of the segment — computed for every packet at once
   (:func:`sensors.hj212.crc.crc16_hj212_ranges`) — and printable ASCII only;
2. **header**: one compiled regular expression per packet for the usual header
   ``QN=…;ST=…;CN=…;PW=…;MN=…[;Flag=n];CP=&&`` (C speed, no objects beyond the captured fields);
3. **CP splitting, vectorised**: the CP texts of all packets are gathered into one byte array, split at
   ``;`` and ``,`` (delimiter positions with numpy), each ``key=value`` split at its first ``=``; keys
   are factorised, so the per-key work (``code-Field`` partition, 2005 → 2017 code mapping, statistic,
   canonical unit) runs once per distinct key, not per value; duplicate keys, the one ``DataTime`` and
   each pollutant's ``-Flag`` are found with sorted integer keys.

The ingest re-checks the framing and CRC that the receiver checked before it wrote the spool: measured
0.04 s of CPU for the ratio bench's 49,801 packets (~8 % of decoding them). Kept: a spool segment is a
file, and a disk error or a hand edit must become a quarantined packet with its reason, not a wrong
reading.

Every line the fast path does not fully understand — a failed check, a split packet (``PNUM``/``PNO``,
joined by the reassembler), header fields in another order, non-ASCII bytes, a duplicate key, a
missing or unusual ``DataTime`` — goes the per-packet way (:func:`parse_packet`), which names the
precise reason. Both paths meet in :func:`sensors.hj212.readings.readings_frame` (values, re-sends,
superseded readings), so the result cannot drift from the per-packet decoder; the tests compare them
on the same input, including hostile lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from sensors.hj212.codes import (
    CODES_2005_TO_2017,
    DATA_COMMANDS,
    DEFAULT_DATA_FLAG,
    VALUE_FIELDS,
    VERSION_BITS,
    unit_for,
)
from sensors.hj212.crc import crc16_hj212_ranges
from sensors.hj212.packet import (
    DESCRIPTIVE_FIELDS,
    MAX_SEGMENT,
    STANDARD_CP_KEYS,
    Incomplete,
    PacketError,
    Reassembler,
    Rejected,
    _data_time,
    nonstandard_fields,
    parse_packet,
)
from sensors.hj212.readings import (
    packet_rows,
    readings_frame,
    rows_frame,
    unknown_cn_reason,
    unknown_mn_reason,
    unknown_unit_reason,
)
from sensors.schema import CN_PERIOD, empty_readings
from sensors.site import SiteRegistry

__all__ = ["BulkDecoded", "decode_packets"]

#: byte → value of a hex digit, -1 for anything else
_HEX = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i

#: The usual header; captures CN, MN and Flag (QN, ST, PW are not needed for readings). Without ``Flag``
#: the version is guessed from the codes (per-packet path).
_HEAD = re.compile(rb"QN=[^;&=]*;ST=[^;&=]*;CN=([^;&=]*);PW=[^;&=]*;MN=([^;&=]*);Flag=([0-9]{1,6});CP=&&")
_SEMI, _COMMA, _EQ = ord(";"), ord(","), ord("=")
#: Longest key and value the fast path gathers (longer ones: per-packet path).
_MAX_KEY, _MAX_VALUE = 32, 40


@dataclass
class BulkDecoded:
    """What :func:`decode_packets` made of the lines.

    ``errors``: ``(line index, reason, raw)`` for each line :func:`parse_packet` (or the reassembler)
    rejected, in line order; ``incomplete``: split sets still incomplete at the end; ``rejected``:
    packets or values that did not become readings, ``index`` = logical packet number;
    ``packet_line[i]``: index of the line that completed logical packet ``i``; ``fast``: lines decoded
    by the vectorised path; ``nonstandard``: how many logical packets carry each field HJ 212 does not
    define (:func:`sensors.hj212.packet.nonstandard_fields`).
    """

    readings: pd.DataFrame
    errors: list[tuple[int, str, bytes]]
    incomplete: list[Incomplete]
    rejected: list[Rejected]
    packet_line: np.ndarray
    fast: int
    nonstandard: dict[str, int]


def _gather(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """The byte strings ``buf[start:start+length]`` (lengths ≤ width) as rows of a zero-padded uint8
    matrix whose width is a multiple of 8 (a view of sliding windows, then one masked copy)."""
    width = max(8, -(-max(width, 1) // 8) * 8)
    if len(starts) == 0:
        return np.zeros((0, width), dtype=np.uint8)
    padded = np.concatenate([buf, np.zeros(width, dtype=np.uint8)])
    windows = sliding_window_view(padded, width)[starts]
    return np.where(np.arange(width)[None, :] < lengths[:, None], windows, 0).astype(np.uint8)


def _factorise(mat: np.ndarray) -> tuple[np.ndarray, list[bytes]]:
    """Codes of the rows of a zero-padded byte matrix and the distinct byte strings (hash-based, O(n))."""
    if len(mat) == 0:
        return np.zeros(0, dtype=np.int64), []
    words = np.ascontiguousarray(mat).view(np.uint64)
    codes = np.zeros(len(mat), dtype=np.int64)
    for w in range(words.shape[1]):
        part, uniq = pd.factorize(words[:, w])
        codes, _ = pd.factorize(codes * len(uniq) + part)
    first = np.full(int(codes.max()) + 1, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    return codes, [bytes(mat[i]).rstrip(b"\0") for i in first]


def _plain_decimals(mat: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Rows that are ``[-]digits[.digits]`` (at least one digit): parsed identically by Python's
    ``float``, numpy and :func:`pandas.to_numeric` (checked by the tests), so they skip the text step."""
    cols = np.arange(mat.shape[1])[None, :]
    inside = cols < lengths[:, None]
    digit = (mat >= ord("0")) & (mat <= ord("9"))
    dot = mat == ord(".")
    minus = (mat == ord("-")) & (cols == 0)
    return ((digit | dot | minus | ~inside).all(axis=1) & ((dot & inside).sum(axis=1) <= 1)
            & (digit & inside).any(axis=1) & (lengths <= 25))


def _framing_ok(buf: np.ndarray, offs: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Vectorised framing checks: header, length field, segment size, CRC, printable ASCII."""
    n = len(offs)
    ok = (lens >= 17) & (lens - 10 <= MAX_SEGMENT)
    safe = np.where(ok, offs, 0)
    get = lambda k: buf[np.minimum(safe + k, len(buf) - 1)].astype(np.int64)  # byte k of each packet
    ok &= (get(0) == ord("#")) & (get(1) == ord("#"))
    declared = np.zeros(n, dtype=np.int64)
    for k in range(2, 6):
        d = get(k) - ord("0")
        ok &= (d >= 0) & (d <= 9)
        declared = declared * 10 + d
    ok &= declared == lens - 10
    tail = safe + np.where(ok, lens, 17) - 4
    crc = np.zeros(n, dtype=np.int64)
    for k in range(4):
        h = _HEX[buf[np.minimum(tail + k, len(buf) - 1)]]
        ok &= h >= 0
        crc = crc * 16 + h
    seg_start, seg_len = safe + 6, np.where(ok, lens - 10, 0)
    odd_bytes = np.flatnonzero((buf < 0x20) | (buf >= 0x7F))   # control or non-ASCII: per-packet path
    ok &= np.searchsorted(odd_bytes, seg_start) == np.searchsorted(odd_bytes, seg_start + seg_len)
    idx = np.flatnonzero(ok)
    ok[idx] &= crc16_hj212_ranges(buf, seg_start[idx], seg_len[idx]) == crc[idx]
    return ok


def decode_packets(lines: Sequence[bytes], registry: SiteRegistry, batch: str, origins: Sequence[str] | None = None
                   ) -> BulkDecoded:
    """Decode one packet per line (no line terminator) into canonical readings; see the module docstring.

    ``registry.by_mn`` maps MN → monitoring point. Logical packets are numbered in the order they
    complete (a split set at its last part), as :func:`sensors.hj212.decode_lines` would yield them.
    ``origins[k]`` (e.g. ``spool segment …:line``) names line ``k``; a reading's ``origin`` is the line
    that completed its packet.
    """
    n = len(lines)
    lens = np.fromiter(map(len, lines), dtype=np.int64, count=n)
    buf = np.frombuffer(b"".join(lines) or b"\0", dtype=np.uint8)
    offs = np.zeros(n, dtype=np.int64)
    if n:
        offs[1:] = np.cumsum(lens)[:-1]
    ok = _framing_ok(buf, offs, lens)

    # header: one regex per framed packet; the CP text follows it up to the closing "&&"
    cand = np.flatnonzero(ok)
    heads: list[tuple] = []
    pieces: list[bytes] = []
    match = _HEAD.match
    for k in cand.tolist():
        raw = lines[k]
        end = len(raw) - 4
        m = match(raw, 6, end)
        if m is None or m.end() > end - 2 or raw[end - 2:end] != b"&&":
            ok[k] = False
            heads.append((b"", b"", None))
            pieces.append(b"")
            continue
        heads.append(m.groups())
        pieces.append(raw[m.end():end - 2])

    fast_rows, fast_rej, fast_ok, nonstandard = _fast_cp(pieces, cand, heads, ok[cand], lines,
                                                                     registry)
    ok[cand] = fast_ok

    # the per-packet way for everything else, in line order, through one reassembler
    nonstandard = dict(nonstandard)
    errors: list[tuple[int, str, bytes]] = []
    slow_packets: list[tuple[int, object]] = []
    asm = Reassembler(timeout_s=float("inf"))
    for k in np.flatnonzero(~ok).tolist():
        raw = lines[k]
        try:
            whole = asm.feed(parse_packet(raw))
        except PacketError as exc:
            errors.append((k, str(exc), raw))
            continue
        if whole is not None:
            slow_packets.append((k, whole))
            for name in nonstandard_fields(whole):
                nonstandard[name] = nonstandard.get(name, 0) + 1
    incomplete = asm.flush()

    # logical packets numbered by the line that completed them
    fast_lines = cand[fast_ok]
    slow_lines = np.asarray([k for k, _ in slow_packets], dtype=np.int64)
    packet_line = np.sort(np.concatenate([fast_lines, slow_lines]))

    rows, raws, rejected = packet_rows(
        ((int(np.searchsorted(packet_line, k)), p) for k, p in slow_packets), registry)
    frames = []
    if rows["pkt"]:
        slow = rows_frame(rows)
        slow["value"] = pd.to_numeric(slow["raw"], errors="coerce").astype("float64")  # as readings_frame
        frames.append(slow)
    if len(fast_rows):
        fast_rows["pkt"] = np.searchsorted(packet_line, fast_rows["pkt"].to_numpy())
        frames.append(fast_rows)
    if fast_rej:
        numbers = np.searchsorted(packet_line, [k for k, _, _ in fast_rej]).tolist()
        rejected += [Rejected(i, reason, raw) for i, (_, reason, raw) in zip(numbers, fast_rej, strict=True)]
    raws = _PacketRaws(raws, lines, packet_line)
    rejected.sort(key=lambda r: r.index)
    if not frames:
        return BulkDecoded(empty_readings(), errors, incomplete, rejected, packet_line, len(fast_lines),
                           nonstandard)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(frames) > 1:
        frame = frame.sort_values("pkt", kind="stable").reset_index(drop=True)
    packet_origins = None if origins is None else np.asarray(origins, dtype=object)[packet_line]
    readings, rejected = readings_frame(frame, raws, rejected, batch, packet_origins)
    return BulkDecoded(readings, errors, incomplete, rejected, packet_line, len(fast_lines), nonstandard)


def _fast_cp(pieces: list[bytes], cand: np.ndarray, heads: list[tuple], good: np.ndarray,
             lines: Sequence[bytes], registry):
    """Vectorised CP splitting of the candidate packets ``cand`` (line indices; ``pieces``: CP texts).

    Returns the value rows (``pkt`` = line index), the whole-packet and per-field rejections as
    ``(line index, reason, raw)`` and the per-candidate mask "decoded here".
    """
    m = len(cand)
    good = good.copy()
    if m == 0:
        return pd.DataFrame(), [], good, {}
    # CP texts of all candidates, each followed by ";" (an item separator; empty items are skipped)
    size = np.fromiter(map(len, pieces), dtype=np.int64, count=m) + 1
    base = np.zeros(m, dtype=np.int64)
    base[1:] = np.cumsum(size)[:-1]
    cp = np.frombuffer(b";".join(pieces) + b";", dtype=np.uint8)

    delim = np.flatnonzero((cp == _SEMI) | (cp == _COMMA))
    t_start = np.concatenate([[0], delim[:-1] + 1])
    t_end = delim
    t_pkt = np.searchsorted(base, t_start, side="right") - 1
    after = cp[t_end]
    before = np.where(t_start == base[t_pkt], _SEMI, cp[np.maximum(t_start - 1, 0)])
    empty = t_start == t_end
    # an empty piece is fine only as a whole empty ";"-item; "a=1,,b=2" is malformed
    good[t_pkt[empty & ~((before == _SEMI) & (after == _SEMI))]] = False
    keep = ~empty
    t_start, t_end, t_pkt = t_start[keep], t_end[keep], t_pkt[keep]
    eqs = np.flatnonzero(cp == _EQ)
    j = np.searchsorted(eqs, t_start)
    eq = eqs[np.minimum(j, len(eqs) - 1)] if len(eqs) else np.full(len(t_start), -1)
    has_eq = (j < len(eqs)) & (eq < t_end) & (eq > t_start)
    klen = eq - t_start
    good[t_pkt[~has_eq | (klen > _MAX_KEY)]] = False
    sel = np.flatnonzero(has_eq & (klen <= _MAX_KEY))
    t_pkt, t_start, t_end, eq, klen = t_pkt[sel], t_start[sel], t_end[sel], eq[sel], klen[sel]
    vlen = t_end - eq - 1

    # distinct keys → (canonical code, field) per protocol version, worked out once per key
    t_key, uniq = _factorise(_gather(cp, t_start, klen, int(klen.max()) if len(klen) else 1))
    # the version from the header's Flag, worked out once per distinct Flag (code -1: none → False)
    flag_codes, flag_uniq = pd.factorize(np.array([h[2] for h in heads], dtype=object), use_na_sentinel=True)
    is2005 = np.array([VERSION_BITS.get(int(f) >> 2) == "2005" if f else False for f in flag_uniq] + [False],
                      dtype=bool)[flag_codes]
    nu = len(uniq)
    slot = np.zeros((2, nu), dtype=np.int64)      # [is 2005][key] → what must be unique in a packet
    code = np.full((2, nu), -1, dtype=np.int64)   # → canonical pollutant code id, -1 for other keys
    slot_names: dict[tuple, int] = {}
    code_names: dict[str, int] = {}
    field_name: list[str] = []
    unusual: list[str | None] = []                # the name nonstandard_fields() reports, or None
    for u, kb in enumerate(uniq):
        key = kb.decode("ascii")
        c, dash, fld = key.partition("-")
        pollutant = bool(dash and c and fld)
        standard = (fld in VALUE_FIELDS or fld in DESCRIPTIVE_FIELDS) if pollutant else key in STANDARD_CP_KEYS
        unusual.append(None if standard else f"CP {key}")
        field_name.append(fld if pollutant else ("\0DataTime" if key == "DataTime" else ""))
        for v in (0, 1):
            if pollutant:
                canon = CODES_2005_TO_2017.get(c, c) if v else c
                code[v, u] = code_names.setdefault(canon, len(code_names))
                slot[v, u] = slot_names.setdefault(("p", canon, fld), len(slot_names))
            else:
                slot[v, u] = slot_names.setdefault(("e", key), len(slot_names))
    ver = is2005[t_pkt].astype(np.int64)
    t_code = code[ver, t_key]
    nslot = max(len(slot_names), 1)
    pair = np.sort(t_pkt * nslot + slot[ver, t_key])
    good[pair[1:][pair[1:] == pair[:-1]] // nslot] = False   # a duplicate key: per-packet path names it
    # per key, then gathered per token (no string comparison per token)
    key_is_dt = np.array([f == "\0DataTime" for f in field_name], dtype=bool)
    key_is_flag = np.array([f == "Flag" for f in field_name], dtype=bool)
    key_field_no = np.array([_FIELD_NO.get(f, 0) for f in field_name], dtype=np.int64)

    # DataTime: exactly one per packet, 14 characters, parsed once per distinct value
    dt_tok = np.flatnonzero(key_is_dt[t_key])
    n_dt = np.bincount(t_pkt[dt_tok], minlength=m)
    has_cp = np.bincount(t_pkt[t_code >= 0], minlength=m) > 0
    good &= n_dt == 1
    good[t_pkt[dt_tok][vlen[dt_tok] != 14]] = False
    dt_ns = np.zeros(m, dtype=np.int64)
    if len(dt_tok):
        dinv, dvals = _factorise(_gather(cp, eq[dt_tok] + 1, np.minimum(vlen[dt_tok], 16), 16))
        ns = np.zeros(len(dvals), dtype=np.int64)
        parsed = np.ones(len(dvals), dtype=bool)
        for u, text in enumerate(dvals):
            try:
                ns[u] = pd.Timestamp(_data_time(text.decode("ascii"))).value
            except PacketError:
                parsed[u] = False
        good[t_pkt[dt_tok][~parsed[dinv]]] = False
        dt_ns[t_pkt[dt_tok]] = ns[dinv]
    cn_codes, cn_uniq = pd.factorize(np.array([h[0] for h in heads], dtype=object))
    cn_text = [c.decode("ascii") for c in cn_uniq]
    # a data command, or pollutant fields, without DataTime: an error the per-packet path words
    good[(n_dt == 0) & (has_cp | np.array([c in DATA_COMMANDS for c in cn_text], dtype=bool)[cn_codes])] = False

    # value fields and each pollutant's -Flag
    is_value_key = np.array([f in VALUE_FIELDS for f in field_name], dtype=bool)
    is_value, is_flag = is_value_key[t_key], key_is_flag[t_key]
    good[t_pkt[(is_value | is_flag) & (vlen > _MAX_VALUE)]] = False
    tok_ok = good[t_pkt]
    ncode = max(len(code_names), 1)
    per_key = np.bincount(t_key[tok_ok], minlength=nu)   # a key is at most once per (good) packet
    nonstandard = {name: int(per_key[u]) for u, name in enumerate(unusual) if name and per_key[u]}

    fl = np.flatnonzero(is_flag & tok_ok)
    flag_key = t_pkt[fl] * ncode + t_code[fl]
    fcodes, fvals = _factorise(_gather(cp, eq[fl] + 1, vlen[fl], int(vlen[fl].max()) if len(fl) else 1))
    forder = np.argsort(flag_key, kind="stable")
    flag_key, fcodes = flag_key[forder], fcodes[forder]

    vt = np.flatnonzero(is_value & tok_ok)
    # order inside a packet: pollutants in order of first appearance, then their fields (dict order)
    pol = np.flatnonzero((t_code >= 0) & tok_ok)
    first_tok = np.zeros(len(t_pkt), dtype=np.int64)
    if len(pol):
        _, first_i, first_inv = np.unique(t_pkt[pol] * ncode + t_code[pol], return_index=True,
                                          return_inverse=True)
        first_tok[pol] = pol[first_i][first_inv.ravel()]
    vt = vt[np.lexsort((vt, first_tok[vt], t_pkt[vt]))]
    v_pkt, v_code, v_key = t_pkt[vt], t_code[vt], t_key[vt]
    vkey = v_pkt * ncode + v_code
    fpos = np.minimum(np.searchsorted(flag_key, vkey), max(len(flag_key) - 1, 0))
    fhit = flag_key[fpos] == vkey if len(flag_key) else np.zeros(len(vkey), dtype=bool)
    flag_text = [f.decode("ascii") for f in fvals] + [DEFAULT_DATA_FLAG]
    flag_of = np.where(fhit, fcodes[fpos] if len(fcodes) else 0, len(fvals))   # index into flag_text

    # packets with values: point and period, as the per-packet path checks them (once per distinct MN/CN)
    mn_codes, mn_uniq = pd.factorize(np.array([h[1] for h in heads], dtype=object))
    mn_text = [x.decode("ascii") for x in mn_uniq]
    points = [registry.by_mn.get(x) for x in mn_text]
    periods = [CN_PERIOD.get(c) for c in cn_text]
    codes_list = list(code_names)
    has_values = np.zeros(m, dtype=bool)
    has_values[v_pkt] = True
    known_mn = np.array([x is not None for x in points], dtype=bool)[mn_codes]
    known_cn = np.array([x is not None for x in periods], dtype=bool)[cn_codes]
    rejects: list[tuple[int, str, bytes]] = []
    for p in np.flatnonzero(has_values & ~(known_mn & known_cn)).tolist():
        k = int(cand[p])
        reason = (unknown_mn_reason(mn_text[mn_codes[p]]) if not known_mn[p]
                  else unknown_cn_reason(cn_text[cn_codes[p]]))
        rejects.append((k, reason, lines[k]))
    pkt_ok = known_mn & known_cn
    # canonical unit per (code, field), once per pair
    cf, cf_uniq = pd.factorize(v_code * 64 + key_field_no[v_key])
    cf_unit, cf_stat = [], []
    for x in cf_uniq.tolist():
        fld = _FIELDS[x % 64]
        cf_stat.append(VALUE_FIELDS[fld])
        cf_unit.append(unit_for(codes_list[x // 64], VALUE_FIELDS[fld]))
    row_ok = pkt_ok[v_pkt]
    no_unit = row_ok & np.array([u is None for u in cf_unit] + [True], dtype=bool)[cf]
    for r in np.flatnonzero(no_unit).tolist():
        k = int(cand[v_pkt[r]])
        rejects.append((k, unknown_unit_reason(mn_text[mn_codes[v_pkt[r]]], codes_list[v_code[r]],
                                               field_name[v_key[r]]), lines[k]))
    rows = np.flatnonzero(row_ok & ~no_unit)

    # values: plain decimals parsed in one numpy call, anything else as text by pandas.to_numeric
    vmat = _gather(cp, eq[vt[rows]] + 1, vlen[vt[rows]], int(vlen[vt[rows]].max()) if len(rows) else 1)
    plain = _plain_decimals(vmat, vlen[vt[rows]])
    value = np.full(len(rows), np.nan)
    if plain.any():
        value[plain] = vmat[plain].view(f"S{vmat.shape[1]}").ravel().astype(np.float64)
    raw_text = np.full(len(rows), None, dtype=object)
    other = np.flatnonzero(~plain)
    if len(other):
        raw_text[other] = [bytes(vmat[i]).rstrip(b"\0").decode("ascii") for i in other.tolist()]
        value[other] = pd.to_numeric(pd.Series(raw_text[other], dtype=object), errors="coerce").to_numpy(
            dtype="float64")

    rp = v_pkt[rows]
    pt, ct = mn_codes[rp], cn_codes[rp]
    attr = {a: _texts([getattr(x, a, None) for x in points], pt) for a in ("zone", "enterprise", "id", "kind")}
    frame = pd.DataFrame({
        "zone": attr["zone"], "enterprise": attr["enterprise"], "point": attr["id"], "kind": attr["kind"],
        "parameter": _texts(codes_list + [""], v_code[rows]), "statistic": _texts(cf_stat + [None], cf[rows]),
        "period": _texts(periods, ct), "raw": raw_text, "unit": _texts(cf_unit + [None], cf[rows]),
        "flag": _texts(flag_text, flag_of[rows]), "pkt": cand[rp], "value": value,
    })
    frame["time"] = pd.to_datetime(dt_ns[rp], utc=True).astype("datetime64[ns, UTC]")
    return frame, rejects, good, nonstandard


def _texts(distinct: list[str | None], codes: np.ndarray) -> pd.arrays.StringArray:
    """``distinct[codes]`` as a ``string`` column (``None`` → ``<NA>``): the few distinct texts are checked
    once and then taken, instead of an object column whose every row is inferred as text on the way into
    the frame and checked again by :func:`~sensors.schema.conform` (the ratio bench's biggest zone:
    decode_packets 117–122 → 106–108 ms of CPU)."""
    return pd.array(distinct, dtype="string").take(codes)


class _PacketRaws(Mapping[int, bytes]):
    """The bytes of logical packet ``i``, looked up when a rejection asks for them: a packet the per-packet
    way joined (``slow``, e.g. split parts) as it made it, else the line that completed it. Replaces a
    dict of every packet's line (49,801 entries on the ratio bench, built to be read a few times)."""

    def __init__(self, slow: dict[int, bytes], lines: Sequence[bytes], packet_line: np.ndarray) -> None:
        self.slow, self.lines, self.packet_line = slow, lines, packet_line

    def __getitem__(self, i: int) -> bytes:
        raw = self.slow.get(i)
        if raw is not None:
            return raw
        if not 0 <= i < len(self.packet_line):
            raise KeyError(i)
        return self.lines[int(self.packet_line[i])]

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.packet_line)))

    def __len__(self) -> int:
        return len(self.packet_line)


_FIELDS = list(VALUE_FIELDS)
_FIELD_NO = {f: i for i, f in enumerate(_FIELDS)}
