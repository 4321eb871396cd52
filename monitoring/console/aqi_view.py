"""AQI of each cluster's ambient-air station for the public site and the console (HJ 633-2012, issue 14).

Per station: the latest hourly AQI (实时报: IAQI of the 1-h means, PM on the 24-h breakpoints — the
project rule of :mod:`monitoring.compliance.aqi`), its level, category in Chinese and colour (表2), the
primary pollutant(s) (AQI > 50, §5.3); and this month's days by category from the daily AQI (日报),
plus the days with AQI > 100. The hourly means come from InfluxDB's own aggregation
(:func:`monitoring.compliance.evaluate.period_aggregates`, ``GROUP BY time(1h)``): a month of 1-minute
readings of five stations is never pulled into the web process.

Computed once per 10 minutes per process (:data:`REFRESH_S`; the readings arrive hourly-complete), so
the public home page does not query InfluxDB per visitor. Without InfluxDB configured the pages say
that no AQI is available. AQI is the published real-time index (实时报), not a compliance verdict; the
page says the data are unreviewed (未经审核).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

import pandas as pd

from monitoring.config import LOCAL_TZ, Settings

log = logging.getLogger("envmon.console.aqi")
REFRESH_S = 600


@dataclass
class StationAqi:
    """One station: the latest hourly AQI and the month's days by category."""

    zone: str
    point: str
    name: str
    hour: datetime | None = None          # start of the hour (UTC)
    aqi: int | None = None
    level: str | None = None
    category: str | None = None
    colour: str | None = None
    level_no: int | None = None           # 1..6 (表2), the CSS class aqi-<n>
    primary_zh: str | None = None
    days: list[tuple[str, int, int]] = field(default_factory=list)    # (category, level_no, days)
    valid_days: int = 0
    over_100_days: int = 0


def _categories() -> list:
    from limits.aqi import load_aqi_tables

    return list(load_aqi_tables().categories)


def station_aqi(settings: Settings, registry, now: datetime | None = None) -> dict[str, StationAqi]:
    """Zone id → :class:`StationAqi` of its ambient-air station (stations without data keep empty fields)."""
    from monitoring.compliance.aggregate import best_period
    from monitoring.compliance.ambient import AMBIENT_KIND, ambient_aqi
    from monitoring.compliance.evaluate import period_aggregates
    from monitoring.compliance.frames import points_table
    from monitoring.ingest import store_from_settings

    now = (now or datetime.now(UTC)).astimezone(UTC)
    stations = {p.zone: StationAqi(p.zone, p.id, p.name) for p in registry.points.values() if p.kind == AMBIENT_KIND}
    store = store_from_settings(settings, required=False)
    if store is None or not stations:
        return stations
    local = now.astimezone(LOCAL_TZ)
    start = pd.Timestamp(datetime.combine(local.date().replace(day=1), time(0), tzinfo=LOCAL_TZ)).tz_convert("UTC")
    end = pd.Timestamp(now).floor("h")             # complete hours only
    if end <= start:
        start = end - pd.Timedelta(hours=24)       # the first hour of a month: the last day instead
    try:
        agg, _ = period_aggregates(store, start, end, kinds=[AMBIENT_KIND])
    finally:
        close = getattr(store, "close", None)
        if close:
            close()
    hourly, daily = ambient_aqi(best_period(agg), points_table(registry), start, end)
    cats = _categories()
    number = {c.category: i + 1 for i, c in enumerate(cats)}
    if not hourly.empty:
        last = hourly[hourly["aqi"].notna()].sort_values("window_start").groupby("point").tail(1)
        for r in last.itertuples():
            st = next((s for s in stations.values() if s.point == r.point), None)
            if st is None:
                continue
            st.hour = pd.Timestamp(r.window_start).to_pydatetime()
            st.aqi, st.level, st.category, st.colour = int(r.aqi), r.level, r.category, r.colour
            st.level_no = number.get(r.category)
            st.primary_zh = None if pd.isna(r.primary_zh) else str(r.primary_zh)
    if not daily.empty:
        ok = daily[daily["aqi"].notna()]  # a partial day has no daily AQI (compliance.ambient.ambient_aqi)
        for st in stations.values():
            d = ok[ok["point"] == st.point]
            counts = d["category"].value_counts()
            st.days = [(c.category, i + 1, int(counts.get(c.category, 0))) for i, c in enumerate(cats)]
            st.valid_days = len(d)
            st.over_100_days = int((d["aqi"] > 100).sum())
    return stations


def cached_station_aqi(settings: Settings, registry) -> dict[str, StationAqi]:
    """:func:`station_aqi`, recomputed at most every :data:`REFRESH_S` seconds; a failing InfluxDB gives
    the stations without AQI (and a log line), never an error page."""
    from monitoring.console.cache import cached

    bucket = int(datetime.now(UTC).timestamp() // REFRESH_S)

    def compute() -> dict[str, StationAqi]:
        try:
            return station_aqi(settings, registry)
        except Exception:
            log.exception("AQI for the pages could not be computed")
            return {p.zone: StationAqi(p.zone, p.id, p.name) for p in registry.points.values()
                    if p.kind == "ambient_air"}

    return cached(("aqi", str(settings.data_dir), settings.influx_url, settings.influx_db, bucket), compute, slow=True)


def categories() -> list[tuple[str, str, str, int]]:
    """(level, category, colour, number) of 表2, for legends."""
    return [(c.level, c.category, c.colour, i + 1) for i, c in enumerate(_categories())]
