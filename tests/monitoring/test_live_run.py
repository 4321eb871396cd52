"""``envmon up --simulate`` under the real scheduler for about an hour: the alert goals of issue #8.

``make test-live`` (marker ``live``, not in ``make test``). The run itself is ``bench/bench_live.py``;
this test asserts what the bureau was promised:

* a healthy live feed → 0 data-missing notifications for healthy devices (start-up grace included);
* one device silent for 30 min → exactly 1 incident: 1 "数据缺失" notification and 1 "恢复" (in the
  "数据恢复汇总" digest of recoveries);
* the receiver down for 15 min → 1 county- or zone-level incident, not one per point, and its recovery;
* every exceeding hour sent → its "超标" notification, p95 of the latency ≤ 90 s (reported always);
* SIGTERM → exit 0, no process left.
"""

from __future__ import annotations

import pytest

from bench.bench_live import live_run, summary

pytestmark = [pytest.mark.live, pytest.mark.airflow, pytest.mark.timeout(5400)]   # ≤ 62 min of plan + start/stop


def test_thirty_minutes_live(tmp_path):
    r = live_run(tmp_path, minutes=30, samples=12)
    print(summary(r))
    missing = [p for p in r.posts if "数据缺失" in p["title"]]
    # (a county or cluster message may list the device among the silent points: not about it alone)
    about_silenced = [p for p in r.about(r.silenced_point) if "全部在线监测点位" not in p["title"]]
    point_level = [p for p in missing if p not in about_silenced and "全部在线监测点位" not in p["title"]]
    assert point_level == [], "no per-point data-missing alert for healthy devices or for the receiver outage"
    assert sum("数据缺失" in p["title"] for p in about_silenced) == 1
    assert sum("恢复" in p["title"] for p in about_silenced) == 1
    silenced_incidents = {p["title"].rsplit("#", 1)[-1] for p in about_silenced if "数据缺失" in p["title"]}
    assert len(silenced_incidents) == 1, "exactly one incident for the silent device"
    groups = [p for p in missing if "全部在线监测点位" in p["title"]]
    assert 1 <= len(groups) <= 5, "the receiver outage is one county incident (or one per cluster)"
    assert any("恢复" in p["title"] and "全部在线监测点位" in p["title"] for p in r.posts), "its recovery"
    assert not r.missing_latency, f"exceeding hours without an alert: {r.missing_latency}"
    assert r.exit_code == 0 and r.processes_left == []
    assert r.p(95) <= 90, f"alert latency p95 {r.p(95):.0f} s > 90 s"
