"""HJ 212 (2005 / 2017 / 2025) codec: CRC, packets, framing, split-packet reassembly, readings."""

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
    build_packet,
    frame_segment,
    parse_packet,
)
from sensors.hj212.readings import Rejected, decode_lines, packet_values, packets_to_readings

__all__ = [
    "CODES_2005_TO_2017", "DATA_COMMANDS", "UNITS", "VALUE_FIELDS", "unit_for",
    "crc16_hj212", "crc16_modbus",
    "Frame", "FrameBuffer", "Garbage",
    "MAX_FRAME", "MAX_SEGMENT", "Incomplete", "Packet", "PacketError", "Reassembler", "build_packet",
    "frame_segment", "parse_packet",
    "Rejected", "decode_lines", "packet_values", "packets_to_readings",
]
