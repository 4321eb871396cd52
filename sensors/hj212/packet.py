"""HJ 212 packet model, parser, builder and split-packet reassembly (HJ 212-2017 §6.3–6.5).

A packet on the wire is ``##LLLL<data segment>CCCC\\r\\n``: ``LLLL`` the data segment length in bytes
(4 decimal digits), data segment ≤ 1024 bytes, ``CCCC`` the Appendix-A CRC of the data segment in hex.
The data segment is ``QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…[;PNUM=…;PNO=…];CP=&&…&&``.

:func:`parse_packet` checks all of that and raises :class:`PacketError` with a precise reason;
:func:`check_packets` accepts exactly the same packets, many at once, without decoding their CP (the
receiver's path; see its docstring);
:func:`build_packet` is its inverse (splitting over several packets when the segment would exceed
1024 bytes); :class:`Reassembler` joins split packets back into one logical :class:`Packet`.
"""

from __future__ import annotations

import math
import re
import time as _time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

import numpy as np

from sensors.hj212.codes import (
    BITS_OF_VERSION,
    CODES_2005_TO_2017,
    CODES_2017_TO_2005,
    DEFAULT_DATA_FLAG,
    VALUE_FIELDS,
    VERSION_BITS,
    flag_for,
)
from sensors.hj212.crc import crc16_hj212, crc16_hj212_many, crc16_modbus
from sensors.quarantine import Rejected  # the one rejection type (re-exported here for the decoders)
from sensors.timezone import LOCAL_TZ

__all__ = [
    "MAX_FRAME",
    "MAX_SEGMENT",
    "Incomplete",
    "LeanPacket",
    "Packet",
    "PacketError",
    "Reassembler",
    "Rejected",
    "build_packet",
    "check_packets",
    "decode_lines",
    "frame_segment",
    "frame_segments",
    "packet_values",
    "parse_packet",
]

#: Largest data segment allowed by HJ 212-2017 §6.3.1, bytes.
MAX_SEGMENT = 1024
#: ``##`` + ``LLLL`` + segment + ``CCCC`` + ``\r\n``: the largest valid frame, bytes.
MAX_FRAME = 2 + 4 + MAX_SEGMENT + 4 + 2

_DATATIME_RE = re.compile(r"[0-9]{14}")
#: DataTime bounds every decoder enforces (issue 9): no monitoring data predates 2000; readings are
#: stored as nanoseconds since 1970 (pandas, InfluxDB), which end on 2262-04-11. Closer bounds in time
#: (the receiver's clock, the quality gate's "not in the future") are checked where the clock is known.
EARLIEST_DATA_TIME = datetime(2000, 1, 1, tzinfo=LOCAL_TZ)
LATEST_DATA_TIME = datetime(2262, 4, 10, tzinfo=LOCAL_TZ)
_UINT_RE = re.compile(r"[0-9]{1,6}")
_HEX4_RE = re.compile(rb"[0-9A-Fa-f]{4}")
_CRC_MODES = {"hj212": crc16_hj212, "modbus": crc16_modbus}


class PacketError(ValueError):
    """A packet violates HJ 212; the message is the precise reason (no packet bytes)."""


@dataclass(frozen=True)
class Packet:
    """One decoded HJ 212 packet (or the logical packet of a reassembled split set).

    ``cp`` maps the HJ 212-2017 pollutant code to ``{field: raw string}`` (``{"Rtd": "12.3",
    "Flag": "N"}``); for a 2005 packet the codes are mapped with :data:`CODES_2005_TO_2017` and
    ``sent_codes`` maps each 2017 code back to the code as sent. ``extra_cp`` keeps the other CP keys
    (``RtdInterval``, ``QnRtn``, ``ExeRtn`` …) verbatim. ``data_time`` is the ``DataTime`` as an aware
    datetime in UTC+8 (:data:`monitoring.config.LOCAL_TZ`), ``None`` when the packet has none.
    """

    qn: str | None
    st: str
    cn: str
    pw: str
    mn: str
    flag: int | None
    version: str
    data_time: datetime | None
    cp: dict[str, dict[str, str]]
    extra_cp: dict[str, str]
    raw: bytes
    pnum: int | None = None
    pno: int | None = None
    sent_codes: dict[str, str] = field(default_factory=dict)
    header: dict[str, str] = field(default_factory=dict)
    parts: tuple[bytes, ...] = ()

    @property
    def wants_ack(self) -> bool:
        """Flag bit A: the sender wants a 9014 data answer."""
        return bool(self.flag is not None and self.flag & 1)

    @property
    def is_split(self) -> bool:
        """Flag bit D: one part of a split packet (``PNUM``/``PNO`` present)."""
        return bool(self.flag is not None and self.flag & 2)

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.mn, self.qn)


