"""AQI of the clusters' ambient stations on the public home page and the console overview (HJ 633-2012).

The expected figures are computed by hand from HJ 633-2012 表1 (breakpoints) and 表2 (categories):
PM2.5 80 µg/m³ lies between the 24-h breakpoints 75 (IAQI 100) and 115 (IAQI 150):
IAQI = (150 − 100)/(115 − 75)·(80 − 75) + 100 = 106.25 → rounded up 107 → 三级, 轻度污染, 橙色 (#FF7E00);
SO₂ 1-h 10 µg/m³: (50 − 0)/(150 − 0)·10 = 3.3 → 4; O₃ 1-h 80 µg/m³: 50/160·80 = 25. AQI = max = 107,
primary pollutant PM2.5 (§5.3). A day counts in "days by category" only with its 24-h means (≥ 20 hours,
GB 3095-2012 §8): O₃'s 1-h maximum of a six-hour evening does not make it a 优 day.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pandas as pd

from monitoring.console.aqi_view import station_aqi
from tests.monitoring.console.conftest import login


def _station_hours(readings_factory, hour: datetime, hours: int = 2) -> pd.DataFrame:
    start = pd.Timestamp(hour).tz_convert("Asia/Shanghai").isoformat()
    common = {"start": start, "freq": "1min", "zone": "jiangkou", "enterprise": pd.NA, "point": "JK-AQ01",
              "kind": "ambient_air", "statistic": "avg", "period": "1min", "unit": "mg/m3"}
    return pd.concat([readings_factory(60 * hours, parameter="a34004", value=0.080, **common),
                      readings_factory(60 * hours, parameter="a21026", value=0.010, **common),
                      readings_factory(60 * hours, parameter="a05024", value=0.080, **common)], ignore_index=True)


def test_latest_hourly_aqi_category_colour_and_primary_pollutant(console_settings, influx_store, readings_factory):
    now = datetime(2026, 11, 18, 6, 30, tzinfo=UTC)                 # 14:30 local
    influx_store.write_readings(_station_hours(readings_factory, datetime(2026, 11, 17, 23, tzinfo=UTC), hours=8))
    s = dataclasses.replace(console_settings, influx_url=influx_store.url, influx_db=influx_store.database)
    from monitoring.registry import load_registry

    st = station_aqi(s, load_registry(s.registry_path), now)["jiangkou"]
    assert st.point == "JK-AQ01"
    assert st.hour == datetime(2026, 11, 18, 5, tzinfo=UTC)          # the latest complete hour with data
    assert (st.aqi, st.level, st.category, st.colour, st.level_no) == (107, "三级", "轻度污染", "橙色", 3)
    assert st.primary_zh == "PM2.5"
    assert st.valid_days == 0
    # a whole local day (11-17) at the same concentrations: daily AQI 107 (24-h PM2.5) → one 轻度污染 day;
    # the evening of 11-15 (six hours: O₃ has a daily 1-h maximum and an 8-h mean, no 24-h mean exists) is
    # not a valid day
    influx_store.write_readings(_station_hours(readings_factory, datetime(2026, 11, 16, 16, tzinfo=UTC), hours=24))
    influx_store.write_readings(_station_hours(readings_factory, datetime(2026, 11, 15, 10, tzinfo=UTC), hours=6))
    st = station_aqi(s, load_registry(s.registry_path), now)["jiangkou"]
    assert st.valid_days == 1 and st.over_100_days == 1
    assert [(cat, days) for cat, _, days in st.days if days] == [("轻度污染", 1)]


def test_public_home_and_overview_show_the_aqi(console_settings, influx_store, readings_factory, client):
    from starlette.testclient import TestClient

    from monitoring.console import cache, create_app

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    influx_store.write_readings(_station_hours(readings_factory, hour))
    s = dataclasses.replace(console_settings, influx_url=influx_store.url, influx_db=influx_store.database)
    cache.clear()
    with TestClient(create_app(s, escalate_every_s=0), base_url="http://testserver", follow_redirects=False) as c:
        html = c.get("/public/").text
        aqi = html.split('id="aqi"', 1)[1].split("</section>", 1)[0]
        assert '<span class="aqi-badge aqi-3">107</span>' in aqi and "轻度污染" in aqi and "PM2.5" in aqi
        assert "江口集聚区环境空气自动监测站" in aqi and "未经审核" in aqi
        assert aqi.count("暂无数据") == 4                              # the four other stations
        login(c, "lead")
        assert '<span class="aqi-badge aqi-3">107</span>' in c.get("/console/").text
    cache.clear()
    assert "暂无数据" in client.get("/public/").text                  # no InfluxDB configured: no AQI, no error


def _ambient_incident(settings, start: datetime, hours: int = 3) -> int:
    """An ambient PM2.5 incident at JK-AQ01 (GB 3095-2012 二级 24-h 75 µg/m³ as the window limit)."""
    from monitoring.incidents import IncidentManager
    from tests.monitoring.test_incidents import windows

    w = windows("E" * hours, start=start, point="JK-AQ01", parameter="a34004", check="ambient_1h",
                values=[0.1] * hours, limit=0.075)
    w["kind"], w["enterprise"], w["standard"], w["clause"] = "ambient_air", None, "GB 3095-2012", "表1 二级"
    m = IncidentManager(settings.sql_url, min_duration=timedelta(hours=hours), clear_after=3)
    changes = m.apply_assessments(w, now=start + timedelta(hours=hours))
    (opened,) = changes.opened
    assert opened.kind == "ambient"
    return opened.id


def test_ambient_incident_page_ranks_the_stacks_that_rose_in_the_same_hours(console_settings, influx_store,
                                                                            readings_factory):
    """monitoring.compliance.sources on the incident page: the stack whose particulate (a34013, related to
    PM2.5) rose from a baseline of ~10.5 mg/m³ to 40 mg/m³ in the three exceedance hours is listed with its
    numbers; a stack that stayed level is not; the wording says it is a lead, not a verdict."""
    from starlette.testclient import TestClient

    from monitoring.console import cache, create_app

    start = datetime(2026, 11, 20, 2, tzinfo=UTC)
    base = [10.0, 11.0] * 36                                          # 72 baseline hours, mean 10.5
    rising = readings_factory(75, start=(start - timedelta(hours=72)).isoformat(), value=base + [40.0] * 3)
    level = readings_factory(75, start=(start - timedelta(hours=72)).isoformat(), value=base + [10.0, 11.0, 10.0],
                             enterprise="JK-003", point="JK-003-DA001")
    influx_store.write_readings(pd.concat([rising, level], ignore_index=True))
    s = dataclasses.replace(console_settings, influx_url=influx_store.url, influx_db=influx_store.database)
    inc = _ambient_incident(s, start)
    cache.clear()
    with TestClient(create_app(s, escalate_every_s=0), base_url="http://testserver", follow_redirects=False) as c:
        login(c, "insp")
        html = c.get(f"/console/incidents/{inc}").text
    section = html.split('id="sources"', 1)[1].split("</section>", 1)[0]
    assert "不是结论" in section and "现场核查" in section
    rows = section.split("<tbody>", 1)[1].split("</tr>")
    assert "JK-002-DA001" in rows[0] and "江星木业" in rows[0] and "有组织排放口" in rows[0]
    assert "<td>40</td><td>10.5</td><td>×3.81</td>" in rows[0]
    assert "JK-003-DA001" not in section
