"""双随机 in the console: draw with confirmation (reason when replacing), verify, the roster, result entry
with checklist and photos (inspectors: own tasks only), deadlines, publish."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select, update

from monitoring.config import LOCAL_TZ
from monitoring.console.users import ConsoleUser, add_user
from monitoring.db import session_scope
from monitoring.roster import tables
from tests.monitoring.console.conftest import PASSWORD, login, post

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 80
TODAY = datetime.now(UTC).astimezone(LOCAL_TZ).date().isoformat()   # draws below are made today
CHECKS = {f"check_{k}": "yes" for k in ("facilities", "online", "permit", "hazardous_waste", "ledger")}


def _draw(client, period="2026-Q4"):
    r = post(client, "/console/inspections/draw/confirm", {"period": period, "zone": ""})
    assert r.status_code == 200 and "确认抽取" in r.text
    return r


def test_draw_needs_confirmation_and_a_reason_to_replace(client, console_settings):
    login(client, "op")
    page = _draw(client).text
    assert "已有抽取记录" not in page
    assert post(client, "/console/inspections/draw", {"period": "2026-Q4"}).status_code == 409
    r = post(client, "/console/inspections/draw", {"period": "2026-Q4", "confirmed": "yes"})
    assert r.status_code == 303
    record_id = r.headers["location"].rsplit("/", 1)[1]
    assert record_id.startswith("2026-Q4-county")
    page = _draw(client).text
    assert "已有抽取记录" in page and record_id in page and "replace_reason" in page
    r = post(client, "/console/inspections/draw", {"period": "2026-Q4", "confirmed": "yes"})
    assert r.status_code == 409 and "already drawn" in r.text
    r = post(client, "/console/inspections/draw", {"period": "2026-Q4", "confirmed": "yes",
                                                   "replace_reason": "检查人员调动"})
    assert r.status_code == 303 and r.headers["location"] != f"/console/inspections/records/{record_id}"
    new_id = r.headers["location"].rsplit("/", 1)[1]
    page = client.get(f"/console/inspections/records/{new_id}?verify=1").text
    assert "复核一致 MATCH" in page
    assert client.get("/console/inspections/draw/confirm").status_code == 405
    assert post(client, "/console/inspections/draw/confirm", {"period": "2026-Q9"}).status_code == 409


def test_inspector_records_own_result_with_checklist_and_photo_then_publish(client, console_settings):
    login(client, "op")
    r = post(client, "/console/inspections/draw", {"period": "2026-Q4", "confirmed": "yes"})
    with session_scope(console_settings.sql_url) as s:
        tasks = list(s.scalars(select(tables.TaskRow).order_by(tables.TaskRow.task_id)))
        task = s.get(tables.TaskRow, tasks[0].task_id)
        team, task_id = list(task.inspectors), task.task_id
        s.execute(update(ConsoleUser).where(ConsoleUser.name == "insp").values(inspector_id=team[0]))
    add_user(console_settings.sql_url, "insp2", role="inspector", password=PASSWORD, inspector_id="NOBODY")
    post(client, "/logout")

    login(client, "insp2")
    assert "没有检查任务" in client.get("/console/inspections").text
    assert client.get(f"/console/inspections/tasks/{task_id}").status_code == 404
    r = post(client, f"/console/inspections/tasks/{task_id}/result",
             {"outcome": "compliant", "inspected_on": TODAY, **CHECKS})
    assert r.status_code == 404
    post(client, "/logout")

    login(client, "insp")
    listing = client.get("/console/inspections").text
    assert task_id in listing and all(t.task_id in listing or team[0] not in t.inspectors for t in tasks)
    r = post(client, f"/console/inspections/tasks/{task_id}/result",
             {"outcome": "violation", "inspected_on": TODAY, "note": "危废间未设标识", "check_facilities": "yes"})
    assert r.status_code == 409 and "检查要点未填完" in r.text
    r = post(client, f"/console/inspections/tasks/{task_id}/result",
             {"outcome": "violation", "inspected_on": TODAY, "note": "危废间未设标识", **CHECKS},
             files={"photos": ("危废间.png", PNG, "image/png")})
    assert r.status_code == 303, r.text
    page = client.get(f"/console/inspections/tasks/{task_id}").text
    assert "发现环境违法问题" in page and "危废间.png" in page and TODAY in page
    assert "危废间未设标识" in page and "环境管理台账完整：是" in page
    photo = re.search(r'/photos/(\d+)"', page).group(1)
    assert client.get(f"/console/inspections/tasks/{task_id}/photos/{photo}").content == PNG
    r = post(client, f"/console/inspections/tasks/{task_id}/result",
             {"outcome": "compliant", "inspected_on": TODAY, **CHECKS})
    assert r.status_code == 409          # results are written once (the form is gone, the POST refused)
    assert post(client, "/console/inspections/publish", {"period": "2026-Q4"}).status_code == 403
    post(client, "/logout")

    login(client, "op")
    page = client.get("/console/inspections").text
    assert "待公开" in page and task_id in page
    r = post(client, "/console/inspections/publish", {"period": "2026-Q4"})
    assert r.status_code == 303 and "n=1" in r.headers["location"]
    public = client.get("/public/results").text
    assert task_id in public and "发现环境违法问题" in public
    for secret in ("危废间未设标识", "检查要点", "危废间.png", "insp"):
        assert secret not in public
