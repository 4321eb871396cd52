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


def test_safety_sensors_report_in_real_time_unless_silenced(registry):
    """The live feed includes the safety sensors' CN 2011 data every 10 s (else the deadman sees every
    one of them silent on a healthy feed); a silenced sensor sends nothing."""
    from sensors.hj212 import parse_packet
    from sensors.live import safety_between

    end = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
    sensors = registry.points_of(kind="safety")
    assert sensors, "the registry has safety sensors (issue #14)"
    quiet = sensors[0]
    packets = safety_between(registry, end - timedelta(minutes=1), end, seed=7, silent={quiet.id})
    mns = [mn for mn, _ in packets]
    assert quiet.mn not in mns
    other = sensors[1]
    assert mns.count(other.mn) == 60 // other.interval_s, "one real-time packet per interval"
    pkt = parse_packet(next(raw for mn, raw in packets if mn == other.mn))
    assert pkt.cn == "2011"
