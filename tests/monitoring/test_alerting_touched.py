"""evaluate_and_alert is fed once per ingest run: which zones got news, and which windows they touched."""

from __future__ import annotations

import pandas as pd

from monitoring.alerting import touched_windows, touched_zones
from monitoring.ingest import run_asset_extra


def test_one_event_per_run_names_each_zone_that_stored_something():
    reports = [
        {"zone": "jiangkou", "readings_stored": 120, "first_time": "2026-11-28T01:02:00+00:00",
         "last_time": "2026-11-28T01:59:00+00:00"},
        {"zone": "nanxi", "readings_stored": 0, "first_time": None, "last_time": None},
        {"zone": "fengming", "readings_stored": 5, "first_time": "2026-11-28T01:58:00+00:00",
         "last_time": "2026-11-28T01:59:00+00:00"},
    ]
    extra = run_asset_extra(reports)
    assert set(extra["zones"]) == {"jiangkou", "fengming"}
    # two runs queued while the evaluation was busy: the earliest news per zone counts
    later = {"zones": {"jiangkou": {"first_time": "2026-11-28T02:00:00+00:00"}}}
    assert touched_zones([extra, later]) == {"jiangkou": "2026-11-28T01:02:00+00:00",
                                             "fengming": "2026-11-28T01:58:00+00:00"}
    assert touched_zones([run_asset_extra([reports[1]])]) == {}


def test_only_windows_touched_by_new_readings_reach_the_incidents():
    t = pd.Timestamp("2026-11-28T00:00:00Z")
    frame = pd.DataFrame({
        "zone": ["jiangkou"] * 3 + ["nanxi"],
        "window_start": [t, t + pd.Timedelta(hours=1), t - pd.Timedelta(hours=8), t + pd.Timedelta(hours=1)],
        "window_end": [t + pd.Timedelta(hours=1), t + pd.Timedelta(hours=2), t + pd.Timedelta(hours=16),
                       t + pd.Timedelta(hours=2)],
    })
    kept = touched_windows(frame, {"jiangkou": (t + pd.Timedelta(minutes=70)).isoformat()})
    # jiangkou's 01:00–02:00 hour and the local day containing the news; not 00:00–01:00; not nanxi
    assert kept.index.tolist() == [1, 2]
    assert touched_windows(frame, {}).empty


def test_windows_are_evaluated_once_complete_hour_windows_from_the_hour_day_windows_from_midnight():
    """evaluation_plan: which periods an ingest run's news needs evaluated (issue #8 §2)."""
    from monitoring.alerting import evaluation_plan

    local = "Asia/Shanghai"
    now = pd.Timestamp("2026-11-28 15:00:40", tz=local)          # 15:00 local just completed the 14:00 hour
    end = pd.Timestamp("2026-11-28 15:00", tz=local)
    news = {"jiangkou": pd.Timestamp("2026-11-28 14:59:00", tz=local).isoformat(),
            "nanxi": pd.Timestamp("2026-11-28 15:00:00", tz=local).isoformat()}
    # the previous evaluation covered up to 14:00: the 14:00–15:00 hour completed since, for every zone
    plan = evaluation_plan(news, now, evaluated_until=pd.Timestamp("2026-11-28 14:00", tz=local))
    assert plan.hour_start == pd.Timestamp("2026-11-28 14:00", tz=local)
    assert plan.day_start == pd.Timestamp("2026-11-28 00:00", tz=local), "a day window is judged whole"
    assert plan.end == end and plan.zone is None
    assert plan.completed_after == pd.Timestamp("2026-11-28 14:00", tz=local)
    # the next run: news only in the running hour, nothing completed since → nothing to evaluate
    running = {"jiangkou": pd.Timestamp("2026-11-28 15:00:30", tz=local).isoformat()}
    assert evaluation_plan(running, now + pd.Timedelta(seconds=30), evaluated_until=end) is None
    # late data of an hour already judged (a device's backlog): that hour again, that zone only
    late = {"fengming": pd.Timestamp("2026-11-28 09:10", tz=local).isoformat()}
    plan = evaluation_plan(late, now, evaluated_until=end)
    assert plan.hour_start == pd.Timestamp("2026-11-28 09:00", tz=local)
    assert (plan.zone, plan.completed_after) == ("fengming", None)
    # a late reading from yesterday: its day window starts at yesterday's local midnight
    plan = evaluation_plan({"fengming": pd.Timestamp("2026-11-27 23:30", tz=local).isoformat()}, now,
                           evaluated_until=end)
    assert plan.day_start == pd.Timestamp("2026-11-27 00:00", tz=local)
    # first evaluation on this data directory: the whole local day of the news
    plan = evaluation_plan(news, now, evaluated_until=None)
    assert plan.hour_start == plan.day_start == pd.Timestamp("2026-11-28 00:00", tz=local)


def test_windows_completed_since_the_last_evaluation_reach_the_incidents_for_every_zone():
    t = pd.Timestamp("2026-11-28T06:00:00Z")
    frame = pd.DataFrame({"zone": ["jiangkou", "nanxi", "nanxi"],
                          "window_start": [t, t, t - pd.Timedelta(hours=1)],
                          "window_end": [t + pd.Timedelta(hours=1), t + pd.Timedelta(hours=1), t]})
    kept = touched_windows(frame, {"jiangkou": (t + pd.Timedelta(minutes=59)).isoformat()}, completed_after=t)
    # nanxi had no news in this run, but its 06:00–07:00 hour completed since the last evaluation
    assert kept.index.tolist() == [0, 1]


def test_a_late_stack_hour_evaluates_the_air_hours_only():
    """Per-kind news: a stack's backlog of an old hour needs its hour windows, not the day windows of
    water and ambient points whose news is all in the running hour; safety readings need none."""
    from monitoring.alerting import evaluation_plan, touched_kinds

    local = "Asia/Shanghai"
    end = pd.Timestamp("2026-11-28 15:00", tz=local)
    extra = {"zones": {"jiangkou": {
        "first_time": pd.Timestamp("2026-11-28 13:00", tz=local).isoformat(),
        "kinds": {"stack": pd.Timestamp("2026-11-28 13:00", tz=local).isoformat(),
                  "wastewater": pd.Timestamp("2026-11-28 15:02", tz=local).isoformat(),
                  "safety": pd.Timestamp("2026-11-28 10:00", tz=local).isoformat()}}}}
    kinds = touched_kinds([extra])
    plan = evaluation_plan({"jiangkou": extra["zones"]["jiangkou"]["first_time"]}, end + pd.Timedelta(minutes=3),
                           evaluated_until=end, kinds=kinds)
    assert plan.hour_start == pd.Timestamp("2026-11-28 13:00", tz=local)
    assert plan.day_start == end, "no day window to evaluate"
    assert plan.zone == "jiangkou"
