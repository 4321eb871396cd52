"""HJ 212 (2005 / 2017 / 2025) codec: CRC, packets, framing, split-packet reassembly.

Packets → the readings batch (pandas) is :mod:`sensors.hj212.readings`, imported from there, so that the
pure protocol tools (receiver, ``envmon hj212``) start without pandas.
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
    "parse_packet",
    "unit_for",
]

