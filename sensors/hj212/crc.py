"""CRC of an HJ 212 data segment (HJ 212-2017 Appendix A), and CRC-16/MODBUS for comparison.

The Appendix A algorithm XORs each data byte into the *high* byte of the register::

    reg = 0xFFFF
    for b in data:
        reg = (reg >> 8) ^ b
        8 × { lsb = reg & 1; reg >>= 1; if lsb: reg ^= 0xA001 }

Because ``(reg >> 8) ^ b`` is at most ``0xFF``, the eight shift steps are a pure function of that
byte: ``reg = TABLE[(reg >> 8) ^ b]`` with ``TABLE`` the reflected 0xA001 table. Two steps compose the
same way over a little-endian 16-bit word ``w = b0 | b1 << 8``: ``reg = TABLE2[(reg >> 8) ^ w]``, so
the hot loop runs once per two bytes. Check value over ``b"123456789"``: ``0x2F80``.

The register's low byte is dropped at every step, so the state between bytes is the 8-bit
``x = (reg >> 8) ^ b``, and ``x' = H(x) ^ b'`` with ``H(x) = TABLE[x] >> 8`` — a linear map over GF(2)
(the table of a CRC is). Unrolled over a segment ``b_1 … b_n``::

    x_n = H^(n-1)(0xFF) ^ XOR_i H^(n-i)(b_i),        CRC = TABLE[x_n]

so each byte's contribution depends only on the byte and its distance to the segment's end:
:func:`crc16_hj212_many` gathers ``H^k(b)`` from a ``(1024, 256)`` table for every byte of many segments
at once and XOR-reduces per segment in numpy (the receiver checks a whole read's packets in one call).
:func:`crc16_hj212_ranges` steps the word table over many byte ranges of one buffer at once, longest first
(the ingest checks a whole spool segment's packets in one call): the two batch forms suit different sizes.

CRC-16/MODBUS (``reg = (reg >> 8) ^ TABLE[(reg ^ b) & 0xFF]``, check value ``0x4B37``) is what several
public parsers use by mistake; it is here only to diagnose such devices and to build test packets.
"""

from __future__ import annotations

import sys
import threading
from array import array
from collections.abc import Sequence

import numpy as np

__all__ = ["CRC_TABLE", "crc16_hj212", "crc16_hj212_many", "crc16_hj212_ranges", "crc16_modbus"]


def _reflected_table(poly: int = 0xA001) -> list[int]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ poly if reg & 1 else reg >> 1
        table.append(reg)
    return table


#: ``CRC_TABLE[x]`` = eight Appendix-A shift steps applied to a register holding ``x`` (0 ≤ x ≤ 0xFF).
CRC_TABLE: list[int] = _reflected_table()

# TABLE2[b0 ^ h | b1 << 8] = register after bytes b0, b1 starting from a register whose high byte is h.
_TABLE2: list[int] = [CRC_TABLE[(CRC_TABLE[i & 0xFF] >> 8) ^ (i >> 8)] for i in range(65536)]
_LITTLE = sys.byteorder == "little"


def crc16_hj212(data: bytes) -> int:
    """HJ 212 Appendix A CRC of ``data`` (the data segment only, not ``##LLLL`` nor the tail)."""
    reg = 0xFFFF
    n = len(data)
    if n >= 2:
        words = array("H")
        words.frombytes(data[: n & ~1])
        if not _LITTLE:
            words.byteswap()
        t2 = _TABLE2
        for w in words:
            reg = t2[(reg >> 8) ^ w]
    if n & 1:
        reg = CRC_TABLE[(reg >> 8) ^ data[-1]]
    return reg


#: Longest segment :func:`crc16_hj212_many` handles in numpy (HJ 212-2017 §6.3.1: the data segment
#: is at most 1024 bytes); longer ones go through :func:`crc16_hj212`.
MANY_MAX = 1024
_POWERS: np.ndarray | None = None   # _POWERS[k, x] = H^k(x), H(x) = CRC_TABLE[x] >> 8; built on first use
_TABLE_NP = np.array(CRC_TABLE, dtype=np.uint16)


def _powers() -> np.ndarray:
    global _POWERS
    if _POWERS is None:
        h = (_TABLE_NP >> 8).astype(np.uint8)
        p = np.empty((MANY_MAX, 256), dtype=np.uint8)
        p[0] = np.arange(256, dtype=np.uint8)
        for k in range(1, MANY_MAX):
            p[k] = h[p[k - 1]]
        _POWERS = p
    return _POWERS


