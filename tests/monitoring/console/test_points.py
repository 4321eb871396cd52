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
    assert "二氧化硫" in html and "超标" in html and "550" in html and "provisional" in html
    assert f"MN={point.mn}" in html and "OTHERDEVICE" not in html
    assert "bad CRC" in html and "spool/jiangkou/1.ready:7" in html
    assert point.pw not in html and "PW=******" in html
    svg = client.get(f"/console/points/{point.id}/chart.svg?parameter=a21026&check=concentration&days=2")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "550" in svg.text
    assert client.get("/console/points/NOPE").status_code == 404
