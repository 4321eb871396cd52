"""The handling workflow 报警 → 认领 → 核实 → 处置 → 反馈 → 办结 on a real SQLite store, and through the pages."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from monitoring.casework import MAX_ESCALATION, SLA, CaseError, Casework
from monitoring.incidents import IncidentManager
from tests.monitoring.console.conftest import login, make_incident, post

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)       # 08:00 in Yunyang
H = timedelta(hours=1)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%test\n"


@pytest.fixture
def cw(console_settings) -> Casework:
    return Casework(console_settings.sql_url, console_settings.evidence_dir)


@pytest.fixture
def inc(console_settings) -> int:
    return make_incident(console_settings, start=T0, now=T0 + 3 * H)


def run_to_feedback(cw: Casework, inc: int, t: datetime = T0 + 4 * H) -> datetime:
    cw.claim(inc, by="op", now=t)
    cw.verify(inc, by="op", finding="confirmed", note="在线数据与工况记录一致，非设备故障", now=t + H)
    cw.decide(inc, by="op", reason="rectify", due_at=t + 72 * H, note="限期三日整改", now=t + 2 * H)
    cw.feedback(inc, by="op", note="企业已更换活性炭并提交整改报告", now=t + 30 * H)
    return t + 30 * H


def test_stages_in_order_only(cw, inc):
    assert cw.case(inc).stage == "alarm"
    with pytest.raises(CaseError, match="认领"):
        cw.verify(inc, by="op", finding="confirmed", note="x", now=T0 + 4 * H)
    cw.claim(inc, by="op", assignee="zhang", now=T0 + 4 * H)
    with pytest.raises(CaseError, match="报警"):
        cw.claim(inc, by="other", now=T0 + 4 * H)
    with pytest.raises(CaseError, match="unknown finding"):
        cw.verify(inc, by="op", finding="maybe", note="x", now=T0 + 5 * H)
    with pytest.raises(CaseError, match="notes"):
        cw.verify(inc, by="op", finding="confirmed", note="  ", now=T0 + 5 * H)
    cw.verify(inc, by="op", finding="suspect_false", note="同时段校准记录", now=T0 + 5 * H)
    with pytest.raises(CaseError, match="unknown reason"):
        cw.decide(inc, by="op", reason="ignore", due_at=T0 + 48 * H, now=T0 + 6 * H)
    with pytest.raises(CaseError, match="future"):
        cw.decide(inc, by="op", reason="false_calibration", due_at=T0 + 5 * H, now=T0 + 6 * H)
    case = cw.decide(inc, by="op", reason="false_calibration", due_at=T0 + 48 * H, now=T0 + 6 * H)
    assert case.stage == "decided" and case.reason_zh.startswith("误报") and case.sla_due_at == T0 + 48 * H
    assert case.assignee == "zhang"


def test_claim_acknowledges_the_incident_and_closing_needs_evidence(cw, inc, console_settings):
    m = IncidentManager(console_settings.sql_url)
    t = run_to_feedback(cw, inc)
    assert m.get(inc).status == "acknowledged" and m.get(inc).acknowledged_by == "op"
    with pytest.raises(CaseError, match="evidence"):
        cw.close(inc, by="op", note="已整改", now=t + H)
    cw.add_evidence(inc, by="op", note="整改前后照片", filename="整改 照片.png", data=PNG, now=t + H)
    cw.add_evidence(inc, by="op", note="仅文字说明，无附件", now=t + H)
    case = cw.close(inc, by="op", note="整改到位，办结", now=t + 2 * H)
    assert case.stage == "closed"
    got = m.get(inc)
    assert got.status == "closed" and got.closed_by == "op" and "整改通知" in got.close_reason
    with pytest.raises(CaseError, match="办结"):
        cw.add_evidence(inc, by="op", note="late", now=t + 3 * H)
    trail = [(s.action, s.actor) for s in cw.steps(inc)]
    assert trail == [("claimed", "op"), ("verified", "op"), ("decided", "op"), ("feedback", "op"),
                     ("evidence", "op"), ("evidence", "op"), ("closed", "op")]
    assert all(s.at.tzinfo is not None for s in cw.steps(inc))


def test_attachments_are_checked_by_content_and_stored_private(cw, inc, console_settings):
    cw.claim(inc, by="op", now=T0 + 4 * H)
    with pytest.raises(CaseError, match="not a JPEG, PNG or PDF"):
        cw.add_evidence(inc, by="op", note="x", filename="photo.png", data=b"<script>alert(1)</script>")
    ev = cw.add_evidence(inc, by="op", note="整改通知书", filename="../../etc/通知书.pdf", data=PDF)
    assert ev.content_type == "application/pdf" and ev.filename == "通知书.pdf"
    path, _ = cw.evidence_file(inc, ev.id)
    assert path.read_bytes() == PDF and console_settings.evidence_dir in path.parents
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_overdue_stages_escalate_once_per_period(cw, inc):
    cw.claim(inc, by="op", now=T0 + 4 * H)
    due = T0 + 4 * H + SLA["claimed"]
    assert cw.escalate_overdue(due - H) == []
    assert cw.escalate_overdue(due + H) == [(inc, "claimed", 1)]
    assert cw.escalate_overdue(due + 2 * H) == []                       # idempotent
    assert cw.case(inc).overdue_seconds(due + 2 * H) == 2 * 3600
    assert cw.escalate_overdue(due + 5 * SLA["claimed"]) == [(inc, "claimed", MAX_ESCALATION)]
    levels = [s.note for s in cw.steps(inc) if s.action == "escalate"]
    assert len(levels) == MAX_ESCALATION and "第 3 级" in levels[-1]
    # the next stage starts a fresh clock
    cw.verify(inc, by="op", finding="confirmed", note="ok", now=due + 6 * SLA["claimed"])
    assert cw.case(inc).escalation_level == 0


def test_the_whole_workflow_through_the_pages(client, console_settings):
    inc = make_incident(console_settings)
    login(client, "op")
    url = f"/console/incidents/{inc}"
    assert post(client, url + "/claim", {"assignee": "", "note": "值班认领"}).status_code == 303
    r = post(client, url + "/decide", {"reason": "rectify", "due": "2099-01-01"})
    assert r.status_code == 409 and "核实" in r.text
    assert post(client, url + "/verify", {"finding": "confirmed", "note": "数据核实属实"}).status_code == 303
    assert post(client, url + "/decide", {"reason": "onsite", "due": "2099-01-01", "note": "现场检查"}).status_code == 303
    assert post(client, url + "/feedback", {"note": "检查发现喷淋塔停运，已责令恢复"}).status_code == 303
    r = post(client, url + "/close", {"note": "办结"})
    assert r.status_code == 409 and "evidence" in r.text
    r = post(client, url + "/evidence", {"note": "现场照片"}, files={"attachment": ("现场.png", PNG, "image/png")})
    assert r.status_code == 303
    assert post(client, url + "/close", {"note": "已恢复运行，办结"}).status_code == 303
    page = client.get(url).text
    for text in ("办结", "现场照片", "现场.png", "检查发现喷淋塔停运", "现场检查：安排现场检查", "op"):
        assert text in page, text
    ev_id = Casework(console_settings.sql_url, console_settings.evidence_dir).evidence(inc)[0].id
    r = client.get(f"{url}/evidence/{ev_id}")
    assert r.status_code == 200 and r.content == PNG and "attachment" in r.headers["content-disposition"]
    assert client.get(f"{url}/chart.svg").text.lstrip().startswith("<svg")


def test_the_cached_inbox_and_overview_show_a_change_on_the_next_request(client, console_settings):
    """The inbox table and the overview are computed once per store stamp (monitoring.console.cache): a
    claim, a new incident — also one written by another process, like the evaluation — show at once."""
    import re

    inc = make_incident(console_settings)
    login(client, "op")

    def stage(html: str, iid: int) -> str:
        row = re.search(rf'href="/console/incidents/{iid}">#{iid}</a></td>\s*<td><span class="stage (\w+)"', html)
        return row.group(1) if row else ""

    assert stage(client.get("/console/incidents").text, inc) == "alarm"
    assert stage(client.get("/console/incidents").text, inc) == "alarm"             # served from the cache
    assert post(client, f"/console/incidents/{inc}/claim", {"note": "认领"}).status_code == 303
    assert stage(client.get("/console/incidents").text, inc) == "claimed"
    assert stage(client.get("/console/incidents/rows").text, inc) == "claimed"
    before = client.get("/console/").text
    other = make_incident(console_settings, point="JK-002-DA001")                    # "another process"
    assert stage(client.get("/console/incidents").text, other) == "alarm"
    assert client.get("/console/").text != before


def test_notification_links_open_the_incident_page(client, incident_id):
    assert client.get(f"/incidents/{incident_id}").headers["location"] == f"/console/incidents/{incident_id}"
    login(client, "lead")
    r = client.get(f"/console/incidents/{incident_id}")
    assert r.status_code == 200 and f"事件 #{incident_id}" in r.text
    assert "/claim" not in r.text            # a leader reads, does not act
    # the check and the limit's status read in Chinese (limits.loader), not as codes
    assert "（排放浓度）" in r.text and "<td>暂定值</td>" in r.text
    assert "concentration" not in r.text and ">provisional<" not in r.text
    assert client.get("/console/incidents/999999").status_code == 404


def test_the_running_console_escalates_overdue_stages(console_settings):
    """The app's lifespan task calls escalate_overdue (here every 0.2 s) on a claim 2 days old."""
    import time

    from starlette.testclient import TestClient

    from monitoring.console import create_app
    inc = make_incident(console_settings, start=T0, now=T0 + 3 * H)
    Casework(console_settings.sql_url, console_settings.evidence_dir).claim(inc, by="op", now=datetime.now(UTC) - 50 * H)
    with TestClient(create_app(console_settings, escalate_every_s=0.2)):
        cw = Casework(console_settings.sql_url, console_settings.evidence_dir)
        for _ in range(50):
            if cw.case(inc).escalation_level:
                break
            time.sleep(0.1)
    assert cw.case(inc).escalation_level == 2       # 26 h past the 24 h SLA: level 1 + 1
    assert [s.action for s in cw.steps(inc)].count("escalate") == 2