def _strip_tail(raw: bytes) -> bytes:
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    if raw.endswith(b"\n"):
        return raw[:-1]
    return raw


def _short(b: bytes, n: int = 16) -> str:
    text = repr(bytes(b[:n]))
    return text + ("…" if len(b) > n else "")


def frame_segment(segment: bytes, crc_mode: str = "hj212") -> bytes:
    """Wrap a data segment into ``##LLLL<segment>CCCC\\r\\n``."""
    _check_frameable(segment)
    return _framed(segment, _CRC_MODES[crc_mode](segment))


def _check_frameable(segment: bytes) -> None:
    if len(segment) > 9999:
        raise ValueError(f"data segment of {len(segment)} bytes cannot be framed")


def _framed(segment: bytes, crc: int) -> bytes:
    return b"##%04d%s%04X\r\n" % (len(segment), segment, crc)


def parse_packet(raw: bytes) -> Packet:
    """Decode and validate one framed packet (tail ``\\r\\n``, bare ``\\n`` or none accepted).

    Raises :class:`PacketError` naming the first violated rule: header, length field, length,
    segment size, CRC, CP syntax, missing or malformed ``DataTime``.
    """
    body = _strip_tail(bytes(raw))
    if not body.startswith(b"##"):
        raise PacketError(f"bad header: expected '##', got {_short(body, 8)}")
    lfield = body[2:6]
    if len(lfield) < 4 or not lfield.isdigit():
        raise PacketError(f"length field is not 4 digits: {_short(lfield, 4)}")
    declared = int(lfield)
    actual = len(body) - 10
    if actual < 0:
        raise PacketError(f"packet too short ({len(body)} bytes) for ##LLLL…CCCC")
    if declared != actual:
        raise PacketError(f"length mismatch: LLLL={lfield.decode()} but the data segment is {actual} bytes")
    if actual > MAX_SEGMENT:
        raise PacketError(f"data segment of {actual} bytes exceeds {MAX_SEGMENT}")
    segment, crc_field = body[6:-4], body[-4:]
    if not _HEX4_RE.fullmatch(crc_field):
        raise PacketError(f"CRC field is not 4 hex digits: {_short(crc_field, 4)}")
    got, expected = int(crc_field, 16), crc16_hj212(segment)
    if got != expected:
        hint = " (the sender used CRC-16/MODBUS, not HJ 212 Appendix A)" if got == crc16_modbus(segment) else ""
        raise PacketError(f"bad CRC: expected {expected:04X}, got {crc_field.decode().upper()}{hint}")
    try:
        text = segment.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PacketError(f"data segment is not UTF-8 text (byte {exc.start})") from None
    return _parse_segment(text, body)


def frame_segments(segments: list[bytes]) -> list[bytes]:
    """:func:`frame_segment` (HJ 212 CRC) of many segments, their CRCs computed at once."""
    for s in segments:
        _check_frameable(s)
    return [_framed(s, c) for s, c in zip(segments, crc16_hj212_many(segments), strict=True)]


# -------------------------------------------------------------------------------------------------
# The receiver's path: validation without decoding the CP
# -------------------------------------------------------------------------------------------------
#: The shape of nearly every packet a data logger sends: the header fields in the standard's order
#: (HJ 212-2017 §6.3.2, no PNUM/PNO), ``DataTime`` first in the CP, then the other CP items without
#: ``&``. Header values are matched stricter than :func:`parse_packet` reads them (no ``&``, ``=``,
#: ``;``), so whatever matches, :func:`parse_packet` splits the header the same way; the other CP items
#: are checked by :func:`_cp_keys`; whatever does not match simply takes :func:`parse_packet`.
_LEAN_RE = re.compile(
    r"##[0-9]{4}QN=([0-9]{1,32});ST=([0-9A-Za-z]{1,8});CN=([0-9A-Za-z]{1,8});PW=([^;&=]{0,64});"
    r"MN=([^;&=]{1,64});Flag=([0-9]{1,6});CP=&&DataTime=([0-9]{14})([^&]*)&&[0-9A-Fa-f]{4}")
