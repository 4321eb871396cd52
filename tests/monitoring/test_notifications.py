"""Notifications through apprise to a real local SMTP server (aiosmtpd) and a real HTTP webhook:
Chinese content, local time, retry after the sink was down, no duplicate on backfill, digests."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from monitoring.config import load_settings
from monitoring.incidents import ChangeSet, IncidentManager
from monitoring.notifications import (
    NotificationConfigError,
    Notifier,
    channel_urls,
    make_channel,
    split_urls,
)
from tests.monitoring.sinks import HttpSink, SmtpSink
from tests.monitoring.test_incidents import T0, H, small_registry, windows


@pytest.fixture
def db_url(sql_url: str) -> str:
    """SQLite and PostgreSQL (tests/conftest.py ``sql_url``)."""
    return sql_url


@pytest.fixture
def manager(db_url: str) -> IncidentManager:
    return IncidentManager(db_url, min_duration=3 * H, clear_after=3, escalate_after=4 * H)


@pytest.fixture
def sinks():
    smtp, http = SmtpSink().start(), HttpSink().start()
    yield smtp, http
    smtp.stop()
    http.stop()


@pytest.fixture(autouse=True)
def _public_url(monkeypatch):
    monkeypatch.setenv("ENVMON_PUBLIC_URL", "https://envmon.yunyang.example/")
    monkeypatch.setenv("ENVMON_NOTIFY_RETRY", "0")
    monkeypatch.setenv("ENVMON_NOTIFY_MIN_INTERVAL_S", "0")     # apprise spaces sends 5.5 s apart by default


def notifier(db_url, sinks, digest=timedelta(hours=6)) -> Notifier:
    smtp, http = sinks
    return Notifier([smtp.url, http.url], db_url=db_url, digest_interval=digest, min_duration=3 * H)


def test_open_message_reaches_smtp_and_webhook_in_chinese_with_local_time(manager, db_url, sinks):
    smtp, http = sinks
    changes = manager.apply_assessments(windows("EEE", values=[640.0, 700.0, 660.0]), now=T0 + 3 * H)
    (inc,) = changes.opened
    report = notifier(db_url, sinks).notify(changes, small_registry(), now=T0 + 3 * H + timedelta(minutes=5))
    assert (report.sent, report.failed) == (2, 0)

    (mail,) = smtp.messages
    (post,) = http.posts
    assert mail.envelope_to == ["duty@example.org"]
    assert mail.subject == post.json["title"]
    assert mail.subject.startswith("【超标告警·一般】江口 1#锅炉排气筒 二氧化硫（a21026）")
    for body in (mail.text, post.json["message"]):
        assert "集聚区：江口（江口镇）" in body
        assert "企业：重庆云江化工有限公司（JK-001）" in body
        assert "监测点：1#锅炉排气筒（JK-001-DA001）" in body
        assert "监测因子：二氧化硫（a21026）排放浓度·小时均值" in body
        # peak 700 against GB 16297-1996 表2 二级 550 mg/m3: 超标倍数 (700 − 550) / 550 = 0.27
        assert "峰值：700 mg/m3，限值 550 mg/m3（超标 0.27 倍）" in body
        assert "执行标准：DB 50/418-2016 表1 其他区域 (= GB 16297-1996 表2 二级)（限值状态：暂定值）" in body
        # windows 00:00–03:00 UTC are 08:00–11:00 in Yunyang; never UTC in the message
        assert "超标时段：2025-06-01 08:00+08:00 至 2025-06-01 11:00+08:00，累计 3.0 小时" in body
        assert "发送时间：2025-06-01 11:05+08:00" in body
        assert f"详情：https://envmon.yunyang.example/console/incidents/{inc.id}" in body
        assert "+00:00" not in body and "UTC" not in body.replace("UTC+08:00", "")
    hist = notifier(db_url, sinks).history(inc.id)
    assert [(h["kind"], h["status"], h["attempts"]) for h in hist] == [("open", "sent", 1), ("open", "sent", 1)]
    assert hist[0]["sent_at"] == T0 + 3 * H + timedelta(minutes=5)


def test_backfill_of_the_same_windows_sends_nothing_again(manager, db_url, sinks):
    smtp, http = sinks
    frame = windows("EEECCC")
    first = manager.apply_assessments(frame, now=T0 + 6 * H)
    n = notifier(db_url, sinks)
    # the incident opened and cleared in one run: one message saying it already recovered
    report = n.notify(first, small_registry(), now=T0 + 6 * H)
    assert report.sent == 2 and len(smtp.messages) == 1 and "已恢复：2025-06-01 14:00+08:00" in smtp.messages[0].text
    # catch-up run re-evaluates the same period
    again = manager.apply_assessments(frame, now=T0 + 30 * H)
    assert len(again) == 0
    report = n.notify(again, small_registry(), now=T0 + 30 * H)
    assert report.outcomes == []
    # even if a caller hands the old change set in again, nothing is re-sent
    report = Notifier([smtp.url, http.url], db_url=db_url).notify(first, small_registry(), now=T0 + 31 * H)
    assert report.outcomes == [] and report.duplicates == 2
    assert len(smtp.messages) == 1 and len(http.posts) == 1


def test_sink_down_is_recorded_failed_and_the_next_run_delivers(manager, db_url, sinks):
    smtp, http = sinks
    smtp.stop()
    http.stop()
    changes = manager.apply_assessments(windows("EEE"), now=T0 + 3 * H)
    report = notifier(db_url, sinks).notify(changes, small_registry(), now=T0 + 3 * H)
    assert (report.sent, report.failed) == (0, 2)
    hist = notifier(db_url, sinks).history()
    assert {h["status"] for h in hist} == {"failed"}
    assert all(h["last_error"] and h["attempt_log"][0]["ok"] is False for h in hist)
    assert any("Connection error" in h["last_error"] for h in hist)   # the webhook's apprise error
    assert smtp.messages == [] and http.posts == []

    smtp.start()
    http.start()
    # a later run (a new process: new Notifier) retries from the store
    report = notifier(db_url, sinks).retry_pending(now=T0 + 4 * H)
    assert (report.sent, report.failed) == (2, 0)
    assert len(smtp.messages) == 1 and len(http.posts) == 1
    assert "2025-06-01 08:00+08:00" in smtp.messages[0].text
    hist = notifier(db_url, sinks).history()
    assert [[a["ok"] for a in h["attempt_log"]] for h in hist] == [[False, True], [False, True]]
    assert all(h["status"] == "sent" and h["attempts"] == 2 and h["last_error"] is None for h in hist)
    assert len(notifier(db_url, sinks).retry_pending(now=T0 + 5 * H).outcomes) == 0


def test_webhook_error_status_counts_apprise_retries(manager, db_url, sinks, monkeypatch):
    _, http = sinks
    http.status = 500
    changes = manager.apply_assessments(windows("EEE"), now=T0 + 3 * H)
    n = Notifier([http.url + "?retry=1"], db_url=db_url, digest_interval=timedelta(hours=6))
    report = n.notify(changes, small_registry(), now=T0 + 3 * H)
    (out,) = report.outcomes
    assert not out.ok and out.tries == 2 and "500" in out.error
    http.status = 200
    assert n.retry_pending(now=T0 + 4 * H).sent == 1
    (h,) = n.history()
    assert h["attempts"] == 3 and len(http.posts) == 1


def test_updates_of_an_open_incident_go_out_as_one_digest_per_interval(manager, db_url, sinks):
    smtp, http = sinks
    reg = small_registry()
    n = notifier(db_url, sinks, digest=timedelta(hours=6))
    opened = T0 + 3 * H
    n.notify(manager.apply_assessments(windows("EEE"), now=opened), reg, now=opened)
    assert len(smtp.messages) == 1
    # three further hours, each worse: three updates within the digest interval → held
    for i, value in enumerate([800.0, 900.0, 1700.0]):
        now = opened + (i + 1) * H
        ch = manager.apply_assessments(windows("E", start=T0 + (3 + i) * H, values=[value]), now=now)
        assert len(ch.updated) == 1
        report = n.notify(ch, reg, now=now)
        assert report.outcomes == [] and report.held == 2          # one per channel
    assert len(smtp.messages) == 1 and len(http.posts) == 1
    # 6 h after the open message: one digest per channel summarising the three updates
    report = n.notify(ChangeSet(), reg, now=opened + 6 * H)
    assert [o.kind for o in report.outcomes] == ["digest", "digest"]
    assert len(smtp.messages) == 2 and len(http.posts) == 2
    digest = smtp.messages[1]
    assert digest.subject.startswith("【超标进展·严重】")      # 1700 / 550 = 3.1 → 严重
    assert "共 3 次更新" in digest.text
    assert "峰值 660 → 800" in digest.text and "峰值 900 → 1700" in digest.text
    assert "严重程度 较重 → 严重" in digest.text
    assert "2025-06-01 12:00+08:00：" in digest.text            # when the first update was recorded
    # nothing new → nothing sent; a new update waits for the next interval
    assert n.notify(ChangeSet(), reg, now=opened + 7 * H).outcomes == []
    ch = manager.apply_assessments(windows("E", start=T0 + 6 * H, values=[1800.0]), now=opened + 8 * H)
    assert n.notify(ch, reg, now=opened + 8 * H).outcomes == []
    assert [o.kind for o in n.notify(ChangeSet(), reg, now=opened + 12 * H).outcomes] == ["digest", "digest"]


def test_clear_escalate_and_data_missing_messages(manager, db_url, sinks):
    smtp, _ = sinks
    reg = small_registry()
    n = notifier(db_url, sinks)
    n.notify(manager.apply_assessments(windows("EEE"), now=T0 + 3 * H), reg, now=T0 + 3 * H)
    n.notify(manager.escalate_due(T0 + 7 * H), reg, now=T0 + 7 * H)
    n.notify(manager.apply_assessments(windows("CCC", start=T0 + 3 * H), now=T0 + 8 * H), reg, now=T0 + 8 * H)
    last = {"JK-001-DA001": T0 + 8 * H}
    import pandas as pd
    lv = pd.DataFrame({"point": list(last), "last_valid_time": list(last.values())})
    n.notify(manager.check_deadman(lv, reg, now=T0 + 9 * H, factor=3, points=["JK-001-DA001"]), reg,
             now=T0 + 9 * H)
    subjects = [m.subject for m in smtp.messages]
    assert [re.sub(r"·.*", "", s) for s in subjects] == ["【超标告警", "【超标升级", "【超标恢复", "【数据缺失告警"]
    escalate, clear, missing = smtp.messages[1].text, smtp.messages[2].text, smtp.messages[3].text
    assert "【事件升级·无人确认】" in escalate and "已升级：第 1 级" in escalate and "4.0 小时内无人确认" in escalate
    assert "恢复时间：2025-06-01 14:00+08:00" in clear and "连续 3 个时段达标" in clear
    assert "请值班人员确认后关闭事件" in clear
    assert "数据缺失：自 2025-06-01 16:00+08:00 起无有效数据（已中断 1.0 小时）" in missing
    # 1 h of silence at a 60 s point with factor 3: 3600 / 180 = 20 thresholds ≥ 10 → 严重
    # 1 h silent over a 480-s threshold (60 s × 3 + 300 s) = 7.5 × → 较重
    assert "【数据缺失告警·较重】江口 1#锅炉排气筒 监测数据" in subjects[3]


def test_channel_configuration_from_env_and_airflow_connection(monkeypatch):
    monkeypatch.setenv("ENVMON_NOTIFY_URLS", "mailtos://duty:s3cret@smtp.example.org?to=a@example.org,\n"
                                             "wecombot://0123456789abcdef dingtalk://secret@token123/")
    monkeypatch.setenv("AIRFLOW_CONN_ENVMON_NOTIFY_HOOK",
                       '{"conn_type": "http", "extra": {"url": "json://127.0.0.1:9/hook"}}')
    monkeypatch.setenv("ENVMON_NOTIFY_CONNECTIONS", "envmon_notify_hook")
    urls = channel_urls(load_settings())
    assert urls[-1] == "json://127.0.0.1:9/hook" and len(urls) == 4
    channels = [make_channel(u) for u in urls]
    assert [c.display.split("://")[0] for c in channels] == ["mailtos", "wecombot", "dingtalk", "json"]
    assert all("s3cret" not in c.display for c in channels)
    monkeypatch.setenv("ENVMON_NOTIFY_CONNECTIONS", "envmon_notify_missing")
    with pytest.raises(NotificationConfigError, match="envmon_notify_missing"):
        channel_urls(load_settings())
    with pytest.raises(NotificationConfigError, match="scheme 'nosuch'"):
        make_channel("nosuch://user:hunter2@host")
    assert split_urls(" a://x ,b://y\n") == ["a://x", "b://y"]
