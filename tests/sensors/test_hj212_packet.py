"""Packet parsing and building (HJ 212-2017 §6.3–6.5, HJ/T 212-2005 code mapping, HJ 212-2025 flags)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.hj212 import (
    CODES_2005_TO_2017,
    MAX_SEGMENT,
    UNITS,
    PacketError,
    Reassembler,
    build_packet,
    frame_segment,
    parse_packet,
)
from sensors.timezone import LOCAL_TZ

EXAMPLE = (b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
           b"CP=&&RtdInterval=30&&1C80\r\n")
MN = "010000A8900016F000169DC0"
T0 = datetime(2016, 8, 1, 8, 58, 57, tzinfo=LOCAL_TZ)


def seg(text: str) -> bytes:
    return frame_segment(text.encode())


def test_standard_example_decodes():
    p = parse_packet(EXAMPLE)
    assert (p.qn, p.st, p.cn, p.pw, p.mn) == ("20160801085857223", "32", "1062", "100000", MN)
    assert p.flag == 5 and p.wants_ack and not p.is_split
    assert p.version == "2017"
    assert p.extra_cp == {"RtdInterval": "30"}
    assert p.cp == {} and p.data_time is None
    assert p.raw == EXAMPLE[:-2]


def test_lower_case_crc_and_bare_newline_accepted():
    assert parse_packet(EXAMPLE[:-6] + b"1c80\n").qn == "20160801085857223"
    assert parse_packet(EXAMPLE[:-2]).cn == "1062"  # no tail (a line read from a file)


def test_modbus_crc_rejected_as_bad_crc():
    modbus = frame_segment(EXAMPLE[6:-6], crc_mode="modbus")
    with pytest.raises(PacketError, match=r"^bad CRC: expected 1C80, got 0759 \(the sender used CRC-16/MODBUS"):
        parse_packet(modbus)


def test_corrupted_byte_is_bad_crc():
    with pytest.raises(PacketError, match="bad CRC: expected"):
        parse_packet(EXAMPLE.replace(b"RtdInterval=30", b"RtdInterval=31"))


@pytest.mark.parametrize("raw, reason", [
    (b"#0101" + EXAMPLE[6:], "bad header"),
    (b"##01a1" + EXAMPLE[6:], "length field is not 4 digits: b'01a1'"),
    (b"##0100" + EXAMPLE[6:], "length mismatch: LLLL=0100 but the data segment is 101 bytes"),
    (b"##0102" + EXAMPLE[6:], "length mismatch: LLLL=0102 but the data segment is 101 bytes"),
    (EXAMPLE[:-6] + b"1C8G\r\n", "CRC field is not 4 hex digits"),
    (b"##", "length field is not 4 digits"),
])
def test_framing_errors(raw: bytes, reason: str):
    with pytest.raises(PacketError) as exc:
        parse_packet(raw)
    assert str(exc.value).startswith(reason)


def test_length_counts_utf8_bytes_not_characters():
    text = f"QN=1;ST=32;CN=1062;PW=1;MN={MN};Flag=4;CP=&&Info=江口&&"
    good = seg(text)
    assert parse_packet(good).extra_cp["Info"] == "江口"
    wrong = b"##%04d" % len(text) + good[6:]  # character count: 4 less than the byte count
    with pytest.raises(PacketError, match="length mismatch"):
        parse_packet(wrong)


def test_segment_over_1024_bytes_rejected():
    text = f"QN=1;ST=32;CN=1062;PW=1;MN={MN};Flag=4;CP=&&Info={'x' * 1000}&&"
    with pytest.raises(PacketError, match=r"data segment of \d+ bytes exceeds 1024"):
        parse_packet(seg(text))


def test_missing_datatime_rejected_for_data_commands():
    with pytest.raises(PacketError, match="missing DataTime in CP of CN=2011"):
        parse_packet(seg(f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=5;CP=&&w01018-Rtd=12.1,w01018-Flag=N&&"))
    # pollutant values under any command need DataTime too
    with pytest.raises(PacketError, match="missing DataTime in CP of CN=3020"):
        parse_packet(seg(f"QN=1;ST=32;CN=3020;PW=1;MN={MN};Flag=5;CP=&&i12001-Info=1&&"))


@pytest.mark.parametrize("cn, cp", [("2011", ""), ("2051", "BeginTime=20160801000000,EndTime=20160801010000"),
                                    ("2061", "BeginTime=20160801000000,EndTime=20160802000000"), ("2031", "")])
def test_platform_request_forms_of_data_commands_decode_to_no_readings(cn: str, cp: str):
    """HJ 212-2017: the data commands are also sent by the platform as requests (CP=&&&& or
    BeginTime/EndTime, no DataTime). Valid packets without values: no error, no readings."""
    from sensors.hj212 import packet_values
    from sensors.hj212.readings import packets_to_readings

    p = parse_packet(seg(f"QN=20160801085857223;ST=32;CN={cn};PW=100000;MN={MN};Flag=5;CP=&&{cp}&&"))
    assert p.data_time is None and p.cp == {} and list(packet_values(p)) == []
    frame, rejected = packets_to_readings([p], registry=type("R", (), {"by_mn": {}})(), batch="b")
    assert frame.empty and rejected == []


def test_datatime_outside_2000_to_2262_rejected():
    """A DataTime of 2999-12-31 used to pass the decoder and crash ingest (OutOfBoundsDatetime) forever."""
    with pytest.raises(PacketError, match="DataTime 2999-12-31 23:59:59 is after 2262-04-10"):
        parse_packet(seg(f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=5;CP=&&DataTime=29991231235959;w01018-Rtd=1&&"))
    with pytest.raises(PacketError, match="DataTime 1999-12-31 23:59:59 is before 2000-01-01"):
        parse_packet(seg(f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=5;CP=&&DataTime=19991231235959;w01018-Rtd=1&&"))


def test_version_without_flag_follows_the_codes_the_packet_shows():
    """No Flag used to mean "2005" even for 2017 codes; now the codes decide."""
    p17 = parse_packet(seg(f"QN=1;ST=32;CN=2011;PW=1;MN={MN};CP=&&DataTime=20160801085857;w01018-Rtd=1&&"))
    assert (p17.version, list(p17.cp), p17.sent_codes) == ("2017", ["w01018"], {})
    p05 = parse_packet(seg("ST=32;CN=2011;PW=1;MN=88888880000001;CP=&&DataTime=20160801085857;011-Rtd=1&&"))
    assert (p05.version, list(p05.cp), p05.sent_codes) == ("2005", ["w01018"], {"w01018": "011"})


def test_non_standard_fields_are_reported_not_dropped():
    from sensors.hj212.packet import nonstandard_fields

    p = parse_packet(seg(f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=5;Vendor=X;CP=&&DataTime=20160801085857;"
                         "w01018-Rtd=1,w01018-Flag=N,w01018-Foo=3;Battery=87&&"))
    assert nonstandard_fields(p) == ["header Vendor", "CP Battery", "CP w01018-Foo"]
    assert p.header["Vendor"] == "X" and p.extra_cp["Battery"] == "87" and p.cp["w01018"]["Foo"] == "3"


@pytest.mark.parametrize("dt", ["2016080108585", "20161301085857", "2016-08-01 08:58", "20160230120000"])
def test_bad_datatime_rejected(dt: str):
    with pytest.raises(PacketError, match=f"bad DataTime '{dt}'"):
        parse_packet(seg(f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=5;CP=&&DataTime={dt};w01018-Rtd=1&&"))


@pytest.mark.parametrize("text, reason", [
    (f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=5", "missing CP=&&"),
    (f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=5;CP=&&DataTime=20160801085857", "malformed CP: no closing"),
    (f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=5;CP=&&DataTime=20160801085857;w01018-Rtd&&",
     "malformed KEY=VALUE in CP: 'w01018-Rtd'"),
    (f"QN=1;ST=32;CN=2011;PW;MN={MN};Flag=5;CP=&&&&", "malformed KEY=VALUE in header: 'PW'"),
    (f"QN=1;ST=32;CN=2011;MN={MN};Flag=5;CP=&&&&", "missing PW"),
    (f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=x;CP=&&&&", "Flag is not a decimal integer"),
    (f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=7;PNUM=2;PNO=3;CP=&&&&", "PNO=3 outside 1..PNUM=2"),
])
def test_malformed_segments(text: str, reason: str):
    with pytest.raises(PacketError) as exc:
        parse_packet(seg(text))
    assert str(exc.value).startswith(reason)


def test_data_packet_fields_and_local_datatime():
    p = parse_packet(seg(f"QN=20160801085857223;ST=31;CN=2011;PW=100000;MN={MN};Flag=5;CP=&&"
                         "DataTime=20160801085857;a21026-Rtd=35.2,a21026-ZsRtd=40.1,a21026-Flag=N;"
                         "a19001-Rtd=9.8,a19001-Flag=M&&"))
    assert p.data_time == T0 and p.data_time.utcoffset() == timedelta(hours=8)
    assert p.cp == {"a21026": {"Rtd": "35.2", "ZsRtd": "40.1", "Flag": "N"},
                    "a19001": {"Rtd": "9.8", "Flag": "M"}}


def test_unknown_st_cn_and_data_flags_kept_verbatim():
    p = parse_packet(seg(f"QN=1;ST=77;CN=4242;PW=1;MN={MN};Flag=4;CP=&&DataTime=20160801085857;"
                         "x99999-Rtd=1,x99999-Flag=Q&&"))
    assert (p.st, p.cn, p.cp["x99999"]["Flag"]) == ("77", "4242", "Q")


def test_2005_packet_codes_mapped_and_original_kept():
    p = parse_packet(seg("ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20160801085857;"
                         "011-Rtd=45.2,011-Flag=N;060-Rtd=3.1;001-Rtd=7.2;B01-Rtd=2.5;02-Rtd=30;S01-Rtd=9&&"))
    assert p.version == "2005" and p.flag is None and p.qn is None and not p.wants_ack
    assert set(p.cp) == {"w01018", "w21003", "w01001", "w00000", "a21026", "a19001"}
    assert p.cp["w01018"] == {"Rtd": "45.2", "Flag": "N"}
    assert p.sent_codes == {"w01018": "011", "w21003": "060", "w01001": "001", "w00000": "B01",
                            "a21026": "02", "a19001": "S01"}


def test_2005_table_is_complete():
    assert CODES_2005_TO_2017 == {
        "011": "w01018", "060": "w21003", "101": "w21011", "065": "w21001", "001": "w01001",
        "B01": "w00000", "010": "w01017", "003": "w01012", "02": "a21026", "03": "a21002",
        "01": "a34013", "04": "a21005", "B02": "a00000", "S01": "a19001", "S02": "a01011",
        "S03": "a01012", "S08": "a01013", "S05": "a01014"}


def test_2017_packet_codes_not_mapped():
    # "001" is an old pH code, but in a 2017 packet it is kept as sent
    p = parse_packet(seg(f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=4;CP=&&DataTime=20160801085857;001-Rtd=7&&"))
    assert set(p.cp) == {"001"} and p.sent_codes == {}


@pytest.mark.parametrize("flag, version, ack", [(4, "2017", False), (5, "2017", True), (8, "2025", False),
                                                (9, "2025", True), (0, "2005", False), (1, "2005", True),
                                                (13, "V3", True)])
def test_version_bits(flag: int, version: str, ack: bool):
    p = parse_packet(seg(f"QN=1;ST=32;CN=1062;PW=1;MN={MN};Flag={flag};CP=&&RtdInterval=30&&"))
    assert (p.version, p.wants_ack) == (version, ack)


def test_build_reproduces_standard_example():
    out = build_packet(st="32", cn="1062", mn=MN, pw="100000", data_time=None, cp={},
                       extra_cp={"RtdInterval": "30"}, qn="20160801085857223", ack=True)
    assert out == [EXAMPLE]


def test_build_refuses_values_that_are_not_plain_decimals():
    for bad in (float("nan"), float("inf"), 1e-200):
        with pytest.raises(ValueError):
            build_packet(st="32", cn="2011", mn=MN, pw="1", data_time=T0, cp={"w01018": {"Rtd": bad}})


def test_build_2025_and_2005_flags_and_codes():
    p25 = parse_packet(build_packet(st="32", cn="2011", mn=MN, pw="1", data_time=T0,
                                    cp={"w01018": {"Rtd": 1}}, version="2025", ack=True)[0])
    assert (p25.flag, p25.version) == (9, "2025")
    raw05 = build_packet(st="32", cn="2011", mn=MN, pw="1", data_time=T0,
                         cp={"w01018": {"Rtd": 1}, "w01010": {"Rtd": 20}}, version="2005")[0]
    assert b"011-Rtd=1" in raw05 and b"w01010-Rtd=20" in raw05 and b"Flag=" not in raw05
    p05 = parse_packet(raw05)
    assert set(p05.cp) == {"w01018", "w01010"} and p05.version == "2005"


def _many_items(n: int) -> dict:
    return {f"a{i:05d}": {"Rtd": 1234.5678 + i, "ZsRtd": 0.001 * i, "Flag": "N"} for i in range(n)}


def test_split_packets_reassembled():
    parts = build_packet(st="31", cn="2051", mn=MN, pw="100000", data_time=T0, cp=_many_items(60),
                         qn="20160801085857001", ack=True)
    assert len(parts) > 1
    decoded = [parse_packet(p) for p in parts]
    assert all(len(p) - 12 <= MAX_SEGMENT for p in parts)
    assert [(d.pnum, d.pno, d.is_split, d.wants_ack) for d in decoded] == \
        [(len(parts), i, True, True) for i in range(1, len(parts) + 1)]
    asm = Reassembler()
    out = [asm.feed(d) for d in reversed(decoded)]  # arrival order does not matter
    assert out[:-1] == [None] * (len(parts) - 1)
    whole = out[-1]
    assert len(whole.cp) == 60 and whole.cp["a00059"]["Rtd"] == "1293.5678"
    assert whole.data_time == T0 and len(whole.parts) == len(parts) and len(asm) == 0


def test_incomplete_split_set_times_out_with_reason():
    now = [0.0]
    parts = build_packet(st="31", cn="2051", mn=MN, pw="1", data_time=T0, cp=_many_items(60), qn="Q1")
    asm = Reassembler(timeout_s=60, clock=lambda: now[0])
    assert asm.feed(parse_packet(parts[0])) is None
    now[0] = 59.0
    assert asm.expire() == []
    now[0] = 61.0
    (inc,) = asm.expire()
    assert inc.reason == f"incomplete split packet MN={MN} QN=Q1: got PNO 1 of PNUM={len(parts)} after 60 s"
    assert inc.parts == (parts[0][:-2],)
    assert len(asm) == 0


codes = st.sampled_from(sorted(UNITS))
fields = st.sampled_from(["Rtd", "Avg", "Min", "Max", "Cou", "ZsAvg"])
values = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12).map(lambda v: round(v, 6))
items = st.dictionaries(codes, st.dictionaries(fields, values, min_size=1, max_size=4), min_size=0, max_size=40)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=LOCAL_TZ))


@settings(max_examples=60, deadline=None)
@given(cp=items, t=times, version=st.sampled_from(["2005", "2017", "2025"]), ack=st.booleans(),
       cn=st.sampled_from(["2011", "2051", "2061", "2031"]))
def test_build_parse_round_trip(cp, t, version, ack, cn):
    parts = build_packet(st="31", cn=cn, mn=MN, pw="123456", data_time=t, cp=cp, qn="20200101000000000",
                         version=version, ack=ack)
    asm = Reassembler()
    out = [asm.feed(parse_packet(p)) for p in parts]
    whole = out[-1]
    assert whole is not None and all(o is None for o in out[:-1])
    # no Flag (2005): the version is what the codes show; 2017 codes without a 2005 equivalent say 2017
    shows_2005 = any(c in CODES_2005_TO_2017.values() for c in cp)
    shows_2017 = any(len(c) == 6 and c[0] in "aw" and c[1:].isdigit() for c in cp)
    no_flag = version == "2005" and not ack
    assert whole.version == (version if not no_flag or shows_2005 or not shows_2017 else "2017")
    assert whole.data_time == t and whole.cn == cn
    assert whole.wants_ack == ack or (version == "2005" and not ack)
    assert set(whole.cp) == set(cp)
    for code, flds in cp.items():
        got = whole.cp[code]
        assert set(got) == set(flds)
        for f, v in flds.items():
            assert float(got[f]) == v  # shortest positional repr round-trips exactly


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_packet_error(raw: bytes):
    try:
        parse_packet(raw)
    except PacketError:
        pass


header_keys = st.sampled_from(["QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO", "CP", "", "X"])
cp_text = st.lists(st.sampled_from(list("a0-=,;&Rtd²٣ ") + ["DataTime=", "Flag=", "2016080108585"]),
                   max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(header_keys, st.text(max_size=8)), max_size=8), cp=cp_text)
def test_framed_nonsense_with_valid_crc_only_raises_packet_error(pairs, cp):
    text = ";".join(f"{k}={v}" for k, v in pairs) + f";CP=&&{cp}&&"
    raw = text.encode()
    if len(raw) > 9999:
        return
    try:
        parse_packet(frame_segment(raw))
    except PacketError:
        pass
