"""Likely sources of an ambient exceedance: the cluster's points whose related pollutant rose in the same hours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.compliance.aggregate import best_period, hourly_aggregates
from monitoring.compliance.frames import points_table
from monitoring.compliance.sources import likely_sources
from tests.monitoring.compliance.helpers import make_registry, minutes, online

REG = make_registry(
    online("JK-AQ01", "ambient_air", ["a34004"], enterprise=None),
    online("JK-001-DA001", "stack", ["a34013", "a00000"], height_m=20, above_buildings=True),
    online("JK-001-DA002", "stack", ["a34013", "a00000"], height_m=20, above_buildings=True),
    online("JK-001-UB01", "fugitive", ["a34013"]),
    online("JK-001-DA003", "stack", ["a21026", "a19001"], height_m=20, above_buildings=True))


def hourly_series(point, kind, parameter, values, start="2026-11-01 00:00"):
    return pd.concat([minutes(point, kind, parameter, str(pd.Timestamp(start) + pd.Timedelta(hours=i)), [v],
                              period="1h") for i, v in enumerate(values)])


def test_the_point_that_rose_in_the_exceedance_hours_ranks_first():
    rng = np.random.default_rng(1)
    base = lambda lvl: list(lvl + rng.normal(0, lvl * 0.05, 72))
    r = pd.concat([
        hourly_series("JK-001-DA001", "stack", "a34013", base(20) + [60, 65, 58]),        # rose ×3
        hourly_series("JK-001-DA002", "stack", "a34013", base(30) + [31, 29, 30]),        # flat
        hourly_series("JK-001-UB01", "fugitive", "a34013", base(0.2) + [0.3, 0.32, 0.3]),  # rose ×1.5
        hourly_series("JK-001-DA003", "stack", "a21026", base(50) + [200, 210, 190]),     # unrelated pollutant
    ])
    hourly = best_period(hourly_aggregates(r))
    hours = pd.date_range(pd.Timestamp("2026-11-04 00:00", tz="Asia/Shanghai"), periods=3, freq="h").tz_convert("UTC")
    s = likely_sources(hourly, points_table(REG), station="JK-AQ01", pollutant="a34004", exceed_hours=hours)
    assert s["point"].tolist() == ["JK-001-DA001", "JK-001-UB01"]              # flat and unrelated left out
    assert s["rank"].tolist() == [1, 2] and s["ratio"].iloc[0] > 2.5 and s["z"].iloc[0] > 10
    assert "3 exceedance hour(s)" in s["evidence"].iloc[0] and "72 hours before" in s["evidence"].iloc[0]


@pytest.mark.influx
def test_a_24h_exceedance_is_compared_over_the_stations_high_hours_not_the_whole_day(influx_store):
    """A morning episode (8 h of PM2.5 at 0.22 mg/m³, the rest of the day 0.03) makes the day's 24-h mean
    exceed GB 3095-2012 class 2 (75 µg/m³); the stack that rose in those 8 hours is the suspect. Compared
    over all 24 hours of the day its rise was diluted below the 2-σ bar (the demo showed "none")."""
    import types

    from monitoring.compliance.sources import sources_for_incident

    day = pd.Timestamp("2026-11-04 00:00")                      # local
    rng = np.random.default_rng(3)
    station = [0.22 if 6 <= h < 14 else 0.03 for h in range(24)]
    rising = [40.0 if 6 <= h < 14 else 20.0 for h in range(24)]
    r = pd.concat([
        hourly_series("JK-AQ01", "ambient_air", "a34004", list(0.03 + rng.normal(0, 0.002, 72)) + station,
                      start="2026-11-01 00:00"),
        hourly_series("JK-001-DA001", "stack", "a34013", list(20 + rng.normal(0, 1.0, 72)) + rising,
                      start="2026-11-01 00:00"),
        hourly_series("JK-001-DA002", "stack", "a34013", list(30 + rng.normal(0, 1.0, 96)), start="2026-11-01 00:00"),
    ])
    influx_store.write_readings(r)
    start = day.tz_localize("Asia/Shanghai").tz_convert("UTC")
    incident = types.SimpleNamespace(point="JK-AQ01", parameter="a34004", unit="µg/m3", limit=75.0,
                                     averaging="1d", started_at=start, last_exceed_at=start)
    s = sources_for_incident(influx_store, REG, incident)
    assert s["point"].tolist() == ["JK-001-DA001"]
    assert "8 exceedance hour(s)" in s["evidence"].iloc[0] and s["ratio"].iloc[0] == pytest.approx(2.0, rel=0.1)