_CP_ITEM_RE = re.compile(r"[;,]([^=;,&]+)=[^=;,&]*")
_CP_SEP_RE = re.compile(r"[;,](?=[^=;,&]+=)")
_DATATIME_KEY = "DataTime"
_BITS_2005 = BITS_OF_VERSION["2005"]


class LeanPacket:
    """A packet validated like :func:`parse_packet` (same acceptance, same header values and
    ``data_time``) whose CP is decoded only when first asked for: ``qn``, ``st``, ``cn``, ``pw``,
    ``mn``, ``flag``, ``data_time``, ``raw``, ``wants_ack`` and ``key`` are read from the header;
    any other :class:`Packet` attribute (``cp``, ``extra_cp``, ``version`` …) parses the packet
    once and answers from the full :class:`Packet`."""

    __slots__ = ("_full", "cn", "data_time", "flag", "mn", "pw", "qn", "raw", "st")

    def __init__(self, raw: bytes, qn: str, st: str, cn: str, pw: str, mn: str, flag: int,
                 data_time: datetime):
        self.raw, self.qn, self.st, self.cn, self.pw, self.mn = raw, qn, st, cn, pw, mn
        self.flag, self.data_time = flag, data_time
        self._full: Packet | None = None

    @property
    def wants_ack(self) -> bool:
        return bool(self.flag & 1)

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.mn, self.qn)

    def packet(self) -> Packet:
        """The fully decoded :class:`Packet`."""
        if self._full is None:
            self._full = parse_packet(self.raw)
        return self._full

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "_full":
            raise AttributeError(name)
        return getattr(self.packet(), name)

    def __repr__(self) -> str:
        return f"LeanPacket(mn={self.mn!r}, qn={self.qn!r}, cn={self.cn!r}, data_time={self.data_time!r})"


@lru_cache(maxsize=4096)
def _unique_2005(keys: tuple[str, ...]) -> bool:
    """No two CP keys of an HJ/T 212-2005 packet name the same field once the pollutant codes are
    mapped to 2017 ones (:data:`CODES_2005_TO_2017`, as :func:`parse_packet` maps them). Cached: a
    device sends the same keys in every packet."""
    seen: set = set()
    for key in keys:
        code, dash, fld = key.partition("-")
        item = (CODES_2005_TO_2017.get(code, code), fld) if dash and code and fld else key
        if item in seen:
            return False
        seen.add(item)
    return True


def _cp_keys(rest: str) -> list[str] | None:
    """The keys of the CP items after ``DataTime`` (``rest``: ``&``-free, as :data:`_LEAN_RE` captures
    it) when they are all ``;`` or ``,`` + ``key=value`` with a non-empty key and no ``=`` in the value
    — then :func:`parse_packet` reads exactly these keys — else ``None``.

    :data:`_CP_ITEM_RE` matches only at a separator, at most once per separator; every separator starts
    a match (all items have a key and ``=``) and there are as many ``=`` as separators (none has two)."""
    if not rest:
        return []
    if rest[0] not in ";,":
        return None
    keys = _CP_ITEM_RE.findall(rest)
    seps = rest.count(";") + rest.count(",")
    return keys if len(keys) == seps == rest.count("=") else None


def _cp_items_ok(is_2005: bool, rest: str) -> list[str] | None:
    """The keys of the CP items after ``DataTime`` when they are ``key=value`` pairs :func:`parse_packet`
    accepts: well-formed (:func:`_cp_keys`), unique (after the 2005 → 2017 code mapping for a 2005
    packet), no second ``DataTime``; else ``None``."""
    keys = _cp_keys(rest)
    if (keys is None or _DATATIME_KEY in keys
            or not (_unique_2005(tuple(keys)) if is_2005 else len(set(keys)) == len(keys))):
        return None
    return keys


