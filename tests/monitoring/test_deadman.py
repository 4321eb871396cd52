"""Data-missing incidents that do not flood (issue #8 §2): threshold from the device interval plus the
pipeline's delay, start-up grace, one county/cluster incident for a receiver outage, hysteresis on
recovery. Real SQLite store; the InfluxDB side (last valid / first back) is given as frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from monitoring.incidents import IncidentManager
from monitoring.incidents.deadman import COUNTY_KEY, DeadmanPolicy, silence_frame, zone_key
from monitoring.registry import parse_registry

T0 = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)              # 10:00 in Yunyang
M = timedelta(minutes=1)
POLICY = DeadmanPolicy(factor=3, delay_s=300, recover=timedelta(minutes=10), group_share=0.5)


def registry(safety: bool = False):
    zones = [("jiangkou", "江口", "JK"), ("nanxi", "南溪", "NX")]
    sensors = [{"id": f"{c}-001-AQ0{i}", "kind": "safety", "zone": z, "enterprise": f"{c}-001",
                "name": f"{i}#可燃气体探测器", "mn": f"7777777{k}00000{i}", "pw": "123456", "interval_s": 10,
                "parameters": ["x01001"], "sensor": "combustible_gas", "location": "车间"}
               for k, (z, _, c) in enumerate(zones) for i in range(1, 3)] if safety else []
    return parse_registry({
        "zones": [{"id": z, "name_zh": n, "pinyin": z, "town": n + "镇", "area_mu": 1000,
                   "elevation_m": [200, 260], "industries": ["化工"]} for z, n, _ in zones],
        "enterprises": [{"code": f"{c}-001", "name": f"{n}化工", "zone": z, "industry": "化工",
                         "category": "key"} for z, n, c in zones],
        "points": [{"id": f"{c}-001-DA00{i}", "kind": "stack", "zone": z, "enterprise": f"{c}-001",
                    "name": f"{i}#排气筒", "mn": f"8888888{k}00000{i}", "pw": "123456", "interval_s": 60,
                    "parameters": ["a34013"], "height_m": 30, "above_buildings": True}
                   for k, (z, _, c) in enumerate(zones) for i in range(1, 6)] + sensors,
    }, source="test")


def last_valid(reg, now, silent: dict[str, datetime] | None = None) -> pd.DataFrame:
    """Every point reported a minute ago, except ``silent`` (point → its last valid time)."""
    silent = silent or {}
    ids = [p.id for p in reg]
    return pd.DataFrame({"point": ids, "last_valid_time": [silent.get(i, now - M) for i in ids]})


@pytest.fixture
def manager(tmp_path):
    return IncidentManager(f"sqlite:///{tmp_path / 'incidents.sqlite'}")


def check(manager, reg, now, *, silent=None, first_back=None, watch_since=T0 - timedelta(hours=1)):
    return manager.check_deadman(last_valid(reg, now, silent), reg, now=now, watch_since=watch_since,
                                 first_back=first_back or {}, policy=POLICY)


def test_threshold_is_interval_times_factor_plus_pipeline_delay():
    reg = registry()
    f = silence_frame(last_valid(reg, T0, {"JK-001-DA001": T0 - timedelta(seconds=470)}), reg, now=T0,
                      policy=POLICY)
    row = f.set_index("point").loc["JK-001-DA001"]
    assert row["threshold_s"] == 60 * 3 + 300
    assert not row["silent"], "470 s < 480 s: a minute device 8 min late is still within one ingest delay"
    f = silence_frame(last_valid(reg, T0, {"JK-001-DA001": T0 - timedelta(seconds=490)}), reg, now=T0,
                      policy=POLICY)
    assert f.set_index("point").loc["JK-001-DA001", "silent"]


def test_start_up_grace_no_alert_before_the_stack_has_been_up_a_threshold(manager):
    reg = registry()
    empty = pd.DataFrame({"point": pd.Series(dtype="string"),
                          "last_valid_time": pd.Series(dtype="datetime64[ns, UTC]")})
    started = T0
    for minutes in (0, 2, 7):       # the first ingest has not finished yet: no data at all
        assert len(manager.check_deadman(empty, reg, now=started + minutes * M, watch_since=started,
                                         policy=POLICY)) == 0
    # still nothing after the threshold: that is the receiver/ingest being down → one county incident
    ch = manager.check_deadman(empty, reg, now=started + 9 * M, watch_since=started, policy=POLICY)
    assert [i.point for i in ch.opened] == [COUNTY_KEY]


def test_one_silent_device_one_incident_no_flapping_one_recovery(manager):
    reg = registry()
    dead = "JK-001-DA002"
    cut = T0
    opened = []
    for minutes in range(0, 40, 5):           # the deadman runs every 5 minutes
        opened += check(manager, reg, cut + minutes * M, silent={dead: cut}).opened
    assert [i.point for i in opened] == [dead], "exactly one incident for one silent device"
    (inc,) = opened
    assert inc.started_at == cut
    # it comes back for two minutes, then drops again: no recovery message, no second incident
    back = cut + 40 * M
    ch = check(manager, reg, back + 2 * M, silent={}, first_back={dead: back})
    assert len(ch) == 0
    ch = check(manager, reg, back + 12 * M, silent={dead: back + 2 * M}, first_back={dead: back})
    assert len(ch.opened) == 0 and len(ch.cleared) == 0
    ch = check(manager, reg, back + 20 * M, silent={dead: back + 2 * M}, first_back={dead: back})
    assert len(ch.opened) == 0 and len(ch.cleared) == 0
    # back for good: cleared once data has been flowing for 10 minutes
    again = back + 25 * M
    assert len(check(manager, reg, again + 5 * M, first_back={dead: again})) == 0
    ch = check(manager, reg, again + 10 * M, first_back={dead: again})
    assert [i.point for i in ch.cleared] == [dead]
    assert len(check(manager, reg, again + 15 * M, first_back={dead: again})) == 0


def test_receiver_down_is_one_county_incident_with_the_points_inside(manager):
    reg = registry()
    down = T0
    everyone = {p.id: down for p in reg}
    changes = [check(manager, reg, down + m * M, silent=everyone) for m in range(0, 30, 5)]
    opened = [i for ch in changes for i in ch.opened]
    assert [i.point for i in opened] == [COUNTY_KEY], "one incident, not one per point"
    summary = changes[2].changes[0].summary if changes[2].changes else next(
        c.summary for ch in changes for c in ch.changes if c.action == "open")
    assert "10/10" in summary and "JK-001-DA001" in summary and "NX-001-DA005" in summary
    # the receiver is back; devices re-send what they kept (补传), data flows for 10 min → one recovery
    up = down + 30 * M
    ch = check(manager, reg, up + 11 * M, first_back={COUNTY_KEY: down + M})
    assert [i.point for i in ch.cleared] == [COUNTY_KEY]
    assert not [i for i in manager.list() if i.active]


def test_one_cluster_down_is_one_cluster_incident(manager):
    reg = registry()
    down = T0
    jk = {p.id: down for p in reg if p.zone == "jiangkou"}
    opened = [i for m in range(0, 30, 5) for i in check(manager, reg, down + m * M, silent=jk).opened]
    assert [i.point for i in opened] == [zone_key("jiangkou")]
    assert opened[0].zone == "jiangkou"


def test_group_incident_messages_say_where_and_link_to_the_console(manager, monkeypatch):
    from monitoring.notifications.rendering import incident_link, render

    reg = registry()
    everyone = {p.id: T0 for p in reg}
    (inc,) = [i for m in range(0, 15, 5) for i in check(manager, reg, T0 + m * M, silent=everyone).opened]
    title, body = render("open", inc, reg, now=T0 + 15 * M, public_url="https://hb.yunyang.example")
    assert "全县" in title and "全部在线监测点位" in title
    assert f"https://hb.yunyang.example/console/incidents/{inc.id}" in body
    monkeypatch.delenv("ENVMON_PUBLIC_URL", raising=False)
    assert incident_link(7) == "http://localhost:8000/console/incidents/7"


def test_recoveries_are_not_urgent_one_digest_bundles_them(manager, tmp_path, monkeypatch):
    """Two devices silent: each "数据缺失告警" goes out at once (urgent); their recoveries are bundled into
    one "数据恢复汇总" once the oldest has waited ENVMON_DEADMAN_DIGEST_MINUTES, never told twice."""
    from monitoring.notifications import Notifier
    from tests.monitoring.sinks import HttpSink

    monkeypatch.setenv("ENVMON_NOTIFY_MIN_INTERVAL_S", "0")
    monkeypatch.setenv("ENVMON_DEADMAN_DIGEST_MINUTES", "15")
    reg = registry()
    a, b = "JK-001-DA002", "NX-001-DA003"
    with HttpSink() as sink:
        n = Notifier([sink.url], db_url=manager.db_url)

        def run(now, **kw):
            return n.notify(check(manager, reg, now, **kw), reg, now=now)

        for m in range(0, 15, 5):
            run(T0 + m * M, silent={a: T0, b: T0})
        titles = [p.json["title"] for p in sink.posts]
        assert len(titles) == 2 and all("数据缺失告警" in t for t in titles), titles
        back_a, back_b = T0 + 20 * M, T0 + 25 * M
        for m in range(25, 45, 5):              # a clears at 30 min, b at 35: nothing sent yet
            now = T0 + m * M
            run(now, silent={} if now >= back_b else {b: T0}, first_back={a: back_a, b: back_b})
        assert len(sink.posts) == 2, "a point's recovery waits for the digest"
        for m in range(45, 60, 5):               # 15 min after a's clear: one message for both
            run(T0 + m * M, first_back={a: back_a, b: back_b})
        (digest,) = sink.posts[2:]
        assert "数据恢复汇总" in digest.json["title"] and "2 个监测点位" in digest.json["title"]
        assert "2#排气筒" in digest.json["message"] and "3#排气筒" in digest.json["message"]
        assert "/console/incidents/" in digest.json["message"]
        run(T0 + 80 * M, first_back={a: back_a, b: back_b})
        assert len(sink.posts) == 3, "a recovery is told once"
        kinds = sorted((h["kind"], h["status"]) for h in n.history())
        assert kinds == [("clear", "bundled"), ("clear", "sent"), ("open", "sent"), ("open", "sent")]


def test_receiver_down_short_interval_sensors_wait_for_the_group_incident(manager):
    """Safety sensors (10 s → threshold 330 s) pass their threshold minutes before the minute points
    (480 s) when the receiver stops: they open no incident of their own while most of their cluster is
    already quiet; then one county incident covers everything. A lone silent sensor still opens its own."""
    reg = registry(safety=True)
    cut = T0
    everyone = {p.id: cut for p in reg}
    opened = []
    for minutes in (6, 7):                       # safety sensors past 330 s, minute points not past 480 s
        opened += check(manager, reg, cut + minutes * M, silent=everyone).opened
    assert opened == [], "no per-point incident while the whole cluster is going quiet"
    assert [i.point for i in check(manager, reg, cut + 9 * M, silent=everyone).opened] == [COUNTY_KEY]


def test_a_lone_silent_safety_sensor_opens_its_own_incident(manager):
    reg = registry(safety=True)
    ch = check(manager, reg, T0 + 6 * M, silent={"JK-001-AQ01": T0})
    assert [i.point for i in ch.opened] == ["JK-001-AQ01"]
