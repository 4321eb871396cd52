"""The batch path against a real InfluxDB: stored safety readings → alarms once, and nothing on a rerun."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from monitoring.safety.batch import reconcile_stored, safety_readings
from sensors.schema import conform

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def stored(registry, point_id: str, parameter: str, values: list[float]) -> pd.DataFrame:
    p = registry.point(point_id)
    n = len(values)
    return conform(pd.DataFrame({
        "time": [T0 + timedelta(seconds=10 * i) for i in range(n)], "zone": p.zone, "enterprise": p.enterprise,
        "point": p.id, "kind": "safety", "parameter": parameter, "statistic": "rtd", "period": "rtd",
        "value": values, "unit": "%LEL", "flag": "N", "qualifier": pd.NA, "source": "hj212", "batch": "b"}))


def test_stored_history_raises_the_alarm_once(influx_store, registry, settings, monkeypatch, sink):
    monkeypatch.setenv("ENVMON_SAFETY_NOTIFY_URLS", sink.url)
    influx_store.write_readings(stored(registry, "NX-001-AQ02", "x01001", [2, 3, 27, 30, 4]))
    r = safety_readings(influx_store, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert r["value"].tolist() == [2, 3, 27, 30, 4]
    first = reconcile_stored(influx_store, registry, settings, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert (first["readings"], first["messages"], first["sent"]) == (5, 2, 2)      # open + clear
    again = reconcile_stored(influx_store, registry, settings, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert (again["messages"], again["sent"]) == (0, 0) and len(sink.posts) == 2
