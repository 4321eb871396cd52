"""``/console/points/<id>`` — one monitoring point: assessment windows against the limit, flags, capture,
the last packets and the quarantined data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request

from monitoring.console import queries
from monitoring.console.views import Reader, check_zh, console, render, status_zh
from sensors.parameters import load_parameter_table
from sensors.schema import POINT_KINDS_ZH

router = APIRouter(prefix="/console/points")
MAX_DAYS = 31


def _names() -> dict[str, str]:
    """Code → Chinese name, from the parameter table (:mod:`sensors.parameters`)."""
    return load_parameter_table().names_zh()


@router.get("/{point_id}")
def point_page(request: Request, user: Reader, point_id: str, days: int = 7):
    c = console(request)
    point = c.registry.points.get(point_id)
    if point is None:
        return render(request, "error.html", {"title": "监测点不存在", "message": f"没有监测点 {point_id}。"},
                      status_code=404)
    days = max(1, min(MAX_DAYS, days))
    until = datetime.now(UTC)
    from monitoring.console.cache import cached, windows_stamp
    figures = cached(("point", c.sql_url, point_id, days, windows_stamp(c.sql_url)),
                     lambda: queries.point_summary(c.sql_url, point_id, until - timedelta(days=days), until))
    return render(request, "point.html", {
        "point": point, "days": days, **figures, "kinds": POINT_KINDS_ZH,
        "names": _names(), "enterprise": c.registry.enterprises.get(point.enterprise or ""),
        "packets": queries.decoded_packets(c.settings.spool_dir, point.zone, point.mn),
        "quarantine": queries.quarantined(c.settings.quarantine_dir, point.zone, point.id, point.mn),
    })


@router.get("/{point_id}/chart.svg")
def point_chart(request: Request, user: Reader, point_id: str, parameter: str, check: str, days: int = 7):
    from monitoring.console.charts import cached, svg_response, windows_chart
    c = console(request)
    days = max(1, min(MAX_DAYS, days))
    until = datetime.now(UTC)

    def draw() -> str:
        df = queries.point_windows(c.sql_url, point_id, until - timedelta(days=days), until)
        df = df[(df["parameter"] == parameter) & (df["check"] == check)] if not df.empty else df
        unit = str(df["unit"].dropna().iloc[-1]) if not df.empty and df["unit"].notna().any() else ""
        status = str(df["limit_status"].dropna().iloc[-1]) if not df.empty and df["limit_status"].notna().any() \
            else None
        title = f"{point_id} {_names().get(parameter, parameter)} {check_zh(check)}（限值来源：{status_zh(status)}）"
        return windows_chart(df, title=title, unit=unit)

    bucket = int(until.timestamp() // 300)
    return svg_response(cached(("point", c.sql_url, point_id, parameter, check, days, bucket), draw, c.chart_dir))