@dataclass(frozen=True, slots=True)
class _Device:
    """What a device sent in its last lean packet, as a pattern for its next ones: the header with its
    ST, CN, PW, MN and Flag verbatim, then ``DataTime``, then its CP keys in order (with their
    separators), each ``=`` a value without ``=;,&``; only QN, DataTime, the values and the CRC vary.
    A packet matching it matches :data:`_LEAN_RE` with these header values and CP items that
    :func:`_cp_items_ok` accepts (checked when it was built), so one C-level match with two groups
    replaces the general match, its eight groups and the CP key check."""

    pattern: re.Pattern
    st: str
    cn: str
    pw: str
    mn: str
    flag: int


#: MN → the device's :class:`_Device`, rebuilt whenever a lean packet of that MN does not match it;
#: bounded (a few MiB) under a flood of invented MNs.
_DEVICES: dict[str, _Device] = {}


def _device(g: tuple, keys: list[str]) -> _Device:
    _qn, st, cn, pw, mn, flag, _dt, rest = g
    seps = _CP_SEP_RE.findall(rest)
    pattern = (r"##[0-9]{4}QN=([0-9]{1,32})"
               + re.escape(f";ST={st};CN={cn};PW={pw};MN={mn};Flag={flag};CP=&&DataTime=") + r"([0-9]{14})"
               + "".join(re.escape(sep + key) + "=[^=;,&]*" for sep, key in zip(seps, keys, strict=True))
               + r"&&[0-9A-Fa-f]{4}")
    if len(_DEVICES) >= 4096:
        _DEVICES.clear()
    dev = _DEVICES[mn] = _Device(re.compile(pattern), st, cn, pw, mn, int(flag))
    return dev


def _parse_or_error(raw: bytes) -> Packet | PacketError:
    try:
        return parse_packet(raw)
    except PacketError as exc:
        return exc


def check_packets(raws: list[bytes]) -> list[Packet | LeanPacket | PacketError]:
    """Validate many framed packets (tail stripped, as :class:`~sensors.hj212.framing.FrameBuffer`
    cuts them) at once: for each, a :class:`LeanPacket` or :class:`Packet` when :func:`parse_packet`
    accepts it, else the :class:`PacketError` it raises (the same reason).

    Packets of the usual shape (:data:`_LEAN_RE`, ASCII) are checked without decoding their CP: length
    field, segment size, CRC (all of them in one numpy pass, :func:`~sensors.hj212.crc.crc16_hj212_many`),
    unique CP keys (after the 2005 code mapping), ``DataTime``; a device's next packets match the
    pattern its last one left (:class:`_Device`). Everything else — and every packet that fails any
    check, for the precise reason — goes through :func:`parse_packet`.
    """
    out: list = [None] * len(raws)
    lean: list[tuple[int, bytes, str, str, str, _Device]] = []   # index, raw, text, QN, DataTime, device
    match = _LEAN_RE.fullmatch
    devices = _DEVICES
    for i, raw in enumerate(raws):
        if type(raw) is not bytes:
            raw = bytes(raw)
        text = raw.decode("latin-1")       # one char per byte; isascii() of a str is O(1)
        if not text.isascii() or int(text[2:6] if text[2:6].isdigit() else -1) != len(raw) - 10 or \
                len(raw) - 10 > MAX_SEGMENT:
            out[i] = _parse_or_error(raw)
            continue
        # the device's own pattern first (its MN read roughly here; the pattern's match is the proof)
        at = text.find(";MN=")
        dev = devices.get(text[at + 4:text.find(";", at + 4)]) if at > 0 else None
        m = dev.pattern.fullmatch(text) if dev is not None else None
        if m is not None:
            lean.append((i, raw, text, m[1], m[2], dev))
            continue
        m = match(text)
        if m is not None:
            g = m.groups()  # QN, ST, CN, PW, MN, Flag, DataTime, the other CP items
            keys = _cp_items_ok(int(g[5]) >> 2 == _BITS_2005, g[7])
            if keys is not None:
                lean.append((i, raw, text, g[0], g[6], _device(g, keys)))
                continue
        out[i] = _parse_or_error(raw)
    if not lean:
        return out
    for (i, raw, text, qn, dt, dev), crc in zip(lean, crc16_hj212_many([x[1][6:-4] for x in lean]), strict=True):
        try:
            t = _data_time(dt)
        except PacketError:
            t = None
        if t is None or int(text[-4:], 16) != crc:
            out[i] = _parse_or_error(raw)
            continue
        out[i] = LeanPacket(raw, qn, dev.st, dev.cn, dev.pw, dev.mn, dev.flag, t)
    return out


