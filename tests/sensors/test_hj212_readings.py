"""HJ 212 packets → canonical readings (sensors.schema contract)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from monitoring.registry import Registry, parse_registry
from sensors.hj212 import build_packet, decode_lines, frame_segment, parse_packet
from sensors.hj212.readings import packets_to_readings
from sensors.schema import READINGS_COLUMNS
from sensors.timezone import LOCAL_TZ

DATA = Path(__file__).parent / "data"
STACK_MN, STACK_PW = "010000A8900016F000169DC0", "100000"
T0 = datetime(2016, 8, 1, 8, 58, 57, tzinfo=LOCAL_TZ)


@pytest.fixture(scope="module")
def small_registry() -> Registry:
    return parse_registry(yaml.safe_load((DATA / "registry_small.yaml").read_text(encoding="utf-8")),
                          source="registry_small.yaml")


def pkt(cn: str, cp: dict, mn: str = STACK_MN, **kw):
    return parse_packet(build_packet(st="31", cn=cn, mn=mn, pw="x", data_time=T0, cp=cp, **kw)[0])


def test_readings_dtypes_utc_time_and_mapping(small_registry):
    packets = [pkt("2011", {"a21026": {"Rtd": 35.2, "ZsRtd": 40.5, "Flag": "N"},
                            "a19001": {"Rtd": "9.8", "Flag": "M"}, "a00000": {"Rtd": 12}}),
               pkt("2061", {"a21026": {"Avg": 30.1, "Min": 20, "Max": 44, "Cou": 1.25}})]
    df, rejected = packets_to_readings(packets, small_registry, batch="b1")
    assert rejected == []
    assert dict(df.dtypes.astype(str)) == READINGS_COLUMNS
    assert list(df.columns) == list(READINGS_COLUMNS)
    assert (df["time"] == pd.Timestamp("2016-08-01T00:58:57Z")).all()
    rows = {(r.parameter, r.statistic, r.period): (r.value, r.unit, r.flag) for r in df.itertuples()}
    assert rows == {
        ("a21026", "rtd", "rtd"): (35.2, "mg/m3", "N"),
        ("a21026", "zsrtd", "rtd"): (40.5, "mg/m3", "N"),
        ("a19001", "rtd", "rtd"): (9.8, "%", "M"),
        ("a00000", "rtd", "rtd"): (12.0, "m3/s", "N"),   # no -Flag → N
        ("a21026", "avg", "1h"): (30.1, "mg/m3", "N"),
        ("a21026", "min", "1h"): (20.0, "mg/m3", "N"),
        ("a21026", "max", "1h"): (44.0, "mg/m3", "N"),
        ("a21026", "cou", "1h"): (1.25, "kg", "N"),
    }
    assert set(df["point"]) == {"JK-001-DA001"} and set(df["zone"]) == {"jiangkou"}
    assert set(df["enterprise"]) == {"JK-001"} and set(df["kind"]) == {"stack"}
    assert set(df["source"]) == {"hj212"} and set(df["batch"]) == {"b1"}
    assert df["qualifier"].isna().all()


def test_2005_water_packet_to_readings(small_registry):
    raw = frame_segment(b"ST=32;CN=2061;PW=123456;MN=88888880000001;CP=&&DataTime=20160801090000;"
                        b"011-Avg=45.2,011-Flag=N;060-Avg=3.1;001-Avg=7.2;B01-Avg=2.5,B01-Cou=9000&&")
    df, rejected = packets_to_readings([parse_packet(raw)], small_registry, batch="b")
    assert rejected == []
    got = {(r.parameter, r.statistic): (r.value, r.unit) for r in df.itertuples()}
    assert got == {("w01018", "avg"): (45.2, "mg/L"), ("w21003", "avg"): (3.1, "mg/L"),
                   ("w01001", "avg"): (7.2, "pH"), ("w00000", "avg"): (2.5, "L/s"),
                   ("w00000", "cou"): (9000.0, "m3")}
    assert (df["time"] == pd.Timestamp("2016-08-01T01:00:00Z")).all()
    assert set(df["point"]) == {"JK-001-DW001"} and set(df["kind"]) == {"wastewater"}


def test_noise_daily_values(small_registry):
    p = pkt("2031", {"Leq": {"DayData": 58.3, "NightData": 47.1}}, mn="NX0010000000000000N00001")
    df, rejected = packets_to_readings([p], small_registry, batch="b")
    assert rejected == []
    assert sorted(zip(df["statistic"], df["value"], df["unit"], df["period"])) == [
        ("daydata", 58.3, "dB(A)", "1d"), ("nightdata", 47.1, "dB(A)", "1d")]


def test_rejections_have_reasons_and_rest_goes_on(small_registry):
    packets = [pkt("2011", {"a21026": {"Rtd": "abc", "Flag": "N"}, "a21002": {"Rtd": 80}}),
               pkt("2011", {"a21026": {"Rtd": 1}}, mn="UNKNOWN000000000000000000"),
               pkt("2011", {"zz9999": {"Rtd": 1}}),
               pkt("3020", {"a21026": {"Rtd": 1}}),
               pkt("1062", {}, extra_cp={"RtdInterval": "30"})]
    df, rejected = packets_to_readings(packets, small_registry, batch="b")
    assert list(zip(df["parameter"], df["value"])) == [("a21002", 80.0)]
    reasons = [(r.index, r.reason) for r in rejected]
    assert reasons == [
        (0, "JK-001-DA001: a21026-rtd: non-numeric value 'abc'"),
        (1, "unknown MN UNKNOWN000000000000000000 (not an online point of the registry)"),
        (2, f"MN {STACK_MN}: zz9999-Rtd: unknown pollutant code or no canonical unit for this field"),
        (3, "CN=3020 carries no periodic values (expected one of 2011, 2051, 2061, 2031)"),
    ]
    assert all(r.raw.startswith(b"##") for r in rejected)


def test_resent_packet_merged_and_corrected_value_supersedes(small_registry):
    a = pkt("2011", {"a21026": {"Rtd": 35.2}}, qn="1")
    b = pkt("2011", {"a21026": {"Rtd": 35.2}}, qn="2")
    c = pkt("2011", {"a21026": {"Rtd": 36.0}}, qn="3")
    df, rejected = packets_to_readings([a, b], small_registry, batch="b")
    assert len(df) == 1 and rejected == []
    df, rejected = packets_to_readings([a, c], small_registry, batch="b")
    assert list(df["value"]) == [36.0]
    assert [r.index for r in rejected] == [0] and "superseded" in rejected[0].reason


def test_decode_lines_reports_line_numbers():
    good = build_packet(st="31", cn="2011", mn=STACK_MN, pw=STACK_PW, data_time=T0, cp={"a21026": {"Rtd": 1}})
    lines = [good[0], b"\r\n", b"garbage\n", good[0].replace(b"Rtd=1", b"Rtd=2")]
    out = list(decode_lines(lines))
    assert [(n, type(x).__name__) for n, x in out] == [(1, "Packet"), (3, "Rejected"), (4, "Rejected")]
    assert out[1][1].reason == "bad header: expected '##', got b'garbage'"
    assert out[2][1].reason.startswith("bad CRC")


def test_spool_lines_to_readings_joins_split_parts_and_locates_rejects(small_registry, tmp_path):
    from sensors.hj212.readings import spool_lines_to_readings
    from sensors.spool import SegmentWriter, Spool

    many = {f"x{i:05d}": {"Rtd": i} for i in range(70)} | {"w01018": {"Rtd": 50.5, "Flag": "N"}}
    parts = build_packet(st="32", cn="2011", mn="88888880000001", pw="123456", data_time=T0, cp=many, qn="S1")
    orphan = build_packet(st="32", cn="2011", mn="88888880000001", pw="123456", data_time=T0, cp=many, qn="S2")
    assert len(parts) > 1
    w = SegmentWriter(tmp_path / "spool")
    w.append("jiangkou", [parts[0][:-2], b"##0004abcdFFFF"])
    w.rotate()
    w.append("jiangkou", [p[:-2] for p in parts[1:]] + [orphan[0][:-2]])
    w.rotate()
    spool = Spool(tmp_path / "spool", quarantine_dir=tmp_path / "q")
    claimed = spool.claim("jiangkou", "b9")
    df, rejected = spool_lines_to_readings(spool.read_segments(claimed), small_registry, "b9")
    assert list(zip(df["parameter"], df["value"], df["point"])) == [("w01018", 50.5, "JK-001-DW001")]
    reasons = [r.reason for r in rejected]
    seg1, seg2 = claimed[0].name, claimed[1].name
    crc = [r for r in reasons if "bad CRC" in r]
    assert len(crc) == 1 and crc[0].startswith(f"{seg1}: line 2: bad CRC: expected ")
    inc = [r for r in reasons if "incomplete" in r]
    assert inc == [(f"{seg2}: line {len(parts)}: incomplete split packet MN=88888880000001 QN=S2: got PNO 1 "
                    f"of PNUM={len(orphan)} at end of input")]
    # the 70 made-up codes x00000..x00069 have no canonical unit: each rejected, located at the first part
    unknown = [r for r in reasons if "no canonical unit" in r]
    assert len(unknown) == 70 and all(r.startswith(f"{seg1}: line 1: MN 88888880000001: x000") for r in unknown)
    assert len(reasons) == 72
