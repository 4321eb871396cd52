"""The receiver's validation (:func:`check_packets`) accepts exactly what :func:`parse_packet` accepts,
with the same reason for every refusal and the same header values — HJ 212-2017 §6.3 framing and
Appendix A CRC included; and the batch CRC equals the Appendix A one."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.hj212 import PacketError, build_packet, crc16_hj212, crc16_modbus, frame_segment, parse_packet
from sensors.hj212.crc import crc16_hj212_many
from sensors.hj212.packet import LeanPacket, check_packets
from sensors.timezone import LOCAL_TZ

MN = "010000A8900016F000169DC0"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=LOCAL_TZ)
HEADER = ("qn", "st", "cn", "pw", "mn", "flag", "data_time", "raw", "wants_ack", "key")
DECODED = ("cp", "extra_cp", "version", "pnum", "pno", "sent_codes", "header")


def assert_same(raws: list[bytes]) -> list:
    """``check_packets(raws)`` agrees with ``parse_packet`` on every packet; returns its results."""
    got = check_packets(raws)
    assert len(got) == len(raws)
    for raw, res in zip(raws, got, strict=True):
        try:
            want = parse_packet(raw)
        except PacketError as exc:
            assert isinstance(res, PacketError), (raw, res)
            assert str(res) == str(exc)
            continue
        assert not isinstance(res, PacketError), (raw, res)
        for name in HEADER + DECODED:
            assert getattr(res, name) == getattr(want, name), (name, raw)
    return got


def test_crc_many_equals_appendix_a_on_the_standard_example_and_check_value():
    example = (b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
               b"Flag=5;CP=&&RtdInterval=30&&")
    assert crc16_hj212_many([b"123456789", example, b"A"]) == [0x2F80, 0x1C80, crc16_hj212(b"A")]
    assert crc16_hj212_many([]) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=1100), max_size=12))
def test_crc_many_equals_one_by_one(segments: list[bytes]):
    assert crc16_hj212_many(segments) == [crc16_hj212(s) for s in segments]


def test_crc_many_keeps_its_work_arrays_only_for_ordinary_batches():
    """Work arrays are reused between calls (smaller after larger must not see stale bytes) and a batch
    over the kept size gets its own."""
    from sensors.hj212 import crc

    big = [bytes([k % 251]) * 1024 for k in range(crc._SCRATCH_MAX // 1024 + 3)]
    small = [b"QN=1;ST=91", b"x" * 700, b"123456789"]
    for batch in (small, big, small, big[:5]):
        assert crc16_hj212_many(batch) == [crc16_hj212(s) for s in batch]
    assert len(crc._SCRATCH.dist) <= crc._SCRATCH_MAX


def test_ordinary_data_packets_are_lean_and_decode_like_parse_packet():
    cp = {"a21026": {"Rtd": 35.2, "ZsRtd": 40.1, "Flag": "N"}, "a34013": {"Avg": 8.1, "Flag": "N"}}
    raws = [build_packet(st="31", cn=cn, mn=MN, pw="100000", data_time=T0, cp=cp, qn=f"2024050108000000{i}",
                         version=version, ack=ack)[0][:-2]
            for i, (cn, version, ack) in enumerate([("2011", "2017", True), ("2051", "2025", False),
                                                     ("2061", "2005", True)])]
    got = assert_same(raws)
    assert all(isinstance(p, LeanPacket) for p in got)
    assert got[0].wants_ack and not got[1].wants_ack
    assert got[2].cp["a21026"] == {"Rtd": "35.2", "ZsRtd": "40.1", "Flag": "N"}   # 02 → a21026, decoded lazily
    assert got[2].sent_codes == {"a21026": "02", "a34013": "01"}


def seg(text: str) -> bytes:
    return frame_segment(text.encode())[:-2]


HEAD = "QN=20240501080000000;ST=31;CN=2011;PW=100000;MN=010000A8900016F000169DC0"


def test_refusals_have_parse_packets_reasons():
    good = f"{HEAD};Flag=5;CP=&&DataTime=20240501080000;a21026-Rtd=1.5,a21026-Flag=N&&"
    body = seg(good)
    raws = [
        body[:-4] + b"%04X" % crc16_modbus(good.encode()),            # MODBUS CRC: named as such
        body[:-4] + b"0000",                                          # wrong CRC
        body[:2] + b"0999" + body[6:],                                # length field off
        seg(good.replace("a21026-Flag", "a21026-Rtd")),               # duplicate CP key
        seg(good.replace("a21026-Rtd=1.5", "DataTime=20240501080000")),   # DataTime twice
        seg(good.replace("DataTime=20240501080000", "DataTime=19990101000000")),
        seg(good.replace("DataTime=20240501080000", "DataTime=20241301000000")),
        body[:40] + b"\xff" + body[41:],                              # not UTF-8
        seg(good.replace(";a21026-Rtd=1.5", ";a21026-Rtd")),          # KEY without =
        seg(f"{HEAD};Flag=1;CP=&&DataTime=20240501080000;B02-Avg=1,a00000-Avg=2&&"),  # 2005: both a00000
        seg(f"{HEAD};Flag=5;CP=&&DataTime=20240501080000;B02-Avg=1,a00000-Avg=2&&"),  # 2017: two codes
        seg(f"{HEAD};Flag=7;PNUM=2;PNO=1;CP=&&DataTime=20240501080000;a21026-Rtd=1&&"),  # split part
        seg(f"{HEAD};CP=&&DataTime=20240501080000;01-Rtd=1&&"),       # no Flag (2005 by its codes)
        seg(good.replace("ST=31", "ST=3\u00e91")),                     # not ASCII, valid UTF-8: parsed
        body,
    ]
    got = assert_same(raws)
    assert [isinstance(r, PacketError) for r in got] == [True] * 10 + [False] * 5
    assert "CRC-16/MODBUS" in str(got[0])
    assert str(got[9]) == "duplicate CP key a00000-Avg"


keys = st.sampled_from(["a21026-Rtd", "a21026-Flag", "a34013-Avg", "02-Rtd", "B02-Avg", "a00000-Avg",
                        "DataTime", "RtdInterval", "-x", "x-", "a-b-c", "k"])
vals = st.sampled_from(["1.5", "", "N", "20240501080000", "=", "a=b", "&", "x&&y"])
items = st.lists(st.lists(st.tuples(keys, vals).map("=".join), min_size=1, max_size=3).map(",".join),
                 max_size=5).map(";".join)
header_values = st.tuples(st.sampled_from(["20240501080000000", "", "1;2", "x"]),
                          st.sampled_from(["31", "", "3&1"]), st.sampled_from(["2011", "9014", "20x"]),
                          st.sampled_from(["100000", "", "p=w", "p&w"]), st.sampled_from([MN, "", "m=n"]),
                          st.sampled_from(["5", "1", "4", "9", "", "x", "1234567"]))
datatimes = st.sampled_from(["DataTime=20240501080000;", "DataTime=20240501080000", "DataTime=2024;",
                             "DataTime=20240230080000;", "", ";"])


@settings(max_examples=400, deadline=None)
@given(head=header_values, dt=datatimes, cp=items, framing=st.sampled_from(["ok", "crc", "len", "lower"]))
def test_lean_shape_variants_agree_with_parse_packet(head, dt, cp, framing):
    qn, st_, cn, pw, mn, flag = head
    text = f"QN={qn};ST={st_};CN={cn};PW={pw};MN={mn};Flag={flag};CP=&&{dt}{cp}&&".encode()
    if len(text) > 9999:
        return
    raw = frame_segment(text)[:-2]
    if framing == "crc":
        raw = raw[:-4] + b"%04X" % (int(raw[-4:], 16) ^ 1)
    elif framing == "len":
        raw = raw[:2] + b"%04d" % (len(text) + 1) + raw[6:]
    elif framing == "lower":
        raw = raw[:-4] + raw[-4:].lower()
    assert_same([raw, raw])


def test_a_devices_remembered_cp_layout_never_admits_what_parse_packet_refuses():
    """The remembered device pattern (per MN) only short-cuts a header and CP keys already seen valid:
    the same keys in a 2005 packet, where two codes map to one, a value with '=', a key repeated — each
    refused with parse_packet's reason, in every order; another PW or CN is read from the packet."""
    cp = "DataTime=20240501080000;B02-Avg=1,a00000-Avg=2"
    ok_2017 = seg(f"{HEAD};Flag=5;CP=&&{cp}&&")
    same_keys_2005 = seg(f"{HEAD};Flag=1;CP=&&{cp}&&")
    eq_in_value = seg(f"{HEAD};Flag=5;CP=&&{cp}=3&&")
    repeated = seg(f"{HEAD};Flag=5;CP=&&{cp};B02-Avg=4&&")
    other_sep = seg(f"{HEAD};Flag=5;CP=&&{cp.replace(',', ';')}&&")
    other_pw = seg(f"{HEAD.replace('PW=100000', 'PW=999999')};Flag=5;CP=&&{cp}&&")
    other_cn = seg(f"{HEAD.replace('CN=2011', 'CN=2051')};Flag=5;CP=&&{cp}&&")
    lean = (ok_2017, other_sep, other_pw, other_cn)
    for order in ([ok_2017, same_keys_2005, eq_in_value, repeated, other_sep],
                  [same_keys_2005, repeated, ok_2017, ok_2017, eq_in_value, same_keys_2005],
                  [ok_2017, other_pw, ok_2017, other_cn, other_cn, same_keys_2005, ok_2017]):
        got = assert_same(order)   # header values read from each packet, never from the remembered one
        assert [isinstance(r, LeanPacket) for r in got] == [r in lean for r in order]