@lru_cache(maxsize=4096)
def _data_time(text: str) -> datetime:
    """``YYYYMMDDhhmmss`` (UTC+8 local time, HJ 212-2017 §6.6) → aware datetime. Cached: the devices of
    one site report the same DataTime over and over."""
    if not _DATATIME_RE.fullmatch(text):
        raise PacketError(f"bad DataTime {text!r}: expected YYYYMMDDhhmmss")
    try:
        t = datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                     int(text[12:14]), tzinfo=LOCAL_TZ)
    except ValueError:
        raise PacketError(f"bad DataTime {text!r}: not a valid date/time") from None
    if t < EARLIEST_DATA_TIME:
        raise PacketError(f"DataTime {t:%Y-%m-%d %H:%M:%S} is before {EARLIEST_DATA_TIME:%Y-%m-%d} "
                          "(a data logger clock reset?)")
    if t > LATEST_DATA_TIME:
        raise PacketError(f"DataTime {t:%Y-%m-%d %H:%M:%S} is after {LATEST_DATA_TIME:%Y-%m-%d}, the last "
                          "time the store can hold")
    return t


def _parse_segment(text: str, raw: bytes) -> Packet:
    pos = text.find("CP=&&")
    if pos < 0 or (pos > 0 and text[pos - 1] != ";"):
        raise PacketError("missing CP=&&…&&")
    if not text.endswith("&&") or len(text) < pos + 7:
        raise PacketError("malformed CP: no closing '&&' at the end of the data segment")
    head_text, cp_text = text[:pos], text[pos + 5:-2]
    header: dict[str, str] = {}
    for item in head_text.split(";"):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise PacketError(f"malformed KEY=VALUE in header: {item!r}")
        if key in header:
            raise PacketError(f"duplicate header field {key}")
        header[key] = value
    for required in ("ST", "CN", "PW", "MN"):
        if required not in header:
            raise PacketError(f"missing {required}")
    flag: int | None = None
    if "Flag" in header:
        if not _UINT_RE.fullmatch(header["Flag"]):
            raise PacketError(f"Flag is not a decimal integer: {header['Flag']!r}")
        flag = int(header["Flag"])
    if flag is not None:
        bits = flag >> 2
        version = VERSION_BITS.get(bits, f"V{bits}")
    else:
        version = _version_from_codes(cp_text)
    pnum = pno = None
    if "PNUM" in header or "PNO" in header:
        try:
            if not (_UINT_RE.fullmatch(header["PNUM"]) and _UINT_RE.fullmatch(header["PNO"])):
                raise ValueError
            pnum, pno = int(header["PNUM"]), int(header["PNO"])
        except (KeyError, ValueError):
            raise PacketError(f"split packet needs integer PNUM and PNO, got PNUM={header.get('PNUM')!r} "
                              f"PNO={header.get('PNO')!r}") from None
        if not 1 <= pno <= pnum:
            raise PacketError(f"PNO={pno} outside 1..PNUM={pnum}")

    cp: dict[str, dict[str, str]] = {}
    extra: dict[str, str] = {}
    sent: dict[str, str] = {}
    mapping = CODES_2005_TO_2017 if version == "2005" else None
    if cp_text:
        for item in cp_text.split(";"):
            if not item:
                continue
            for kv in item.split(","):
                key, eq, value = kv.partition("=")
                if not eq or not key:
                    raise PacketError(f"malformed KEY=VALUE in CP: {kv!r}")
                code, dash, fld = key.partition("-")
                if dash and code and fld:
                    canon = mapping.get(code, code) if mapping else code
                    if canon != code:
                        sent[canon] = code
                    fields = cp.setdefault(canon, {})
                    if fld in fields:
                        raise PacketError(f"duplicate CP key {key}")
                    fields[fld] = value
                else:
                    if key in extra:
                        raise PacketError(f"duplicate CP key {key}")
                    extra[key] = value
    data_time: datetime | None = None
    dt_text = extra.pop("DataTime", None)
    if dt_text is not None:
        data_time = _data_time(dt_text)
    elif cp:
        # a data command without values (CP=&&&& or BeginTime/EndTime) is the platform's request form:
        # valid, and it carries no readings; only values need their DataTime
        raise PacketError(f"missing DataTime in CP of CN={header['CN']} (values are never stamped "
                          "with the receiver's clock)")
    return Packet(qn=header.get("QN"), st=header["ST"], cn=header["CN"], pw=header["PW"], mn=header["MN"],
                  flag=flag, version=version, data_time=data_time, cp=cp, extra_cp=extra, raw=raw,
                  pnum=pnum, pno=pno, sent_codes=sent, header=header, parts=(raw,))


