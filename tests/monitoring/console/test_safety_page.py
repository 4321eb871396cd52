"""The console's safety alarm page: list, detail with threshold provenance and messages, acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from monitoring.registry import load_registry
from monitoring.safety.batch import book_from_settings
from tests.monitoring.console.conftest import login, post


def _alarm(console_settings) -> int:
    book = book_from_settings(load_registry(console_settings.registry_path), console_settings, deliver=False)
    book.apply(pd.DataFrame({"point": ["JK-WWTP-AQ02"] * 2, "parameter": ["a19001"] * 2, "value": [20.9, 18.1],
                             "flag": ["N", "N"],
                             "time": [datetime(2026, 11, 20, 2, tzinfo=UTC), datetime(2026, 11, 20, 2, 0, 10, tzinfo=UTC)]}),
               detected_by="fast")
    return book.alarms()[0].id


def test_safety_list_detail_and_acknowledge(client, console_settings):
    alarm_id = _alarm(console_settings)
    login(client, "op")
    page = client.get("/console/safety")
    assert page.status_code == 200
    assert "二级报警" in page.text and "江口镇污水处理厂" in page.text and "格栅井（有限空间）" in page.text
    assert "19.5–23.5 %（待核实）" in page.text
    detail = client.get(f"/console/safety/{alarm_id}")
    assert detail.status_code == 200 and "有限空间作业氧含量要求" in detail.text and "2026-11-20 10:00" in detail.text
    assert "确认报警" in detail.text
    r = post(client, f"/console/safety/{alarm_id}/ack", {})
    assert r.status_code in (200, 303)
    after = client.get(f"/console/safety/{alarm_id}")
    assert "确认报警" not in after.text and "op" in after.text
    assert client.get("/console/safety/99999").status_code == 404
