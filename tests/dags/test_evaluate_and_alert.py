"""evaluate_and_alert with dag.test(): an hourly exceedance opens an incident and notifies in Chinese with
local time; flagged calibration data never alerts; N compliant hours clear it; re-evaluating the same
period (backfill) sends nothing again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.incidents import IncidentManager
from sensors.schema import conform
from tests.monitoring.sinks import HttpSink

pytestmark = [pytest.mark.influx, pytest.mark.airflow]

POINT = "JK-002-DA001"               # 江星木业 stack, 15 m; particulate a34013, limit 120 mg/m³ (GB 16297 表2)
START = pd.Timestamp("2026-11-16T08:00:00+08:00")


def minute_readings(levels: list[float], calibrate_hour: int) -> pd.DataFrame:
    """One value a minute per hour level; 10 minutes of the calibration hour flagged C at 500 mg/m³."""
    time = pd.date_range(START, periods=60 * len(levels), freq="min")
    value = np.repeat(levels, 60).astype(float)
    flag = np.full(len(time), "N", dtype=object)
    cal = slice(60 * calibrate_hour, 60 * calibrate_hour + 10)
    value[cal], flag[cal] = 500.0, "C"
    return conform(pd.DataFrame({
        "time": time, "zone": "jiangkou", "enterprise": "JK-002", "point": POINT, "kind": "stack",
        "parameter": "a34013", "statistic": "avg", "period": "1min", "value": value, "unit": "mg/m3",
        "flag": flag, "source": "sim", "batch": "test"}))


@pytest.fixture
def webhook(monkeypatch):
    sink = HttpSink().start()
    monkeypatch.setenv("ENVMON_NOTIFY_URLS", sink.url)
    monkeypatch.setenv("ENVMON_NOTIFY_MIN_INTERVAL_S", "0")
    monkeypatch.setenv("ENVMON_INCIDENT_MIN_MINUTES", "120")
    monkeypatch.setenv("ENVMON_INCIDENT_CLEAR_AFTER", "3")
    yield sink
    sink.stop()


def test_exceedance_fires_and_clears_calibration_never_alerts_backfill_silent(pipeline_env, influx_store,
                                                                            webhook):
    from dags.evaluate_and_alert import DAG

    #       hour: 0   1    2    3    4    5   6   7   — 08:00 … 16:00 local
    levels = [40, 45, 210, 230, 190, 50, 40, 45]
    influx_store.write_readings(minute_readings(levels, calibrate_hour=0))
    conf = {"start": START.isoformat(), "end": (START + pd.Timedelta(hours=len(levels))).isoformat()}

    assert DAG.test(run_conf=conf).state == "success"

    incidents = [i for i in IncidentManager(pipeline_env.sql_url).list() if i.point == POINT]
    assert len(incidents) == 1, "one incident for the three exceeding hours; none for the calibration spike"
    (inc,) = incidents
    assert (inc.parameter, inc.check, inc.limit) == ("a34013", "concentration", 120)
    assert inc.peak_value == pytest.approx(230)
    assert inc.started_at == START.tz_convert("UTC") + pd.Timedelta(hours=2)
    assert not inc.active, "three compliant hours after the episode clear it"

    bodies = [p.json["title"] + "\n" + p.json["message"] for p in webhook.posts]
    assert len(bodies) >= 1
    assert any("颗粒物" in b and "230" in b and "120" in b for b in bodies)
    assert any("10:00" in b for b in bodies), "times in messages are local (UTC+8): the episode began 10:00"
    sent = len(webhook.posts)

    # backfill: the same period again → incidents unchanged, nothing re-sent
    assert DAG.test(run_conf=conf).state == "success"
    again = [i for i in IncidentManager(pipeline_env.sql_url).list() if i.point == POINT]
    assert [i.id for i in again] == [inc.id]
    assert len(webhook.posts) == sent


def test_after_an_ingest_run_only_completed_windows_the_news_touched_are_evaluated(pipeline_env, influx_store,
                                                                                 webhook, monkeypatch):
    """The ingest-run path (asset event → ``touched``): the exceeding hour alerts once it is complete;
    news of the running hour evaluates nothing; the next completed hour is evaluated from its own start,
    not from midnight (issue #8 §2: "evaluates only the windows that the new readings touched")."""
    from monitoring import alerting

    monkeypatch.setenv("ENVMON_INCIDENT_MIN_MINUTES", "60")
    levels = [40, 45, 210]                                     # 08:00, 09:00, 10:00 local; 10:00 exceeds
    influx_store.write_readings(minute_readings(levels, calibrate_hour=0))
    local = "Asia/Shanghai"
    eleven = pd.Timestamp("2026-11-16 11:00", tz=local)
    first = alerting.evaluate_and_alert(touched={"jiangkou": START.isoformat()},
                                        now=eleven + pd.Timedelta(seconds=40))
    assert first.opened >= 1 and first.sent >= 1
    assert any(POINT in p.json["message"] or "颗粒物" in p.json["message"] for p in webhook.posts)
    assert alerting.evaluated_until(pipeline_env) == eleven
    sent = len(webhook.posts)

    # news of the running hour only (11:00:20): no window of it is complete → nothing evaluated
    running = alerting.evaluate_and_alert(touched={"jiangkou": (eleven + pd.Timedelta(seconds=20)).isoformat()},
                                          now=eleven + pd.Timedelta(seconds=70))
    assert running.windows == 0 and running.details.get("evaluated") == "nothing complete"
    assert len(webhook.posts) == sent

    # 12:00: the 11:00 hour completed; the air hour windows are evaluated from 11:00, not from midnight
    influx_store.write_readings(minute_readings(levels + [220], calibrate_hour=0).iloc[-60:])
    noon = alerting.evaluate_and_alert(touched={"jiangkou": (eleven + pd.Timedelta(minutes=59)).isoformat()},
                                       now=eleven + pd.Timedelta(hours=1, seconds=30))
    assert pd.Timestamp(noon.start) == eleven
    assert pd.Timestamp(noon.details["day_windows_from"]) == pd.Timestamp("2026-11-16 00:00", tz=local)
    assert noon.windows > 0 and noon.exceedances >= 1
    assert noon.opened == 0, "the running incident is updated, not opened again"
    assert alerting.evaluated_until(pipeline_env) == eleven + pd.Timedelta(hours=1)