_CODE_2017_RE = re.compile(r"[aw][0-9]{5}")


def _version_from_codes(cp_text: str) -> str:
    """The protocol version of a packet without ``Flag`` (HJ/T 212-2005 has none), by what it shows:
    a 2005 pollutant code (``02``, ``011``, ``B02`` …, :data:`CODES_2005_TO_2017`) → ``"2005"`` (the
    codes are then mapped to 2017 ones); else a 2017 code (``a21026``, ``w01018``) → ``"2017"``;
    no pollutant codes at all → ``"2005"`` (the version without a Flag field)."""
    codes = {item.partition("=")[0].partition("-")[0] for item in cp_text.replace(",", ";").split(";")
             if "-" in item.partition("=")[0]}
    if codes & CODES_2005_TO_2017.keys():
        return "2005"
    if any(_CODE_2017_RE.fullmatch(c) for c in codes):
        return "2017"
    return "2005"


#: Header fields of HJ 212-2017 §6.3.2 (and 2025); anything else is reported as non-standard.
STANDARD_HEADER = frozenset({"QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"})
#: Non-pollutant CP keys of HJ 212-2017 Appendix C/D that envmon knows.
STANDARD_CP_KEYS = frozenset({"DataTime", "BeginTime", "EndTime", "RtdInterval", "MinInterval",
                              "QnRtn", "ExeRtn", "SystemTime", "RestartTime", "OverTime", "ReCount",
                              "PolId", "CstartTime", "Ctime", "Stime", "NewPW", "VaseNo", "InfoId",
                              "SN"})
#: Pollutant fields that describe a value without being one.
DESCRIPTIVE_FIELDS = frozenset({"Flag", "EFlag", "SampleTime", "Info", "SN"})


def nonstandard_fields(pkt: Packet) -> list[str]:
    """Fields of ``pkt`` that HJ 212 does not define (kept in the packet, reported — never dropped
    silently): unknown header fields, unknown CP keys, unknown pollutant fields (``code-Field``)."""
    out = [f"header {k}" for k in pkt.header if k not in STANDARD_HEADER]
    out += [f"CP {k}" for k in pkt.extra_cp if k not in STANDARD_CP_KEYS]
    for code, fields in pkt.cp.items():
        out += [f"CP {pkt.sent_codes.get(code, code)}-{f}" for f in fields
                if f not in VALUE_FIELDS and f not in DESCRIPTIVE_FIELDS]
    return out


# -------------------------------------------------------------------------------------------------
# Building
# -------------------------------------------------------------------------------------------------
def _fmt(value: object) -> str:
    """A CP value as text: floats positional (no exponent), shortest round-trip digits."""
    if isinstance(value, bool):
        raise TypeError("a CP value cannot be a bool")
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"CP value {v} is not a finite number")
        text = np.format_float_positional(v, trim="-")
        if len(text) > 40:  # HJ 212 numbers are plain decimals; 1e-200 would need 200 digits
            raise ValueError(f"CP value {v!r} needs {len(text)} characters as a plain decimal; round it")
        return text
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _new_qn(now: datetime | None = None) -> str:
    now = now or datetime.now(LOCAL_TZ)
    return now.strftime("%Y%m%d%H%M%S") + f"{now.microsecond // 1000:03d}"


