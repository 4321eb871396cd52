"""Incident lifecycle against a real SQLite file: hysteresis, idempotent backfill, deadman, escalation,
acknowledge/close with audit trail, restart, and the ``envmon incidents`` commands."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from monitoring.incidents import IncidentError, IncidentManager, derive_episodes, fmt_local, severity_level
from monitoring.registry import parse_registry
from sensors.schema import ASSESSMENT_COLUMNS, empty_assessments

T0 = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)          # 08:00 in Yunyang
H = timedelta(hours=1)
SO2_LIMIT = 550.0                                      # GB 16297-1996 表2 二级, mg/m3


def windows(verdicts: str, *, start: datetime = T0, point: str = "JK-001-DA001", parameter: str = "a21026",
            check: str = "concentration", values: list[float] | None = None, limit: float = SO2_LIMIT,
            unit: str = "mg/m3", step: timedelta = H) -> pd.DataFrame:
    """An assessments frame: one hourly window per letter, E=exceeds C=compliant I=invalid N=no_data."""
    names = {"E": "exceeds", "C": "compliant", "I": "invalid", "N": "no_data"}
    n = len(verdicts)
    if values is None:
        values = [660.0 if v == "E" else 400.0 if v == "C" else 900.0 for v in verdicts]
    starts = pd.DatetimeIndex([start + i * step for i in range(n)]).astype("datetime64[ns, UTC]")
    df = pd.DataFrame({
        "window_start": starts, "window_end": starts + step, "zone": "jiangkou", "enterprise": "JK-001",
        "point": point, "kind": "stack", "parameter": parameter, "check": check, "averaging": "1h",
        "value": values, "limit": limit, "limit_low": float("nan"), "unit": unit,
        "ratio": [v / limit for v in values], "verdict": [names[v] for v in verdicts],
        "reason": "", "standard": "DB 50/418-2016", "clause": "表1 其他区域 (= GB 16297-1996 表2 二级)",
        "limit_status": "provisional", "limit_source": "standards.md", "valid_count": 60,
        "expected_count": 60,
    })
    return pd.concat([empty_assessments(), df], ignore_index=True).astype(ASSESSMENT_COLUMNS)


@pytest.fixture
def db_url(sql_url: str) -> str:
    """SQLite and PostgreSQL (tests/conftest.py ``sql_url``)."""
    return sql_url


@pytest.fixture
def manager(db_url: str) -> IncidentManager:
    return IncidentManager(db_url, min_duration=3 * H, clear_after=3, escalate_after=4 * H)


def apply_one_by_one(m: IncidentManager, frame: pd.DataFrame, now: datetime = T0 + 48 * H):
    out = []
    for i in range(len(frame)):
        out.append(m.apply_assessments(frame.iloc[[i]], now=now))
    return out


# ---------------------------------------------------------------------------------------------------
# hysteresis
# ---------------------------------------------------------------------------------------------------
def test_alternating_value_opens_only_when_summed_exceedance_reaches_min_duration(manager):
    frame = windows("ECECEC")
    results = apply_one_by_one(manager, frame.iloc[:4])
    # E C E C: 2 h of exceedance < 3 h → nothing yet
    assert [len(r.opened) for r in results] == [0, 0, 0, 0]
    assert manager.list() == []
    # third E: 3 h summed → one incident, confirmed at the end of that window (05:00 UTC)
    results = apply_one_by_one(manager, frame.iloc[4:])
    assert [len(r.opened) for r in results] == [1, 0]
    inc = manager.list()[0]
    assert inc.started_at == T0 and inc.confirmed_at == T0 + 5 * H
    assert inc.exceed_seconds == 3 * 3600 and inc.window_count == 3 and inc.active


def test_a_short_exceedance_followed_by_n_compliant_windows_is_forgotten(manager):
    manager.apply_assessments(windows("EECCC" "EE"), now=T0 + 10 * H)
    # 2 h, then cleared by 3 compliant; 2 more hours start a new sum (2 h < 3 h) → still nothing
    assert manager.list() == []
    manager.apply_assessments(windows("E", start=T0 + 7 * H), now=T0 + 10 * H)
    (inc,) = manager.list()
    assert inc.started_at == T0 + 5 * H and inc.exceed_seconds == 3 * 3600


def test_does_not_clear_before_n_consecutive_compliant_windows(manager):
    manager.apply_assessments(windows("EEE"), now=T0 + 3 * H)
    frame = windows("CCECCC", start=T0 + 3 * H)
    results = apply_one_by_one(manager, frame)
    # C C then E resets the run; C C still open; third C clears at its window end
    assert [len(r.cleared) for r in results] == [0, 0, 0, 0, 0, 1]
    assert [len(r.opened) for r in results] == [0] * 6
    (inc,) = manager.list()
    assert not inc.active and inc.cleared_at == T0 + 9 * H
    assert inc.window_count == 4 and inc.last_exceed_at == T0 + 6 * H
    assert inc.status == "open"        # the condition cleared; a person still closes the record


def test_invalid_and_no_data_windows_neither_open_nor_clear(manager):
    # values far above the limit, but flagged/missing: never an exceedance
    manager.apply_assessments(windows("IIINNNIIN"), now=T0 + 9 * H)
    assert manager.list() == []
    manager.apply_assessments(windows("EEE", start=T0 + 9 * H), now=T0 + 12 * H)
    (inc,) = manager.list()
    # gaps between compliant windows neither clear nor break the compliant run
    changes = manager.apply_assessments(windows("CICNIIC", start=T0 + 12 * H), now=T0 + 19 * H)
    assert len(changes.cleared) == 1
    assert manager.get(inc.id).cleared_at == T0 + 19 * H
    # only gaps after an open incident: stays open
    manager.apply_assessments(windows("EEE", start=T0 + 30 * H), now=T0 + 33 * H)
    manager.apply_assessments(windows("IIINNN", start=T0 + 33 * H), now=T0 + 39 * H)
    assert [i.active for i in manager.list(open_only=True)] == [True, False]


def test_one_incident_per_point_parameter_clause_and_check(manager):
    manager.apply_assessments(windows("EEE"), now=T0 + 3 * H)
    manager.apply_assessments(windows("EEEE", start=T0 + 3 * H), now=T0 + 7 * H)
    rate = windows("EEE", check="rate", values=[3.1, 3.2, 3.3], limit=2.6, unit="kg/h")
    manager.apply_assessments(rate, now=T0 + 7 * H)
    incs = manager.list()
    assert len(incs) == 2
    assert {(i.check, i.window_count) for i in incs} == {("concentration", 7), ("rate", 3)}


# ---------------------------------------------------------------------------------------------------
# idempotence, backfill, out of order
# ---------------------------------------------------------------------------------------------------
def test_reapplying_the_same_windows_changes_nothing(manager, db_url):
    frame = windows("EEEECC")
    first = manager.apply_assessments(frame, now=T0 + 6 * H)
    assert len(first.opened) == 1
    trail = manager.history(first.opened[0].id)
    again = manager.apply_assessments(frame, now=T0 + 30 * H)
    assert len(again) == 0
    again = manager.apply_assessments(frame.iloc[::-1], now=T0 + 31 * H)
    assert len(again) == 0
    assert manager.history(first.opened[0].id) == trail
    assert manager.get(first.opened[0].id).updated_at == T0 + 6 * H


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_out_of_order_windows_give_the_same_incidents_as_in_order(db_url, tmp_path, seed):
    pattern = "CEECECEEECCCCEEEECCCEC"
    frame = windows(pattern)
    ordered = IncidentManager(db_url, min_duration=3 * H, clear_after=3)
    ordered.apply_assessments(frame, now=T0 + 30 * H)
    shuffled = IncidentManager(f"sqlite:///{tmp_path / f's{seed}.sqlite'}", min_duration=3 * H, clear_after=3)
    idx = list(range(len(frame)))
    random.Random(seed).shuffle(idx)
    for chunk in (idx[:7], idx[7:9], idx[9:15], idx[15:]):
        shuffled.apply_assessments(frame.iloc[chunk], now=T0 + 30 * H)

    def summary(m):
        return sorted((i.started_at, i.confirmed_at, i.cleared_at, i.window_count, i.peak_value)
                      for i in m.list())

    assert summary(shuffled) == summary(ordered)
    # C EEC E: 3 h summed at the end of the 04:00 window; C EEE CCC clears at 12:00; EEEE 13–17 h
    # confirmed at 16:00, cleared 20:00; the trailing E C never reaches 3 h
    assert summary(ordered) == [
        (T0 + 1 * H, T0 + 5 * H, T0 + 12 * H, 6, 660.0),
        (T0 + 13 * H, T0 + 16 * H, T0 + 20 * H, 4, 660.0),
    ]


def test_late_window_extends_the_known_incident_without_opening_another(manager):
    manager.apply_assessments(windows("C" "N" "EEE", values=[400, 0, 700, 720, 640]), now=T0 + 5 * H)
    (inc,) = manager.list()
    assert inc.started_at == T0 + 2 * H
    # the 01:00 window arrives late (was no_data): an exceedance of 900 → same incident, earlier start
    late = windows("E", start=T0 + H, values=[1800.0])
    changes = manager.apply_assessments(late, now=T0 + 9 * H)
    assert changes.opened == [] and [c.id for c in changes.updated] == [inc.id]
    got = manager.get(inc.id)
    assert got.started_at == T0 + H and got.peak_value == 1800.0 and got.window_count == 4
    assert got.severity == 3                   # 1800 / 550 = 3.27 ≥ 3 → 严重
    assert "峰值 720 → 1800" in changes.changes[0].summary


def test_re_evaluation_that_removes_the_exceedance_retires_the_incident(manager):
    manager.apply_assessments(windows("EEE"), now=T0 + 3 * H)
    (inc,) = manager.list()
    # an approved local limit (override) of 700 mg/m3: re-evaluated, the same windows comply
    fixed = windows("CCC")
    changes = manager.apply_assessments(fixed, now=T0 + 5 * H)
    assert [c.id for c in changes.cleared] == [inc.id]
    got = manager.get(inc.id)
    assert got.status == "closed" and got.closed_by == "system" and "重新评估" in got.close_reason


# ---------------------------------------------------------------------------------------------------
# severity
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value,limit,unit,hours,expected", [
    (660.0, 550.0, "mg/m3", 3, 1),     # ratio 1.2
    (825.0, 550.0, "mg/m3", 3, 2),     # ratio 1.5 (band edge belongs to the upper band)
    (1650.0, 550.0, "mg/m3", 3, 3),    # ratio 3
    (660.0, 550.0, "mg/m3", 24, 2),    # long exceedance: one level up
    (64.0, 60.0, "dB(A)", 3, 1),       # 4 dB over GB 12348 2 类昼间 60
    (65.0, 60.0, "dB(A)", 3, 2),       # 5 dB
    (71.0, 60.0, "dB(A)", 30, 3),      # 11 dB (and long)
])
def test_severity_bands(value, limit, unit, hours, expected):
    assert severity_level(value=value, limit=limit, ratio=value / limit, unit=unit, limit_low=None,
                          exceed_seconds=hours * 3600, long_duration=timedelta(hours=24)) == expected


def test_ph_severity_uses_distance_outside_the_range():
    # GB 8978-1996 pH 6–9: pH 10.5 is 1.5 outside a width of 3 → ratio 0.5 → 1 + 0.5 = 1.5 → 较重
    assert severity_level(value=10.5, limit=9.0, ratio=0.5, unit="pH", limit_low=6.0, exceed_seconds=3600,
                          long_duration=timedelta(hours=24)) == 2
    assert severity_level(value=9.3, limit=9.0, ratio=0.1, unit="pH", limit_low=6.0, exceed_seconds=3600,
                          long_duration=timedelta(hours=24)) == 1


def test_derive_episodes_is_pure_and_order_free():
    f = windows("EEECCC")
    a = derive_episodes(f, min_duration=2 * H, clear_after=3)
    b = derive_episodes(f.iloc[::-1], min_duration=2 * H, clear_after=3)
    assert a == b and len(a) == 1 and a[0].confirmed_end == T0 + 2 * H and a[0].cleared_end == T0 + 6 * H


# ---------------------------------------------------------------------------------------------------
# deadman
# ---------------------------------------------------------------------------------------------------
def small_registry():
    return parse_registry({
        "zones": [{"id": "jiangkou", "name_zh": "江口", "pinyin": "Jiangkou", "town": "江口镇", "area_mu": 1200,
                   "elevation_m": [200, 260], "industries": ["化工"]}],
        "enterprises": [{"code": "JK-001", "name": "重庆云江化工有限公司", "zone": "jiangkou",
                         "industry": "化工", "category": "key"}],
        "points": [
            {"id": "JK-001-DA001", "kind": "stack", "zone": "jiangkou", "enterprise": "JK-001",
             "name": "1#锅炉排气筒", "mn": "88888880000001", "pw": "123456", "interval_s": 60,
             "parameters": ["a21026", "a34013"], "height_m": 30, "above_buildings": True},
            {"id": "JK-GW01", "kind": "groundwater", "zone": "jiangkou", "name": "1#地下水监测井",
             "online": False, "interval_s": 7 * 86400, "parameters": ["w21003"]},
        ],
    }, source="test")


def test_deadman_opens_after_interval_times_factor_and_clears_when_data_returns(manager):
    reg = small_registry()
    now = T0 + 30 * 86400 * timedelta(seconds=1)
    last = pd.DataFrame({"point": ["JK-001-DA001", "JK-GW01"],
                         "last_valid_time": [now - timedelta(seconds=470), now - timedelta(days=20)]})
    # 470 s < 60 s × 3 + 300 s (pipeline delay); lab well 20 d < 7 d × 3 + 300 s → nothing
    assert len(manager.check_deadman(last, reg, now=now, factor=3)) == 0
    later = now + timedelta(seconds=20)     # stack silent 490 s > 480 s
    ch = manager.check_deadman(last, reg, now=later, factor=3)
    assert [(i.point, i.kind) for i in ch.opened] == [("JK-001-DA001", "data_missing")]
    assert ch.opened[0].started_at == now - timedelta(seconds=470)
    assert len(manager.check_deadman(last, reg, now=later + timedelta(seconds=30), factor=3)) == 0  # no repeat
    # lab well: 22 d > 21 d
    ch = manager.check_deadman(last, reg, now=now + timedelta(days=2), factor=3)
    assert [i.point for i in ch.opened] == ["JK-GW01"]
    # data returns at the stack
    back = last.assign(last_valid_time=[now + timedelta(days=2), now - timedelta(days=20)])
    ch = manager.check_deadman(back, reg, now=now + timedelta(days=2, seconds=5), factor=3)
    assert [i.point for i in ch.cleared] == ["JK-001-DA001"]
    assert {i.point for i in manager.list() if i.active} == {"JK-GW01"}


def test_deadman_point_without_any_valid_data_and_manual_close_does_not_reopen_same_silence(manager):
    reg = small_registry()
    empty = pd.DataFrame({"point": pd.Series(dtype="string"), "last_valid_time": pd.Series(dtype="datetime64[ns, UTC]")})
    ch = manager.check_deadman(empty, reg, now=T0, factor=3, points=["JK-001-DA001"])
    (inc,) = ch.opened
    assert inc.started_at is None
    manager.close(inc.id, by="李工", reason="设备安装中，尚未联网", now=T0 + H)
    assert len(manager.check_deadman(empty, reg, now=T0 + 2 * H, factor=3, points=["JK-001-DA001"])) == 0


# ---------------------------------------------------------------------------------------------------
# escalation, lifecycle, audit, restart
# ---------------------------------------------------------------------------------------------------
def test_escalation_after_the_configured_time_without_acknowledgement(manager):
    created = T0 + 3 * H
    (inc,) = manager.apply_assessments(windows("EEE"), now=created).opened
    assert len(manager.escalate_due(created + 3 * H + timedelta(minutes=59))) == 0
    ch = manager.escalate_due(created + 4 * H)
    assert [(i.id, i.escalation_level) for i in ch.escalated] == [(inc.id, 1)]
    assert len(manager.escalate_due(created + 5 * H)) == 0          # next level only 4 h later
    assert [i.escalation_level for i in manager.escalate_due(created + 8 * H).escalated] == [2]
    manager.acknowledge(inc.id, by="王科长", note="已电话通知企业", now=created + 9 * H)
    assert len(manager.escalate_due(created + 20 * H)) == 0


def test_ack_close_lifecycle_with_audit_trail_survives_restart(manager, db_url):
    (inc,) = manager.apply_assessments(windows("EEE"), now=T0 + 3 * H).opened
    manager.acknowledge(inc.id, by="王科长", note="已电话通知企业排查脱硫塔", now=T0 + 4 * H)
    with pytest.raises(IncidentError, match="already acknowledged by 王科长"):
        manager.acknowledge(inc.id, by="张三", now=T0 + 4 * H)
    manager.apply_assessments(windows("CCC", start=T0 + 3 * H), now=T0 + 6 * H)

    restarted = IncidentManager(db_url, min_duration=3 * H, clear_after=3)
    got = restarted.get(inc.id)
    assert (got.status, got.active, got.acknowledged_by, got.acknowledged_at) == \
        ("acknowledged", False, "王科长", T0 + 4 * H)
    closed = restarted.close(inc.id, by="王科长", reason="企业更换脱硫剂后恢复达标", now=T0 + 7 * H)
    assert closed.status == "closed" and closed.closed_at == T0 + 7 * H
    with pytest.raises(IncidentError, match="already closed"):
        restarted.close(inc.id, by="王科长", reason="again")
    with pytest.raises(IncidentError, match="closed"):
        restarted.acknowledge(inc.id, by="王科长")
    with pytest.raises(IncidentError, match="#999 does not exist"):
        restarted.close(999, by="王科长", reason="x")
    with pytest.raises(IncidentError, match="reason"):
        manager.close(inc.id, by="王科长", reason="  ")
    trail = IncidentManager(db_url).history(inc.id)
    assert [(e.action, e.actor) for e in trail] == [
        ("open", "system"), ("acknowledge", "王科长"), ("clear", "system"), ("close", "王科长")]
    assert trail[1].note == "已电话通知企业排查脱硫塔" and trail[3].note == "企业更换脱硫剂后恢复达标"
    assert trail[0].at == T0 + 3 * H and trail[0].at.tzinfo is not None
    assert restarted.list(open_only=True) == []


def test_closing_an_active_incident_does_not_mute_later_exceedances(manager):
    (inc,) = manager.apply_assessments(windows("EEE"), now=T0 + 3 * H).opened
    manager.close(inc.id, by="王科长", reason="误报：仪器校准", now=T0 + 3 * H)
    # further exceedances: a new episode, a new incident after the min duration
    ch = manager.apply_assessments(windows("EE", start=T0 + 3 * H), now=T0 + 5 * H)
    assert len(ch) == 0
    ch = manager.apply_assessments(windows("E", start=T0 + 5 * H), now=T0 + 6 * H)
    (new,) = ch.opened
    assert new.id != inc.id and new.started_at == T0 + 3 * H
    assert manager.get(inc.id).window_count == 3            # the closed one keeps its own span


def test_bad_input_is_rejected_with_a_clear_message(manager):
    f = windows("EEE")
    with pytest.raises(ValueError, match="verdict must be one of"):
        manager.apply_assessments(f.assign(verdict="bad"), now=T0)
    with pytest.raises(ValueError, match="lack column"):
        manager.apply_assessments(f.drop(columns=["verdict"]), now=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        manager.apply_assessments(f.assign(window_start=f["window_start"].dt.tz_localize(None)), now=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        manager.apply_assessments(f, now=datetime(2025, 6, 1))
    assert len(manager.apply_assessments(empty_assessments(), now=T0)) == 0


def test_local_time_formatting():
    assert fmt_local(T0) == "2025-06-01 08:00+08:00"
    assert fmt_local(datetime(2025, 6, 1, 0, 0)) == "2025-06-01 08:00+08:00"   # naive = UTC (SQLite)


# ---------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------
def test_cli_list_ack_close(db_url, monkeypatch, tmp_path):
    from monitoring.commands.incidents import app

    monkeypatch.setenv("ENVMON_DB_URL", db_url)
    m = IncidentManager(db_url, min_duration=3 * H)
    (inc,) = m.apply_assessments(windows("EEE"), now=T0 + 3 * H).opened
    runner = CliRunner()
    res = runner.invoke(app, ["list", "--open", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert rows[0]["id"] == inc.id and rows[0]["started_at_local"] == "2025-06-01 08:00+08:00"
    res = runner.invoke(app, ["list"])
    assert res.exit_code == 0 and "JK-001-DA001" in res.output and "08:00" in res.output
    res = runner.invoke(app, ["ack", str(inc.id), "--by", "王科长", "--note", "已通知企业"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["close", str(inc.id), "--by", "王科长", "--reason", "已整改"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["close", str(inc.id), "--by", "王科长", "--reason", "again"])
    assert res.exit_code != 0 and "already closed" in res.output
    res = runner.invoke(app, ["ack", "4242", "--by", "王科长"])
    assert res.exit_code != 0 and "#4242 does not exist" in res.output
    res = runner.invoke(app, ["show", str(inc.id), "--json"])
    assert [e["action"] for e in json.loads(res.output)["history"]] == ["open", "acknowledge", "close"]
    assert json.loads(runner.invoke(app, ["list", "--open", "--json"]).output) == []


def test_event_and_single_windows_open_at_once_and_overlapping_windows_count_once(manager):
    # a hazardous-waste store over the one-year storage limit (GB 18597-2023), re-evaluated daily:
    # same start (the oldest stock), growing end — overlapping windows, an "event" averaging
    start = T0
    rows = []
    for day in (366, 367, 368):
        f = windows("E", start=start, point="JK-001-HW01", parameter="HW12", check="storage_days",
                    values=[float(day)], limit=365.0, unit="d", step=timedelta(days=day))
        rows.append(f.assign(averaging="event"))
    first = manager.apply_assessments(rows[0], now=T0 + timedelta(days=366))
    assert len(first.opened) == 1                      # opens at once despite min_duration = 3 h
    manager.apply_assessments(pd.concat(rows[1:]), now=T0 + timedelta(days=368))
    (inc,) = manager.list()
    assert inc.window_count == 3 and inc.peak_value == 368.0
    assert inc.exceed_seconds == 368 * 86400           # the union of the spans, not 366 + 367 + 368 days


def test_contract_with_the_compliance_module(db_url):
    """Readings → monitoring.compliance.evaluate_readings → incidents: the real assessments frame."""
    from limits.catalogue import load_catalogue
    from monitoring.compliance import evaluate_readings
    from tests.monitoring.compliance.helpers import make_registry, minutes, online

    reg = make_registry(online("S1", "stack", ["a21026"], height_m=25, above_buildings=True))
    # SO2 700 mg/m3 for 4 h (limit 550, GB 16297-1996 表2 二级 via DB 50/418-2016), then 400 for 3 h
    readings = minutes("S1", "stack", "a21026", "2024-05-01 10:00", [700.0] * 240 + [400.0] * 180)
    ev = evaluate_readings(readings, reg, load_catalogue(None), start="2024-05-01 10:00", end="2024-05-01 17:00")
    m = IncidentManager(db_url, min_duration=2 * H, clear_after=3)
    changes = m.apply_assessments(ev.assessments, now=datetime(2024, 5, 1, 9, 5, tzinfo=UTC))
    (inc,) = changes.opened
    assert (inc.point, inc.parameter, inc.check, inc.standard) == ("S1", "a21026", "concentration", "DB 50/418-2016")
    assert inc.started_at == datetime(2024, 5, 1, 2, tzinfo=UTC)          # 10:00 local
    assert inc.confirmed_at == datetime(2024, 5, 1, 4, tzinfo=UTC)        # 2 h summed
    assert inc.cleared_at == datetime(2024, 5, 1, 9, tzinfo=UTC)          # third compliant hour
    assert (inc.peak_value, inc.limit, inc.window_count, inc.limit_status) == (700.0, 550.0, 4, "provisional")
    assert len(m.apply_assessments(ev.assessments, now=datetime(2024, 5, 2, tzinfo=UTC))) == 0
