"""Live simulated devices: a silenced device sends nothing; the healthy profile has no outages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sensors.live import healthy_profiles, readings_between, silenced


def test_silenced_points_send_nothing_and_the_rest_report_at_their_interval(registry, tmp_path):
    end = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)          # 10:00 local, a working Monday
    start = end - timedelta(minutes=10)
    stacks = [p for p in registry.points_of(kind="stack", online=True)][:2]
    path = tmp_path / "silent"
    path.write_text(f"{stacks[0].id}\n{stacks[1].mn}\n", encoding="utf-8")
    quiet = silenced(path)
    frame = readings_between(registry, start, end, seed=7, profiles=healthy_profiles(), silent=quiet)
    assert not frame["point"].isin([stacks[0].id, stacks[1].id]).any()
    minute_point = next(p for p in registry.points_of(online=True) if p.interval_s == 60
                        and p.id not in {s.id for s in stacks})
    times = frame.loc[frame["point"] == minute_point.id, "time"].drop_duplicates()
    assert len(times) == 10, "one value per minute for a 60-s point over 10 minutes"
    assert set(frame["flag"]) <= {"N", "C", "M"}, "healthy: no instrument faults (D)"
    assert silenced(tmp_path / "absent") == set()


def test_healthy_profile_has_no_outages_faults_or_episodes():
    events = healthy_profiles()["events"]
    assert events["outage"]["per_month"] == events["fault"]["per_month"] == events["exceedance"]["per_month"] == 0
