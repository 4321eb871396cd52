"""``/console/`` — each cluster's enterprises with today's status, open incidents by severity, capture."""

from __future__ import annotations

from fastapi import APIRouter, Request

from monitoring.console import queries
from monitoring.console.views import Reader, console, render
from monitoring.incidents import SEVERITY_NAMES

router = APIRouter(prefix="/console")


@router.get("/")
def overview(request: Request, user: Reader):
    c = console(request)
    day = queries.today_local()
    from monitoring.console.cache import cached, incidents_stamp, windows_stamp
    key = ("overview", c.sql_url, day, windows_stamp(c.sql_url), incidents_stamp(c.sql_url))
    zones, by_severity = cached(key, lambda: queries.overview(c.sql_url, c.registry, day))
    severities = [(level, SEVERITY_NAMES[level][0], by_severity.get(level, 0)) for level in (3, 2, 1)]
    from monitoring.console.aqi_view import cached_station_aqi, categories
    return render(request, "overview.html", {"zones": zones, "day": day, "severities": severities,
                                             "open_total": sum(by_severity.values()),
                                             "aqi": cached_station_aqi(c.settings, c.registry),
                                             "aqi_categories": categories()})