def build_packet(*, st: str, cn: str, mn: str, pw: str, data_time: datetime | None,
                 cp: Mapping[str, Mapping[str, object]], extra_cp: Mapping[str, str] | None = None,
                 qn: str | None = None, version: str = "2017", ack: bool = False,
                 crc_mode: str = "hj212") -> list[bytes]:
    """Build framed packet(s) (each ending ``\\r\\n``) for pollutant values ``cp``.

    ``cp`` maps a pollutant code to ``{field: value}`` (``{"a21026": {"Rtd": 35.2, "Flag": "N"}}``);
    ``data_time`` (aware, converted to UTC+8; naive is taken as UTC+8) becomes ``DataTime``. With
    ``version="2005"`` the 2017 codes that have an HJ/T 212-2005 equivalent are written as the old
    code. When the data segment would exceed 1024 bytes the pollutant items are spread over several
    packets with ``PNUM``/``PNO`` and the D bit set, each repeating QN, DataTime and ``extra_cp``.
    ``crc_mode="modbus"`` writes a CRC-16/MODBUS checksum (invalid; for tests only).
    """
    if crc_mode not in _CRC_MODES:
        raise ValueError(f"crc_mode must be one of {sorted(_CRC_MODES)}")
    if version not in ("2005", "2017", "2025"):
        raise ValueError(f"unknown HJ 212 version {version!r}")
    qn = qn if qn is not None else _new_qn()
    common: list[str] = []
    if data_time is not None:
        local = (data_time.replace(tzinfo=LOCAL_TZ) if data_time.tzinfo is None
                 else data_time.astimezone(LOCAL_TZ))
        common.append("DataTime=" + local.strftime("%Y%m%d%H%M%S"))
    common += [f"{k}={_fmt(v)}" for k, v in (extra_cp or {}).items()]
    items: list[str] = []
    for code, fields in cp.items():
        sent = CODES_2017_TO_2005.get(code, code) if version == "2005" else code
        items.append(",".join(f"{sent}-{f}={_fmt(v)}" for f, v in fields.items()))

    def segment(parts: list[str], pnum: int | None = None, pno: int | None = None) -> bytes:
        flag = flag_for(version, ack=ack, split=pnum is not None)
        head = f"QN={qn};ST={st};CN={cn};PW={pw};MN={mn}"
        if version != "2005" or flag:
            head += f";Flag={flag}"
        if pnum is not None:
            head += f";PNUM={pnum};PNO={pno}"
        return f"{head};CP=&&{';'.join(common + parts)}&&".encode()

    whole = segment(items)
    if len(whole) <= MAX_SEGMENT:
        return [frame_segment(whole, crc_mode)]
    # split: greedy packing, re-done if PNUM needs more digits than assumed
    width = 1
    while True:
        overhead = len(segment([], 10 ** width - 1, 10 ** width - 1))
        groups: list[list[str]] = [[]]
        size = overhead
        for item in items:
            add = len(item.encode()) + (1 if groups[-1] or common else 0)
            if overhead + add > MAX_SEGMENT:
                raise ValueError(f"CP item {item[:40]!r}… alone exceeds {MAX_SEGMENT} bytes")
            if size + add > MAX_SEGMENT:
                groups.append([])
                size = overhead
                add = len(item.encode()) + (1 if common else 0)
            groups[-1].append(item)
            size += add
        if len(str(len(groups))) <= width:
            break
        width += 1
    n = len(groups)
    return [frame_segment(segment(g, n, i), crc_mode) for i, g in enumerate(groups, start=1)]


# -------------------------------------------------------------------------------------------------
# Split packets
# -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Incomplete:
    """A split set that did not complete in time: to be quarantined with ``reason``."""

    mn: str
    qn: str | None
    reason: str
    parts: tuple[bytes, ...]


@dataclass
class _Pending:
    pnum: int
    first_seen: float
    parts: dict[int, Packet] = field(default_factory=dict)


