"""HJ 212-2017 Appendix A CRC: check values and the standard's example packet."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sensors.hj212 import crc16_hj212, crc16_modbus

EXAMPLE_SEGMENT = (b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
                   b"Flag=5;CP=&&RtdInterval=30&&")


def appendix_a_bitwise(data: bytes) -> int:
    """The Appendix A pseudo-code, literally (the oracle for the table-driven implementation)."""
    reg = 0xFFFF
    for b in data:
        reg = (reg >> 8) ^ b
        for _ in range(8):
            lsb = reg & 1
            reg >>= 1
            if lsb:
                reg ^= 0xA001
    return reg


def test_check_value_is_2f80_not_modbus_4b37():
    assert crc16_hj212(b"123456789") == 0x2F80
    assert crc16_modbus(b"123456789") == 0x4B37


def test_standard_example_segment_has_crc_1c80():
    assert len(EXAMPLE_SEGMENT) == 101  # the example's LLLL=0101
    assert crc16_hj212(EXAMPLE_SEGMENT) == 0x1C80
    assert crc16_modbus(EXAMPLE_SEGMENT) != 0x1C80


def test_empty_and_single_byte():
    assert crc16_hj212(b"") == 0xFFFF
    assert crc16_hj212(b"A") == appendix_a_bitwise(b"A")


@given(st.binary(max_size=1100))
def test_table_driven_equals_bitwise_pseudocode(data: bytes):
    assert crc16_hj212(data) == appendix_a_bitwise(data)
