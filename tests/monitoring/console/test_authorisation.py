"""Every route × role (and anonymous): who may read, who may act. A new route fails
:func:`test_every_route_is_in_the_table` until it is given its roles here."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import update

from monitoring.attachments import InspectionPhoto
from monitoring.casework import Casework
from monitoring.complaints import public_submissions, submit_public
from monitoring.console.users import ConsoleUser, add_user
from monitoring.db import session_scope
from monitoring.roster import tables
from monitoring.roster.records import run_draw
from tests.monitoring.console.conftest import PASSWORD, login, post

PUBLIC = "public"
OP, INSP, LEAD, ADM = "operator", "inspector", "leader", "admin"
READ = {OP, INSP, LEAD}
OFFICE = {OP, LEAD}
#: (method, path) → roles allowed; PUBLIC = anybody, also anonymous
TABLE: dict[tuple[str, str], set[str] | str] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/public/"): PUBLIC,
    ("GET", "/public/zones/{zone_id}"): PUBLIC,
    ("GET", "/public/enterprises/{code}"): PUBLIC,
    ("GET", "/public/results"): PUBLIC,
    ("GET", "/public/complaints/new"): PUBLIC,
    ("POST", "/public/complaints"): PUBLIC,
    ("GET", "/public/complaints/receipt"): PUBLIC,
    ("GET", "/incidents/{incident_id}"): PUBLIC,          # redirect of old links; the target checks
    ("GET", "/console/"): READ,
    ("GET", "/console/incidents"): READ,
    ("GET", "/console/incidents/rows"): READ,
    ("GET", "/console/incidents/{incident_id}"): READ,
    ("GET", "/console/incidents/{incident_id}/chart.svg"): READ,
    ("GET", "/console/incidents/{incident_id}/evidence/{evidence_id}"): READ,
    ("POST", "/console/incidents/{incident_id}/claim"): {OP},
    ("POST", "/console/incidents/{incident_id}/verify"): {OP},
    ("POST", "/console/incidents/{incident_id}/decide"): {OP},
    ("POST", "/console/incidents/{incident_id}/feedback"): {OP},
    ("POST", "/console/incidents/{incident_id}/evidence"): {OP},
    ("POST", "/console/incidents/{incident_id}/close"): {OP},
    ("GET", "/console/safety"): READ,
    ("GET", "/console/safety/{alarm_id}"): READ,
    ("POST", "/console/safety/{alarm_id}/ack"): {OP},
    ("GET", "/console/points/{point_id}"): READ,
    ("GET", "/console/points/{point_id}/chart.svg"): READ,
    ("GET", "/console/inspections"): READ,
    ("POST", "/console/inspections/draw/confirm"): {OP},
    ("POST", "/console/inspections/draw"): {OP},
    ("POST", "/console/inspections/publish"): {OP},
    ("GET", "/console/inspections/records/{record_id}"): READ,
    ("GET", "/console/inspections/tasks/{task_id}"): READ,
    ("POST", "/console/inspections/tasks/{task_id}/result"): {OP, INSP},
    ("GET", "/console/inspections/tasks/{task_id}/photos/{photo_id}"): READ,
    ("GET", "/console/reports"): OFFICE,
    ("GET", "/console/reports/{month}/{scope:path}/{name}"): OFFICE,
    ("GET", "/console/reports/{month}/{scope:path}/versions"): OFFICE,
    ("GET", "/console/reports/{month}/{scope:path}/versions/{number}/{name}"): OFFICE,
    ("POST", "/console/reports/regenerate"): {OP},
    ("GET", "/public/reports"): PUBLIC,
    ("GET", "/public/reports/{month}/{scope:path}/{name}"): PUBLIC,
    ("GET", "/console/complaints"): OFFICE,
    ("GET", "/console/complaints/{submission_id}"): OFFICE,
    ("POST", "/console/complaints/{submission_id}"): {OP},
    ("GET", "/console/users"): {ADM},
    ("POST", "/console/users"): {ADM},
    ("POST", "/console/users/{name}/disable"): {ADM},
}
FORMS = {
    "/claim": {"note": "x"}, "/verify": {"finding": "confirmed", "note": "x"},
    "/decide": {"reason": "rectify", "due": "2099-01-01"}, "/feedback": {"note": "x"},
    "/evidence": {"note": "x"}, "/close": {"note": "x"},
    "/console/users": {"name": "someone", "role": "leader", "password": "long enough pw"},
    "/console/complaints/{submission_id}": {"status": "handling"},
    "/public/complaints": {"what": "w", "where": "p", "when": "t"},
    "/draw/confirm": {"period": "2026-Q4"},
    "/inspections/draw": {"period": "2027-Q1"},
    "/publish": {"period": "2026-Q4"},
    "/login": {"username": "nobody", "password": "x"},
    "/regenerate": {"month": "1999-13", "scope": "county"},   # refused (409) before any build: fast
}

QUERY = {"/console/points/{point_id}/chart.svg": "?parameter=a21026&check=concentration"}


def app_routes(app) -> set[tuple[str, str]]:
    out = set()
    for r in app.fastapi.routes:
        if isinstance(r, APIRoute):
            out |= {(m, r.path) for m in r.methods if m != "HEAD"}
    return out


def test_every_route_is_in_the_table(app):
    assert app_routes(app) == set(TABLE)


@pytest.fixture
def ids(console_settings, incident_id):
    cw = Casework(console_settings.sql_url, console_settings.evidence_dir)
    ev = cw.add_evidence(incident_id, by="op", note="照片", filename="a.png", data=b"\x89PNG\r\n\x1a\n0000")
    submit_public(console_settings.sql_url, what="w", where="p", when="t", client="198.51.100.2")
    add_user(console_settings.sql_url, "victim", role="leader", password=PASSWORD)
    # a draw, with the inspector account on the first task's team, and a photo on that task
    rec = run_draw(console_settings, "2026-Q4", seed=3, by="测试", now=datetime(2026, 9, 28, 1, tzinfo=UTC))
    with session_scope(console_settings.sql_url) as s:
        task = s.get(tables.TaskRow, min(rec["task_ids"].values()))
        s.execute(update(ConsoleUser).where(ConsoleUser.name == "insp").values(inspector_id=task.inspectors[0]))
        photo = InspectionPhoto(task_id=task.task_id, at=datetime.now(UTC), actor="op", note="", filename="a.png",
                                content_type="image/png", size=12, sha256="0" * 64, stored_as="x/a.png")
        s.add(photo)
        s.flush()
        task_id, photo_id = task.task_id, photo.id
    (console_settings.evidence_dir / "x").mkdir(parents=True, exist_ok=True)
    (console_settings.evidence_dir / "x" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n0000")
    # a safety alarm (issue #14)
    import pandas as pd

    from monitoring.registry import load_registry
    from monitoring.safety.batch import book_from_settings
    book = book_from_settings(load_registry(console_settings.registry_path), console_settings, deliver=False)
    book.apply(pd.DataFrame({"point": ["NX-001-AQ01"], "parameter": ["x01001"], "value": [60.0], "flag": ["N"],
                             "time": [datetime(2026, 11, 20, 2, tzinfo=UTC)]}), detected_by="fast")
    alarm_id = book.alarms()[0].id
    return {"incident_id": incident_id, "evidence_id": ev.id, "alarm_id": alarm_id, "zone_id": "jiangkou", "code": "JK-001",
            "point_id": "JK-002-DA001", "record_id": rec["record_id"], "task_id": task_id, "photo_id": photo_id,
            "submission_id": public_submissions(console_settings.sql_url)[0].id, "name": "victim"}


def concrete(path: str, ids: dict) -> str:
    for k, v in {**ids, "month": "2026-10", "scope:path": "county", "name": "report.pdf"}.items():
        path = path.replace("{" + k + "}", str(v))
    return path


def form_for(path: str) -> dict:
    for suffix, data in FORMS.items():
        if path.endswith(suffix):
            return data
    return {}


@pytest.mark.parametrize("role", [None, OP, INSP, LEAD, ADM])
def test_route_by_role(client, ids, role):
    name = {OP: "op", INSP: "insp", LEAD: "lead", ADM: "adm"}.get(role)
    failures = []
    for (method, template), allowed in sorted(TABLE.items()):
        if template == "/logout":
            continue          # would end the session of the loop; covered in test_auth
        if name and not client.cookies.get("envmon_session"):
            assert login(client, name).status_code == 303
        path = concrete(template, ids) + QUERY.get(template, "")
        if method == "GET":
            r = client.get(path)
        else:
            r = post(client, path, form_for(template))
        to_login = r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        may = allowed == PUBLIC or (role is not None and role in allowed)
        if may:
            ok = r.status_code != 403 and not to_login   # 401 = wrong password on /login, 409 = refused step
        elif role is None:
            ok = to_login
        else:
            ok = r.status_code == 403
        if not ok:
            failures.append((method, template, r.status_code, r.headers.get("location")))
        if template == "/login" and method == "POST" and name:
            client.cookies.clear()   # the failed login above ended nothing, but start clean
    assert failures == []
