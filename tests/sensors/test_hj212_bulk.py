"""The bulk decoder (sensors.hj212.bulk) against the per-packet decoder on the same lines.

The per-packet path (parse_packet → Reassembler → packets_to_readings) is the reference: for every
input the bulk decoder must give the same readings frame, the same decode errors (line, reason, raw)
in the same order, the same incomplete split sets and the same rejections (packet, reason, raw).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from monitoring.registry import Registry, parse_registry
from sensors.hj212 import (
    PacketError,
    Reassembler,
    build_packet,
    crc16_hj212,
    frame_segment,
    parse_packet,
)
from sensors.hj212.bulk import decode_packets
from sensors.hj212.crc import crc16_hj212_many, crc16_hj212_ranges
from sensors.hj212.packet import nonstandard_fields
from sensors.hj212.readings import packets_to_readings
from sensors.timezone import LOCAL_TZ

DATA = Path(__file__).parent / "data"
STACK, WATER, NOISE = "010000A8900016F000169DC0", "88888880000001", "NX0010000000000000N00001"
T0 = datetime(2016, 8, 1, 8, 58, 0, tzinfo=LOCAL_TZ)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return parse_registry(yaml.safe_load((DATA / "registry_small.yaml").read_text(encoding="utf-8")),
                          source="registry_small.yaml")


def per_packet(lines: list[bytes], registry: Registry):
    """The reference: what monitoring.ingest.decode_spool did line by line."""
    asm = Reassembler(timeout_s=float("inf"))
    packets, lines_of, errors = [], [], []
    for k, raw in enumerate(lines):
        try:
            whole = asm.feed(parse_packet(raw))
        except PacketError as exc:
            errors.append((k, str(exc), raw))
            continue
        if whole is not None:
            packets.append(whole)
            lines_of.append(k)
    incomplete = asm.flush()
    nonstandard: dict[str, int] = {}
    for whole in packets:
        for name in nonstandard_fields(whole):
            nonstandard[name] = nonstandard.get(name, 0) + 1
    frame, rejected = packets_to_readings(packets, registry, "b1", [f"line {k}" for k in lines_of])
    return frame, rejected, errors, incomplete, lines_of, nonstandard


def assert_same(lines: list[bytes], registry: Registry) -> None:
    frame, rejected, errors, incomplete, lines_of, nonstandard = per_packet(lines, registry)
    bulk = decode_packets(lines, registry, "b1", [f"line {k}" for k in range(len(lines))])
    pd.testing.assert_frame_equal(bulk.readings, frame)
    assert bulk.errors == errors
    assert bulk.incomplete == incomplete
    assert bulk.rejected == rejected
    assert bulk.packet_line.tolist() == lines_of
    assert bulk.nonstandard == nonstandard


def packet(cn: str, cp: dict, mn: str = STACK, t: datetime = T0, **kw) -> bytes:
    parts = build_packet(st="31", cn=cn, mn=mn, pw="123456", data_time=t, cp=cp, **kw)
    assert len(parts) == 1
    return parts[0][:-2]


def frame_text(segment: str) -> bytes:
    return frame_segment(segment.encode("utf-8"))[:-2]


def test_crc_of_many_packets_equals_appendix_a_crc():
    rng = np.random.default_rng(7)
    chunks = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in [0, 1, 2, 3, 9, 1024, 77, 500]]
    chunks.append(b"123456789")   # the check value 0x2F80 (HJ 212-2017 Appendix A)
    buf = np.frombuffer(b"".join(chunks), dtype=np.uint8)
    lengths = np.array([len(c) for c in chunks])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    got = crc16_hj212_ranges(buf, starts, lengths)
    assert got.tolist() == [crc16_hj212(c) for c in chunks]
    assert got[-1] == 0x2F80
    # the two batch forms agree (the receiver's, over a list of segments)
    assert crc16_hj212_many([c for c in chunks if c]) == [crc16_hj212(c) for c in chunks if c]


def test_simulated_minutes_identical(registry):
    """Every value field, flags, 2005 codes and flags, re-sends and corrected values, several points."""
    lines = []
    for minute in range(30):
        t = T0 + timedelta(minutes=minute)
        lines.append(packet("2051", {"a21026": {"Avg": 30 + minute / 7, "Min": 1, "Max": 99.5, "Flag": "N"},
                                     "a19001": {"Avg": "9.80", "Flag": "M"}, "a00000": {"Cou": 12}},
                            t=t, qn=f"{minute}"))
        lines.append(packet("2061", {"w01018": {"Avg": 45.2, "Flag": "N"}, "w00000": {"Avg": 2.5, "Cou": 9000},
                                     "w01001": {"Avg": 7.2}}, mn=WATER, t=t, version="2005", ack=True))
        lines.append(packet("2031", {"Leq": {"DayData": 58.3, "NightData": 47.1}}, mn=NOISE, t=t,
                            version="2025", ack=True))
    lines.append(lines[0])                                              # exact re-send: merged
    lines.append(packet("2051", {"a21026": {"Avg": 31.0}}, qn="0"))     # corrected value: supersedes
    assert_same(lines, registry)
    bulk = decode_packets(lines, registry, "b1")
    assert bulk.fast == len(lines) and len(bulk.readings) > 0


HOSTILE = [
    b"",                                                     # empty line
    b"garbage",
    b"##0004abcdFFFF",                                       # bad CRC, too short for a header
    b"##9999QN=1;ST=31&&",                           # length mismatch
]


def test_hostile_lines_identical(registry):
    good = packet("2011", {"a21026": {"Rtd": 35.2, "Flag": "N"}})
    seg = good[6:-4].decode()
    modbus = build_packet(st="31", cn="2011", mn=STACK, pw="1", data_time=T0, cp={"a21026": {"Rtd": 1}},
                          crc_mode="modbus")[0][:-2]
    many = {f"x{i:05d}": {"Rtd": i} for i in range(70)} | {"a21026": {"Rtd": 50.5, "Flag": "N"}}
    split = [p[:-2] for p in build_packet(st="31", cn="2011", mn=STACK, pw="1", data_time=T0, cp=many,
                                          qn="S1")]
    orphan = build_packet(st="31", cn="2011", mn=STACK, pw="1", data_time=T0, cp=many, qn="S2")[0][:-2]
    lines = [good, *HOSTILE, modbus, good[:-1] + b"0" if good[-1:] != b"0" else good[:-1] + b"1",
             good.lower(),                                                       # lower-case hex CRC
             frame_text(seg.replace("Rtd=35.2", "Rtd=abc")),                     # non-numeric value
             frame_text(seg.replace("Rtd=35.2", "Rtd=")),                        # empty value
             frame_text(seg.replace("Rtd=35.2", "Rtd=inf")),                     # not finite
             frame_text(seg.replace("Rtd=35.2", "Rtd=1e3")),                     # exponent: to_numeric's call
             frame_text(seg.replace("Rtd=35.2", "Rtd=-.5")),
             frame_text(seg.replace("Rtd=35.2", "Rtd=+7")),
             frame_text(seg.replace("Rtd=35.2", "Rtd= 7")),
             frame_text(seg.replace("Rtd=35.2", "Rtd=35.2,a21026-Rtd=36")),      # duplicate CP key
             frame_text(seg.replace("Rtd=35.2", "Rtd=35.2,,a21002-Rtd=3")),      # empty pair
             frame_text(seg.replace("Rtd=35.2", "Rtd=35.2;;a21002-Rtd=3")),      # empty item: fine
             frame_text(seg.replace("Rtd=35.2", "Rtd=35.2,")),                   # trailing comma
             frame_text(seg.replace("Rtd=35.2", "Rtd=35.2;=4")),                 # empty key
             frame_text(seg.replace("Rtd=35.2", "Rtd=35.2;noequals")),
             frame_text(seg.replace("Rtd=35.2", "Rtd=3=5")),                     # '=' in a value
             frame_text(seg.replace("a21026-Rtd", "zz999-Rtd")),                 # unknown code
             frame_text(seg.replace("a21026-Rtd", "a21026-Foo")),                # not a value field
             frame_text(seg.replace("DataTime=20160801085800", "DataTime=20161301085800")),  # bad date
             frame_text(seg.replace("DataTime=20160801085800", "DataTime=2016080108580")),
             frame_text(seg.replace("DataTime=20160801085800;", "")),            # no DataTime
             frame_text(seg.replace("DataTime=20160801085800", "DataTime=20160801085800;DataTime=20160801085900")),
             frame_text(seg.replace(f"MN={STACK}", "MN=UNKNOWN")),               # unknown MN
             frame_text(seg.replace("CN=2011", "CN=2021")),                      # no periodic values
             frame_text(seg.replace("CN=2011", "CN=1062")),
             frame_text(seg.split("CP=&&")[0] + "CP=&&&&"),                    # platform request form
             frame_text(seg.replace("Rtd=35.2", "Rtd=35.2;Custom=1,a21026-Foo=2")),  # non-standard fields
             frame_text(seg.replace(";Flag=5", "").replace("a21026", "02")),     # no Flag, a 2005 code
             frame_text(seg.replace("ST=31;", "")),                              # missing ST
             frame_text(seg.replace("QN=", "QX=")),
             frame_text("ST=31;QN=1;" + seg.split(";", 2)[2]),                   # other header order
             frame_text(seg.replace(";Flag=5", "")),                             # no Flag: 2005
             frame_text(seg.replace(";Flag=5", ";Flag=x")),
             frame_text(seg.replace("Flag=N", "Flag=国")),                       # non-ASCII
             frame_text(seg.replace("Flag=N", "Flag=\t")),                       # control byte
             frame_text(seg.replace("Flag=N", "Flag=")),                         # empty flag
             frame_text(seg.replace("&&", "", 1)),                               # no CP=&&
             frame_text(seg[:-2]),                                               # no closing &&
             frame_text(seg.replace("CP=&&", "CP=&&&&")),
             frame_text(seg.replace("Rtd=35.2", "Rtd=" + "9" * 60)),            # long value
             frame_text(seg.replace("a21026-Rtd", "a" * 40 + "-Rtd")),           # long key
             *split, orphan, good]
    assert_same(lines, registry)
    bulk = decode_packets(lines, registry, "b1")
    assert bulk.errors and bulk.rejected and bulk.incomplete     # the input really is hostile
    assert bulk.fast > 5                                          # and the fast path still took its share


def test_only_bad_or_empty_input(registry):
    assert_same([], registry)
    assert_same([b"garbage", b"##0004abcdFFFF"], registry)
    heartbeat = frame_text("QN=1;ST=91;CN=9014;PW=1;MN=X;Flag=4;CP=&&&&")
    assert_same([heartbeat], registry)
