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