def crc16_hj212_many(segments: Sequence[bytes]) -> list[int]:
    """:func:`crc16_hj212` of each segment, computed for all of them at once (numpy; see the module
    docstring). Worth it from a few segments on: ~1 µs per 230-byte segment against ~9 µs one by one."""
    if not segments:
        return []
    lens = np.fromiter(map(len, segments), dtype=np.int64, count=len(segments))
    if lens.min() < 1 or lens.max() > MANY_MAX:   # rare: empty or over-long segments one by one
        return [crc16_hj212(s) for s in segments]
    data = np.frombuffer(b"".join(segments), dtype=np.uint8)
    starts = np.cumsum(lens) - lens
    dist, gathered = _scratch(len(data))
    # distance of each byte to the last byte of its segment, as a row index into the powers table: a
    # running sum, lens - 1 at each segment's first byte, one less per byte (np.repeat took 7× longer)
    dist.fill(-1)
    dist[starts] = lens - 1
    np.cumsum(dist, out=dist)
    dist <<= 8
    dist += data
    powers = _powers()
    np.take(powers.ravel(), dist, out=gathered)
    x = np.bitwise_xor.reduceat(gathered, starts)
    x ^= powers[lens - 1, 0xFF]
    return _TABLE_NP[x].tolist()


_T2_NP = np.asarray(_TABLE2, dtype=np.int64)
_TABLE_NP_I64 = _TABLE_NP.astype(np.int64)


def crc16_hj212_ranges(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """HJ 212 Appendix-A CRC of the byte ranges ``buf[starts[k]:starts[k] + lengths[k]]`` of one uint8
    buffer, all at once (the ingest's path: a spool segment's packets, tens of thousands per call).

    Another algorithm than :func:`crc16_hj212_many` for another size: memory O(number of ranges), not
    O(bytes), and faster from a few thousand ranges on (49,801 spool packets: 0.045 s against 0.087 s
    with the join it would need); :func:`crc16_hj212_many` is the faster one for a read's few hundred
    packets (0.55 against 2.8 µs a packet at 280). The packets are sorted by length so that step ``j``
    (bytes ``2j, 2j+1``) works on the prefix of the packets still that long; each step is one gather and
    one table lookup for all of them."""
    n = len(starts)
    out = np.full(n, 0xFFFF, dtype=np.int64)
    if n == 0:
        return out
    order = np.argsort(-lengths, kind="stable")
    s, length = starts[order].astype(np.int64), lengths[order].astype(np.int64)
    words = length // 2
    reg = np.full(n, 0xFFFF, dtype=np.int64)
    active = np.searchsorted(-words, -np.arange(int(words.max())), side="left")
    for j, k in enumerate(active):
        pos = s[:k] + 2 * j
        w = buf[pos].astype(np.int64) | (buf[pos + 1].astype(np.int64) << 8)
        reg[:k] = _T2_NP[(reg[:k] >> 8) ^ w]
    odd = np.flatnonzero(length & 1)
    if len(odd):
        reg[odd] = _TABLE_NP_I64[(reg[odd] >> 8) ^ buf[s[odd] + length[odd] - 1].astype(np.int64)]
    out[order] = reg
    return out


_SCRATCH = threading.local()
_SCRATCH_MAX = 1 << 21   # bytes of segments per call whose work arrays are kept (18 MiB at most)


def _scratch(n: int) -> tuple[np.ndarray, np.ndarray]:
    """This thread's work arrays for :func:`crc16_hj212_many`, at least ``n`` long: kept between calls,
    because fresh ones cost more in page faults than the arithmetic (a receiver read of up to 256 KiB of
    packets needs up to 2 MiB of int64 distances)."""
    if n > _SCRATCH_MAX:   # a huge batch: its own arrays, not kept
        return np.empty(n, dtype=np.int64), np.empty(n, dtype=np.uint8)
    have = getattr(_SCRATCH, "dist", None)
    if have is None or len(have) < n:
        size = min(max(n, 2 * len(have) if have is not None else 1 << 16), _SCRATCH_MAX)
        _SCRATCH.dist, _SCRATCH.gathered = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.uint8)
    return _SCRATCH.dist[:n], _SCRATCH.gathered[:n]


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF): NOT the HJ 212 CRC; for diagnostics/tests."""
    reg = 0xFFFF
    t = CRC_TABLE
    for b in data:
        reg = (reg >> 8) ^ t[(reg ^ b) & 0xFF]
    return reg
