"""``/console/safety`` — safety alarms (issue #14): the list, one alarm with its messages, acknowledgement.

Alarm messages link here (``ENVMON_PUBLIC_URL`` + ``/console/safety/<id>``). Acknowledging stops the
first-level escalation timer; a second-level alarm was escalated when it was raised.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from monitoring.console.views import Handler, Reader, console, render

router = APIRouter(prefix="/console/safety")


def _book(request: Request):
    from monitoring.safety.batch import book_from_settings
    c = console(request)
    return book_from_settings(c.registry, c.settings, deliver=False)


def _names():
    from monitoring.safety.alarms import SENSOR_NAMES_ZH, STATUS_TEXT_ZH
    from sensors.hj212.local_codes import LOCAL_NAMES_ZH
    from sensors.parameters import load_parameter_table
    return {"params": {**load_parameter_table().names_zh(), **LOCAL_NAMES_ZH}, "sensors": SENSOR_NAMES_ZH,
            "status": STATUS_TEXT_ZH}


@router.get("")
def alarms_page(request: Request, user: Reader, show: str = "active"):
    from monitoring.followup import list_tasks

    c = console(request)
    alarms = _book(request).alarms(active_only=(show != "all"))
    return render(request, "safety.html", {"alarms": alarms[:500], "show": show, "registry": c.registry,
                                           "tasks": list_tasks(c.sql_url, open_only=True), **_names()})


@router.get("/{alarm_id}")
def alarm_page(request: Request, user: Reader, alarm_id: int):
    c = console(request)
    book = _book(request)
    alarm = next((a for a in book.alarms() if a.id == alarm_id), None)
    if alarm is None:
        return render(request, "error.html", {"title": "报警不存在", "message": f"没有编号为 {alarm_id} 的安全报警。"},
                      status_code=404)
    point = c.registry.points.get(alarm.point)
    return render(request, "safety_alarm.html", {
        "a": alarm, "point": point, "enterprise": c.registry.enterprises.get(alarm.enterprise or ""),
        "zone": c.registry.zones.get(alarm.zone or ""), "messages": book.messages(alarm_id),
        "thresholds": book.thresholds.table[book.thresholds.table["point"] == alarm.point].to_dict("records"),
        **_names()})


@router.post("/{alarm_id}/ack")
def acknowledge(request: Request, user: Handler, alarm_id: int):
    try:
        _book(request).acknowledge(alarm_id, user.name, datetime.now(UTC))
    except KeyError:
        return render(request, "error.html", {"title": "报警不存在", "message": f"没有编号为 {alarm_id} 的安全报警。"},
                      status_code=404)
    return RedirectResponse(f"/console/safety/{alarm_id}", status_code=303)