class Reassembler:
    """Join the parts PNO 1..PNUM of split packets (same MN and QN) into one logical :class:`Packet`.

    ``feed`` returns the packet itself for an unsplit packet, the logical packet when the last part
    arrives, else ``None``. Sets still incomplete ``timeout_s`` after their first part are returned by
    :meth:`expire` (and all of them by :meth:`flush`) as :class:`Incomplete`, to be quarantined.
    """

    def __init__(self, timeout_s: float = 120.0, clock=_time.monotonic):
        self.timeout_s = timeout_s
        self._clock = clock
        self._pending: dict[tuple[str, str | None], _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def feed(self, packet: Packet) -> Packet | None:
        if packet.pnum is None:
            return packet
        key = packet.key
        pend = self._pending.get(key)
        if pend is None:
            pend = self._pending[key] = _Pending(packet.pnum, self._clock())
        elif pend.pnum != packet.pnum:
            raise PacketError(f"split packet MN={packet.mn} QN={packet.qn}: PNUM changed from "
                              f"{pend.pnum} to {packet.pnum}")
        pend.parts[packet.pno] = packet  # a re-sent part replaces the earlier copy
        if len(pend.parts) < pend.pnum:
            return None
        del self._pending[key]
        return _merge([pend.parts[i] for i in range(1, pend.pnum + 1)])

    def expire(self, now: float | None = None) -> list[Incomplete]:
        now = self._clock() if now is None else now
        old = [k for k, p in self._pending.items() if now - p.first_seen >= self.timeout_s]
        return [self._incomplete(k, f"after {self.timeout_s:g} s") for k in old]

    def flush(self) -> list[Incomplete]:
        return [self._incomplete(k, "at end of input") for k in list(self._pending)]

    def _incomplete(self, key: tuple[str, str | None], when: str) -> Incomplete:
        pend = self._pending.pop(key)
        got = sorted(pend.parts)
        return Incomplete(mn=key[0], qn=key[1], parts=tuple(pend.parts[i].raw for i in got),
                          reason=f"incomplete split packet MN={key[0]} QN={key[1]}: got PNO "
                                 f"{','.join(map(str, got))} of PNUM={pend.pnum} {when}")


def _merge(parts: Iterable[Packet]) -> Packet:
    parts = list(parts)
    cp: dict[str, dict[str, str]] = {}
    extra: dict[str, str] = {}
    sent: dict[str, str] = {}
    for p in parts:
        for code, fields in p.cp.items():
            cp.setdefault(code, {}).update(fields)
        extra.update(p.extra_cp)
        sent.update(p.sent_codes)
    first = parts[0]
    times = {p.data_time for p in parts}
    if len(times) > 1:
        raise PacketError(f"split packet MN={first.mn} QN={first.qn}: parts carry different DataTime")
    return replace(first, cp=cp, extra_cp=extra, sent_codes=sent, pno=None,
                   parts=tuple(p.raw for p in parts))


# -------------------------------------------------------------------------------------------------
# Line-oriented decoding (files, the CLI)
# -------------------------------------------------------------------------------------------------
def packet_values(packet: Packet) -> Iterator[tuple[str, str, str, str]]:
    """``(code, field, raw value, flag)`` for each value field of the packet, in packet order."""
    for code, fields in packet.cp.items():
        flag = fields.get("Flag", DEFAULT_DATA_FLAG)
        for fld, raw in fields.items():
            if fld in VALUE_FIELDS:
                yield code, fld, raw, flag


def decode_lines(lines: Iterable[bytes], *, reassemble: bool = True
                 ) -> Iterator[tuple[int, Packet | Rejected]]:
    """Decode one packet per line (``\\r\\n`` or ``\\n``; blank lines skipped).

    Yields ``(line number, Packet)`` for each valid (logical) packet — split parts are joined by a
    :class:`~sensors.hj212.packet.Reassembler` and reported at the line of their last part — and
    ``(line number, Rejected)`` for each invalid line; split sets still incomplete at the end of the
    input are rejected at the line of their first part.
    """
    asm = Reassembler(timeout_s=float("inf"))
    first_line: dict[tuple[str, str | None], int] = {}
    for n, line in enumerate(lines, start=1):
        body = line.rstrip(b"\r\n")
        if not body.strip():
            continue
        try:
            pkt = parse_packet(body)
            if not reassemble or pkt.pnum is None:
                yield n, pkt
                continue
            first_line.setdefault(pkt.key, n)
            whole = asm.feed(pkt)
        except PacketError as exc:
            yield n, Rejected(n, str(exc), body)
            continue
        if whole is not None:
            first_line.pop(whole.key, None)
            yield n, whole
    for inc in asm.flush():
        n = first_line.get((inc.mn, inc.qn), 0)
        yield n, Rejected(n, inc.reason, b"\r\n".join(inc.parts))