def test_an_overdue_stage_is_sent_once_per_level_with_the_console_link(console_settings):
    """SLA escalation (monitoring.casework.SLA: 24 h to verify a claim) reaches the alert channel — a real
    local webhook (apprise json://) — once per incident, stage and level, linking to the console page.
    Two levels found at once (50 h after the claim) give one message (the highest); a later level gives
    one more; re-running sends nothing; a finished stage is never reported late."""
    import dataclasses

    from monitoring.console.app import Console, _templates, escalate_and_notify
    from tests.monitoring.sinks import HttpSink

    inc = make_incident(console_settings, start=T0, now=T0 + 3 * H)
    claimed_at = T0 + 4 * H
    with HttpSink() as sink:
        s = dataclasses.replace(console_settings, notify_urls=(f"json://127.0.0.1:{sink.port}/duty",),
                                public_url="https://hb.example.gov.cn")
        console = Console(s, _templates())
        console.casework.claim(inc, by="op", assignee="王五", now=claimed_at)
        assert escalate_and_notify(console, now=claimed_at + 23 * H) == []
        assert sink.posts == []
        assert escalate_and_notify(console, now=claimed_at + 50 * H) == [(inc, "claimed", 2)]
        assert escalate_and_notify(console, now=claimed_at + 51 * H) == []
        assert len(sink.posts) == 1
        msg = sink.posts[0].json
        assert "处置超时·第2级" in msg["title"] and f"#{inc}" in msg["title"]
        assert f"https://hb.example.gov.cn/console/incidents/{inc}" in msg["message"]
        assert "认领" in msg["message"] and "王五" in msg["message"] and "核实时限" in msg["message"] \
            and "已超时 26.0 小时" in msg["message"], msg["message"]
        assert escalate_and_notify(console, now=claimed_at + 75 * H) == [(inc, "claimed", 3)]
        assert len(sink.posts) == 2 and "第3级" in sink.posts[1].json["title"]
        console.casework.verify(inc, by="op", finding="confirmed", note="ok", now=claimed_at + 76 * H)
        assert escalate_and_notify(console, now=claimed_at + 77 * H) == []
        assert len(sink.posts) == 2


def test_charts_of_open_incidents_are_drawn_ahead_once(console_settings):
    """envmon serve draws the charts of open incidents ahead into the shared chart folder (one worker at a
    time); a chart already drawn for this incident version is not drawn again."""
    from monitoring.console.app import Console, _templates
    from monitoring.console.routes.incidents import prewarm_charts

    make_incident(console_settings)
    console = Console(console_settings, _templates())
    assert prewarm_charts(console) == 1
    assert prewarm_charts(console) == 0
    files = list(console.chart_dir.glob("*.svg"))
    assert len(files) == 1 and files[0].read_text().lstrip().startswith("<svg")
    assert "JK-001-DA001" in files[0].read_text()
