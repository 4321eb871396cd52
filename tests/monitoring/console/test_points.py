"""The point page: windows against the limit, capture, the last packets (password masked), quarantine."""

from __future__ import annotations

import json

from tests.monitoring.console.conftest import login, make_incident


def test_point_page_shows_windows_packets_and_quarantine(client, console_settings, registry):
    point = registry.point("JK-002-DA001")
    make_incident(console_settings, point=point.id)
    spool = console_settings.spool_dir / "jiangkou"
    spool.mkdir(parents=True, exist_ok=True)
    packet = (f"##0101QN=20261128080000000;ST=31;CN=2011;PW={point.pw};MN={point.mn};Flag=5;"
              "CP=&&DataTime=20261128080000;a21026-Rtd=660.0,a21026-Flag=N&&4B37")
    (spool / "1.ready").write_text("##0099QN=x;MN=OTHERDEVICE;&&&&0000\n" + packet + "\n", encoding="utf-8")
    qdir = console_settings.quarantine_dir / "jiangkou"
    qdir.mkdir(parents=True, exist_ok=True)
    (qdir / "b1.jsonl").write_text(json.dumps({"batch": "b1", "origin": "spool/jiangkou/1.ready:7", "stage": "decode",
                                               "reason": "bad CRC: expected 1C80, got 4B37",
                                               "raw": packet}, ensure_ascii=False) + "\n", encoding="utf-8")
    login(client, "insp")
    r = client.get(f"/console/points/{point.id}?days=2")
    assert r.status_code == 200
    html = r.text
    assert "二氧化硫" in html and "超标" in html and "550" in html and "暂定值" in html and "排放浓度" in html
    assert " · 有组织排放口 · " in html                   # the point's kind, as people read it
    assert f"MN={point.mn}" in html and "OTHERDEVICE" not in html
    assert "bad CRC" in html and "spool/jiangkou/1.ready:7" in html
    assert point.pw not in html and "PW=******" in html
    svg = client.get(f"/console/points/{point.id}/chart.svg?parameter=a21026&check=concentration&days=2")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "550" in svg.text
    assert "排放浓度（限值来源：暂定值）" in svg.text and "provisional" not in svg.text   # the chart's title
    assert client.get("/console/points/NOPE").status_code == 404


def test_point_page_lists_each_reading_of_the_last_packets_with_its_hj212_flag(client, console_settings, registry):
    """HJ 212-2017 表6 data flags per reading: N normal and T above range count as valid evidence; D fault,
    C calibration, M maintenance … do not; a reading without -Flag is N. A line that fails the codec
    (here a wrong CRC, Appendix A) is listed with the codec's reason."""
    from datetime import datetime

    from monitoring.config import LOCAL_TZ
    from sensors.hj212.packet import build_packet

    point = registry.point("JK-002-DA001")
    t = datetime(2026, 11, 28, 9, 0, tzinfo=LOCAL_TZ)
    good = build_packet(st="31", cn="2051", mn=point.mn, pw=point.pw, data_time=t, cp={
        "a34013": {"Avg": 12.5, "Flag": "N"}, "a21026": {"Avg": 3.0, "Flag": "D"},
        "a21002": {"Avg": 40.0, "Flag": "C"}, "a00000": {"Avg": 8.1}, "a24088": {"Avg": 99.0, "Flag": "T"}})
    assert len(good) == 1
    bad = good[0].decode().strip()[:-4] + "0000"
    spool = console_settings.spool_dir / "jiangkou"
    spool.mkdir(parents=True, exist_ok=True)
    (spool / "2.ready").write_text(bad + "\n" + good[0].decode(), encoding="utf-8")
    login(client, "lead")
    html = client.get(f"/console/points/{point.id}").text
    table = html.split('id="packets"', 1)[1].split("</table>", 1)[0]
    assert "2026-11-28 09:00:00" in table and "2051" in table
    for flag, name, cls in (("N", "正常", "ok"), ("D", "故障", "bad"), ("C", "校准", "bad"), ("T", "超测定上限", "warn")):
        assert f'class="flag flag-{cls}" title="{"计入评价" if cls != "bad" else "不计入有效数据"}">{flag} {name}' in table, flag
    assert table.count("N 正常") == 2                    # a00000 without -Flag is N
    assert "无法解析" in table and "bad CRC" in table
    assert point.pw not in html and "PW=******" in html
