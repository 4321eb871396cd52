"""HJ 212 (2005 / 2017 / 2025) codec: CRC, packets, framing, split-packet reassembly, readings.

``packets_to_readings`` (pandas) is imported lazily so that the pure protocol tools start fast.
"""

from sensors.hj212.codes import CODES_2005_TO_2017, DATA_COMMANDS, UNITS, VALUE_FIELDS, unit_for
from sensors.hj212.crc import crc16_hj212, crc16_modbus
from sensors.hj212.framing import Frame, FrameBuffer, Garbage
from sensors.hj212.packet import (
    MAX_FRAME,
    MAX_SEGMENT,
    Incomplete,
    Packet,
    PacketError,
    Reassembler,
    Rejected,
    build_packet,
    decode_lines,
    frame_segment,
    packet_values,
    parse_packet,
)

__all__ = [
    "CODES_2005_TO_2017",
    "DATA_COMMANDS",
    "MAX_FRAME",
    "MAX_SEGMENT",
    "UNITS",
    "VALUE_FIELDS",
    "Frame",
    "FrameBuffer",
    "Garbage",
    "Incomplete",
    "Packet",
    "PacketError",
    "Reassembler",
    "Rejected",
    "build_packet",
    "crc16_hj212",
    "crc16_modbus",
    "decode_lines",
    "frame_segment",
    "packet_values",
    "packets_to_readings",
    "parse_packet",
    "spool_lines_to_readings",
    "unit_for",
]


def __getattr__(name: str):
    if name in ("packets_to_readings", "spool_lines_to_readings"):
        from sensors.hj212 import readings
        return getattr(readings, name)
    raise AttributeError(f"module 'sensors.hj212' has no attribute {name!r}")
