"""The alarm book: episodes, levels, immediate second-level escalation, never twice, never missed.

Webhook deliveries are asserted on a real local HTTP server (apprise ``json://``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pandas as pd

from monitoring.safety.alarms import AlarmBook, AlarmChannel, reconcile

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)      # 10:00 local


def readings(point: str, parameter: str, values: list[float], *, step_s: int = 10, start: datetime = T0,
             flags: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"point": point, "parameter": parameter,
                         "time": [start + timedelta(seconds=step_s * i) for i in range(len(values))],
                         "value": values, "flag": flags or ["N"] * len(values)})


def titles(sink) -> list[str]:
    return [p.json["title"] for p in sink.posts]


def wait_posts(sink, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(sink.posts) < n and time.monotonic() < deadline:
        time.sleep(0.02)


def test_first_level_opens_and_clears_with_one_message_each(book, sink, duty_sink):
    ids = book.apply(readings("NX-001-AQ01", "x01001", [5, 12, 27, 31, 26, 8, 6]), detected_by="fast")
    assert book.deliver(ids).sent == 2
    (a,) = book.alarms()
    assert (a.level, a.peak_value, a.threshold, a.threshold_status) == (1, 31.0, 25.0, "unconfirmed")
    assert a.started_at == T0 + timedelta(seconds=20) and a.cleared_at == T0 + timedelta(seconds=50)
    assert titles(sink) == ["【安全一级报警】今朝醉酒厂 酿酒车间 可燃气体浓度", "【安全报警解除】今朝醉酒厂 酿酒车间 可燃气体浓度"]
    body = sink.posts[0].json["message"]
    assert "31 %LEL" in body and "2026-11-20 10:00:30+08:00" in body and "待核实" in body
    assert duty_sink.posts == []                      # a first-level alarm is not escalated at once


def test_second_level_escalates_immediately_to_the_duty_channel(book, sink, duty_sink):
    r = readings("NX-001-AQ02", "x01001", [30, 45, 55])
    for i in range(len(r)):                      # one packet at a time, as the fast path sees them
        book.deliver(book.apply(r.iloc[[i]], detected_by="fast"))
    (a,) = book.alarms()
    assert a.level == 2 and a.level2_at == T0 + timedelta(seconds=20) and a.active
    assert titles(duty_sink) == ["【安全二级报警·升级·立即处置】今朝醉酒厂 酒库 可燃气体浓度"]
    assert "立即通知值班领导" in duty_sink.posts[0].json["message"]
    assert titles(sink) == ["【安全一级报警】今朝醉酒厂 酒库 可燃气体浓度",
                            "【安全二级报警·升级·立即处置】今朝醉酒厂 酒库 可燃气体浓度"]


def test_a_second_level_reading_opens_at_level_two(book, sink, duty_sink):
    book.deliver(book.apply(readings("JK-WWTP-AQ02", "a19001", [20.9, 18.2, 18.0, 18.4]), detected_by="fast"))
    (a,) = book.alarms()
    assert a.level == 2 and (a.threshold_low, a.threshold) == (19.5, 23.5)
    assert a.peak_value == 18.0                      # the worst reading of an O2 deficiency is the lowest
    assert titles(sink) == ["【安全二级报警】江口镇污水处理厂 格栅井（有限空间） 氧含量"]
    assert len(duty_sink.posts) == 1


def test_applying_the_same_readings_again_sends_nothing(book, sink):
    r = readings("NX-001-AQ01", "x01001", [5, 30, 60, 10])
    book.deliver(book.apply(r, detected_by="fast"))
    n = len(sink.posts)
    assert book.apply(r, detected_by="batch") == []
    assert book.deliver_pending().sent == 0 and len(sink.posts) == n and len(book.alarms()) == 1


def test_batch_path_finds_what_the_fast_path_missed_and_sends_it_once(book, sink):
    # the fast path was down: only the batch path sees the episode, later, from the stored history
    created, report = reconcile(book, readings("PA-003-AQ01", "x01003", [3, 35, 40, 2]))
    assert report.sent == 2 and len(created) == 2
    (a,) = book.alarms()
    assert a.detected_by == "batch" and a.cleared_at is not None
    again, report2 = reconcile(book, readings("PA-003-AQ01", "x01003", [3, 35, 40, 2]))
    assert again == [] and report2.sent == 0 and len(sink.posts) == 2


def test_fast_path_starting_mid_episode_joins_the_batch_alarm(book, sink):
    # fast path saw only the 3rd over-threshold reading (it started late); batch later sees them all
    full = readings("JK-019-AQ01", "x01001", [10, 28, 29, 30, 9])
    book.deliver(book.apply(full.iloc[[3]], detected_by="fast"))
    book.deliver(book.apply(full, detected_by="batch"))
    (a,) = book.alarms()
    assert a.started_at == T0 + timedelta(seconds=10)          # moved back to the true start
    assert a.cleared_at == T0 + timedelta(seconds=40)
    assert [t.split("】")[0] for t in titles(sink)] == ["【安全一级报警", "【安全报警解除"]


def test_a_new_episode_after_the_clear_is_a_new_alarm(book):
    book.apply(readings("NX-001-AQ01", "x01001", [30, 5, 5, 40, 4]), detected_by="fast")
    alarms = sorted(book.alarms(), key=lambda a: a.started_at)
    assert len(alarms) == 2 and all(not a.active for a in alarms)


def test_flagged_readings_do_not_raise_alarms_but_T_does(book):
    # hj212.md: F/M/S/D/C/B are no evidence; T (above range) is: the true value is at least the reading
    book.apply(readings("NX-001-AQ01", "x01001", [80, 80], flags=["C", "D"]), detected_by="fast")
    assert book.alarms() == []
    book.apply(readings("NX-001-AQ01", "x01001", [100], flags=["T"], start=T0 + timedelta(minutes=5)),
               detected_by="fast")
    assert [a.level for a in book.alarms()] == [2]


def test_failed_delivery_is_retried_by_the_batch_path(db_url, registry, thresholds):
    from tests.monitoring.sinks import HttpSink, free_port

    port = free_port()
    down = AlarmChannel.from_url(f"json://127.0.0.1:{port}/hook")
    book = AlarmBook(db_url, registry, thresholds, channels=[down])
    ids = book.apply(readings("JK-005-AQ11", "x02002", [0, 2]), detected_by="fast")
    assert book.deliver(ids).failed == 1
    with HttpSink(port=port) as sink:
        assert book.deliver_pending().sent == 1
        assert book.deliver_pending().sent == 0
        assert len(sink.posts) == 1 and "火花探测计数" in sink.posts[0].json["title"]


def test_unacknowledged_first_level_escalates_after_the_configured_minutes(book, duty_sink):
    book.apply(readings("NX-001-AQ01", "x01001", [30]), detected_by="fast", now=T0)
    assert book.escalate_due(T0 + timedelta(minutes=9)) == []
    ids = book.escalate_due(T0 + timedelta(minutes=11))
    book.deliver(ids)
    assert len(duty_sink.posts) == 1 and "10 分钟未确认" in duty_sink.posts[0].json["message"]
    assert book.escalate_due(T0 + timedelta(minutes=30)) == []          # once
    # an acknowledged alarm is not escalated
    book.apply(readings("NX-001-AQ02", "x01001", [30]), detected_by="fast", now=T0)
    a = next(a for a in book.alarms() if a.point == "NX-001-AQ02")
    book.acknowledge(a.id, "张三", now=T0 + timedelta(minutes=2))
    assert book.escalate_due(T0 + timedelta(minutes=20)) == []


def test_claimed_message_is_not_sent_by_a_second_sender(book, sink, db_url, registry, thresholds):
    ids = book.apply(readings("NX-001-AQ01", "x01001", [30]), detected_by="fast")
    other = AlarmBook(db_url, registry, thresholds, channels=book.channels, sender_id="other")
    r1, r2 = book.deliver(ids), other.deliver(ids)
    assert (r1.sent, r2.sent, r2.skipped) == (1, 0, 1) and len(sink.posts) == 1
