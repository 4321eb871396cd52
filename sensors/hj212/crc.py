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

CRC-16/MODBUS (``reg = (reg >> 8) ^ TABLE[(reg ^ b) & 0xFF]``, check value ``0x4B37``) is what several
public parsers use by mistake; it is here only to diagnose such devices and to build test packets.
"""

from __future__ import annotations

import sys
from array import array

__all__ = ["CRC_TABLE", "crc16_hj212", "crc16_modbus"]


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


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF): NOT the HJ 212 CRC; for diagnostics/tests."""
    reg = 0xFFFF
    t = CRC_TABLE
    for b in data:
        reg = (reg >> 8) ^ t[(reg ^ b) & 0xFF]
    return reg
